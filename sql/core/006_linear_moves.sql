-- pgcascade capture: the general rules for updates in time proportional to the rows moved.
-- 004's capture_update_rows() added each moved pair with `moved || array[o, n]`. PL/pgSQL
-- appends one element to an array variable in place, but concatenating two arrays copies
-- the whole array, so the loop grew with the square of the rows moved: an update that
-- flipped `published` on 10,000 posts spent 6.6 s in it. Appending o and then n, it spends
-- 0.16 s (the whole statement: 0.26-0.35 s, untracked 0.08 s). The rules are otherwise
-- 004's, and so is the signature that generated trigger functions call. (001's
-- capture_update() has the same line, but no trigger calls it since 004 moved every table
-- onto generated functions.)

-- p_args is the trigger's tg_argv, counting from 0 (see 001's capture triggers).
create or replace function pgcascade.capture_update_rows(
  p_relation text, p_args text[], p_old jsonb[], p_new jsonb[]
) returns bigint
language plpgsql as $$
declare
  typename text := p_args[0];
  id_column text := p_args[1];
  lists text[] := p_args[4]::text[];
  new_by_id jsonb;
  old_ids jsonb;
  o jsonb;
  n jsonb;
  c text;
  moved jsonb[] := '{}';
  ids_changed boolean := false;
  entities text[] := '{}';
  tags text[];
begin
  -- Pair each old row with the new row of the same id; one row needs no lookup table.
  if cardinality(p_old) > 1 then
    select jsonb_object_agg(r ->> id_column, r) into new_by_id
    from unnest(p_new) r where r ->> id_column is not null;
  end if;
  foreach o in array p_old loop
    entities := entities || (typename || ':' || (o ->> id_column));
    n := case when cardinality(p_old) = 1 then p_new[1] else new_by_id -> (o ->> id_column) end;
    if n is null or (n -> id_column) is distinct from (o -> id_column) then
      ids_changed := true;
      moved := moved || o;
    else
      foreach c in array lists loop
        if (o -> c) is distinct from (n -> c) then
          -- Two appends, each in place; `moved || array[o, n]` would copy `moved`.
          moved := moved || o;
          moved := moved || n;
          exit;
        end if;
      end loop;
    end if;
  end loop;
  if ids_changed then
    select jsonb_object_agg(r ->> id_column, true) into old_ids
    from unnest(p_old) r where r ->> id_column is not null;
    foreach n in array p_new loop
      if not coalesce(old_ids ? (n ->> id_column), false) then
        entities := entities || (typename || ':' || (n ->> id_column));
        moved := moved || n;
      end if;
    end loop;
  end if;

  tags := entities;
  if p_args[3] <> 'null' then
    -- Moved rows stay in the unfiltered lists, unless their id changed.
    tags := tags || array_remove(pgcascade.row_tags(typename, id_column, lists,
      p_args[5]::text[], p_args[6]::text[], moved), typename || '[]');
    if ids_changed then
      tags := tags || (typename || '[]');
    end if;
  else
    -- With filters unknown any update may move rows, so all lists of the type go.
    tags := tags || (typename || '[*]') || pgcascade.row_tags(typename, id_column, '{}',
      p_args[5]::text[], p_args[6]::text[], moved);
  end if;

  return pgcascade.record('trigger',
    array(select distinct t from unnest(tags) t where t is not null order by t),
    array_remove(entities, null), p_relation, 'UPDATE', cardinality(p_new));
end;
$$;
