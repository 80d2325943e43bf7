-- pgcascade capture: updates that move no row take one scan of the new rows. 004's fast
-- statement aggregated both transition tables and joined them to learn whether the one
-- row it handles kept its id and list columns; every other update, including any that
-- changed several rows, turned each row into jsonb for the general rules. Now a row
-- trigger whose WHEN clause compares the id and list columns of each row, in C, flags
-- the table in the transaction when a row moves, and the statement trigger reads that
-- flag: unflagged, the update's tags are its rows' entity tags, read from new_rows alone.
-- Tables tracked before this migration are tracked again at its end.

-- keys as text -----------------------------------------------------------------------

-- The column `col` of `tbl`, in the row `qualifier`, as text exactly as to_jsonb(row) ->>
-- col gives it, which is how the general rules name ids and list values. Types whose
-- ::text differs (char(n) drops its padding, timestamps lose their T) go through to_jsonb.
create function pgcascade.key_text(tbl regclass, col name, qualifier text) returns text
language sql stable as $$
  select case
    when a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'text'::regtype,
      'varchar'::regtype, 'uuid'::regtype, 'bool'::regtype, 'numeric'::regtype)
    then format('%s.%I::text', qualifier, col)
    else format('to_jsonb(%s.%I) #>> ''{}''', qualifier, col)
  end
  from pg_attribute a
  where a.attrelid = tbl and a.attname = col and a.attnum > 0 and not a.attisdropped
$$;

-- the move flag ----------------------------------------------------------------------
-- A transaction-local setting per table, pgcascade.moved_<oid>. It is never cleared
-- before the transaction ends: a statement nested in another's row trigger may update the
-- same table, and clearing the flag there would hide the outer statement's move. Later
-- updates of the table in that transaction take the general rules, which are always right.

create function pgcascade.flag_move() returns trigger
language plpgsql as $$
declare
  flagged text;
begin
  flagged := set_config('pgcascade.moved_' || tg_relid, 'on', true);
  return null;
end;
$$;

-- updates: the generated trigger function --------------------------------------------

-- Writes the update capture of `tbl`: the statement trigger function named by
-- update_function_name, and the row trigger pgcascade_capture_move that flags rows whose
-- id or list columns changed their text. Row triggers fire before statement triggers, so
-- the flag is set when the statement function reads it.
create or replace function pgcascade.generate_update_function(tbl regclass, p_typename text,
  p_id_column name, p_lists name[], p_filters_known boolean) returns void
language plpgsql as $$
declare
  moved text := format('%s is distinct from %s collate "C"',
    pgcascade.key_text(tbl, p_id_column, 'old'), pgcascade.key_text(tbl, p_id_column, 'new'));
  -- Naming the list columns in the fast scan makes renaming one fail updates (42703)
  -- until track() runs again, where the general rules would read nulls from the jsonb.
  named text := format('%s as k', pgcascade.key_text(tbl, p_id_column, 'r'));
  tags text := 's.entities';
  col name;
begin
  foreach col in array p_lists loop
    moved := moved || format(' or %s is distinct from %s collate "C"',
      pgcascade.key_text(tbl, col, 'old'), pgcascade.key_text(tbl, col, 'new'));
    named := named || format(', r.%I', col);
  end loop;
  if not p_filters_known then
    tags := format('s.entities || %L::text', p_typename || '[*]');
  end if;

  execute format($f$
    create or replace function pgcascade.%1$I() returns trigger
    language plpgsql as $body$
    declare
      v_entry bigint;
      v_tags text[];
      v_old jsonb[];
      v_new jsonb[];
    begin
      if current_setting('pgcascade.moved_' || tg_relid, true) is distinct from 'on' then
        -- No row changed its id or a list column: each row's entity is all that changed.
        -- An update has written a row, so this transaction has its id before the seq.
        insert into pgcascade.audit (xid, source, tags, entities, relation, operation,
          row_count)
        select pg_current_xact_id(), 'trigger', %2$s, s.entities,
          tg_table_schema || '.' || tg_table_name, 'UPDATE', s.c
        from (
          select coalesce(array_agg(distinct %3$L || k) filter (where k is not null), '{}')
              as entities,
            count(*) as c
          from (select %4$s from new_rows r) r
        ) s
        where s.c > 0
        returning seq, audit.tags into v_entry, v_tags;
        if found then
          perform pgcascade.wake(v_entry, v_tags);
        end if;
        return null;
      end if;

      select (select array_agg(to_jsonb(x.*)) from old_rows x),
             (select array_agg(to_jsonb(y.*)) from new_rows y)
        into v_old, v_new;
      if v_old is not null then
        perform pgcascade.capture_update_rows(
          tg_table_schema || '.' || tg_table_name, tg_argv, v_old, v_new);
      end if;
      return null;
    end;
    $body$
  $f$, pgcascade.update_function_name(tbl), tags, p_typename || ':', named);

  execute format('create trigger pgcascade_capture_move after update on %s for each row '
    'when (%s) execute function pgcascade.flag_move()', tbl, moved);
end;
$$;

drop function pgcascade.key_text(regclass, name);

-- untrack ----------------------------------------------------------------------------

-- 004's untrack(), which now also drops the move trigger.
create or replace function pgcascade.untrack(tbl regclass) returns void
language plpgsql
set client_min_messages = warning
as $$
declare
  generated regprocedure;
begin
  -- Found through the trigger, as the table's oid may have changed since (a restore).
  select p.oid::regprocedure into generated
  from pg_trigger t join pg_proc p on p.oid = t.tgfoid
  where t.tgrelid = tbl and t.tgname = 'pgcascade_capture_update'
    and p.pronamespace = 'pgcascade'::regnamespace and p.proname like 'capture\_update\_%';
  execute format('drop trigger if exists pgcascade_capture_insert on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_update on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_move on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_delete on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_truncate on %s', tbl);
  if generated is not null then
    execute format('drop function %s', generated);
  end if;
  delete from pgcascade.tracked where relation = tbl;
end;
$$;

-- tables tracked before this migration ------------------------------------------------

-- As in 004: a table dropped without untrack() leaves its row behind, and it goes.
delete from pgcascade.tracked t
where not exists (select 1 from pg_class c where c.oid = t.relation);

do $$
declare
  t record;
begin
  for t in select * from pgcascade.tracked loop
    perform pgcascade.track(t.relation, t.typename, t.id_column, t.parents, t.filters);
  end loop;
end;
$$;
