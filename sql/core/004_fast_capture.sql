-- pgcascade capture, cheaper where it matters: a single-row update of a tracked table,
-- the write most applications make most often. Replaces three things from 001:
--   wake()   the wake-up check takes three advisory-lock calls instead of five;
--   track()  installs, for updates, a trigger function generated for the table, whose
--            first statement records the common update (one row that kept its id and
--            its list columns) reading only the key and list columns;
--   capture_update()  becomes capture_update_rows(), which the generated function calls
--            for every other update: the rules and the tags are those of 001.
-- It also fixes 001's insert and delete triggers, which turned each row into jsonb with
-- to_jsonb(n): in a table with a column named n (or o) that is the column, not the row.
-- Tables tracked before this migration are tracked again at its end, so they get the
-- generated triggers. scripts/bench-capture measures the result (README, "Capture cost").

-- the wake-up check ------------------------------------------------------------------
-- Holding the idle-listener lock exclusively while taking the skipped-writers lock keeps
-- a listener from going idle between the two: it either went idle before (the first try
-- fails: NOTIFY) or takes the idle-listener lock after, and then waits for this writer's
-- commit before its last read. A writer that NOTIFYs leaves the skipped-writers lock alone.

create or replace function pgcascade.wake(p_seq bigint, p_tags text[]) returns boolean
language plpgsql as $$
declare
  payload text;
  draining boolean;
  unlocked boolean;
begin
  if pg_try_advisory_lock(7013440002) then
    -- Fails only while a listener is going idle: then the NOTIFY reaches it.
    draining := pg_try_advisory_xact_lock_shared(7013440003);
    unlocked := pg_advisory_unlock(7013440002);
    if draining then
      return false;
    end if;
  end if;

  -- PostgreSQL rejects payloads of 8000 bytes or more; then send only the sequence.
  -- s: the entry's seq, c: when it was written (epoch ms, for the lag metric), t: tags
  payload := json_build_object(
    's', p_seq, 'c', floor(extract(epoch from clock_timestamp()) * 1000), 't', p_tags)::text;
  if octet_length(payload) > 7900 then
    payload := json_build_object('s', p_seq)::text;
  end if;
  perform pg_notify('pgcascade', payload);
  return true;
end;
$$;

-- updates: the general rules ---------------------------------------------------------
-- 001's capture_update() as a plain function of the rows (as jsonb), so that generated
-- trigger functions can hand it what their fast statement does not cover. p_args is the
-- trigger's tg_argv (counting from 0, see 001's capture triggers).

create function pgcascade.capture_update_rows(
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
          moved := moved || array[o, n];
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

-- inserts and deletes ------------------------------------------------------------------
-- n.* is the row even where the table has a column named n.

create or replace function pgcascade.capture_insert() returns trigger
language plpgsql as $$
declare
  rows_json jsonb[];
  entry bigint;
begin
  select array_agg(to_jsonb(n.*)) into rows_json from new_rows n;
  if rows_json is not null then
    entry := pgcascade.capture_rows(
      'INSERT', tg_table_schema || '.' || tg_table_name, tg_argv, rows_json);
  end if;
  return null;
end;
$$;

create or replace function pgcascade.capture_delete() returns trigger
language plpgsql as $$
declare
  rows_json jsonb[];
  entry bigint;
begin
  select array_agg(to_jsonb(o.*)) into rows_json from old_rows o;
  if rows_json is not null then
    entry := pgcascade.capture_rows(
      'DELETE', tg_table_schema || '.' || tg_table_name, tg_argv, rows_json);
  end if;
  return null;
end;
$$;

-- updates: the generated trigger function --------------------------------------------

-- An expression giving column `col` of `tbl` as text exactly as to_jsonb(row) ->> col
-- does, which is how the general rules name ids and list values. Types whose ::text
-- differs (char(n) drops its padding, timestamps lose their T) go through to_jsonb.
create function pgcascade.key_text(tbl regclass, col name) returns text
language sql stable as $$
  select case
    when a.atttypid in ('int2'::regtype, 'int4'::regtype, 'int8'::regtype, 'text'::regtype,
      'varchar'::regtype, 'uuid'::regtype, 'bool'::regtype, 'numeric'::regtype)
    then format('%I::text', col)
    else format('to_jsonb(%I) #>> ''{}''', col)
  end
  from pg_attribute a
  where a.attrelid = tbl and a.attname = col and a.attnum > 0 and not a.attisdropped
$$;

-- The name of the update trigger function that track() generates for a table.
create function pgcascade.update_function_name(tbl regclass) returns text
language sql immutable as $$
  select 'capture_update_' || tbl::oid
$$;

-- Writes the update trigger function of `tbl`. Its first statement records an update of
-- exactly one row whose id and list columns kept their text: the row's entity tag (and
-- every list of the type when filters are unknown). The transition tables are aggregated
-- down to their counts and the key columns, so no row is turned into jsonb. Whatever that
-- statement does not match (no rows, several, a moved row) takes the general rules.
create function pgcascade.generate_update_function(tbl regclass, p_typename text,
  p_id_column name, p_lists name[], p_filters_known boolean) returns void
language plpgsql as $$
declare
  keys text[] := array[pgcascade.key_text(tbl, p_id_column)];
  agg text;
  same text := 'o.k1 = n.k1 collate "C"';
  entity text := format('%L || n.k1', p_typename || ':');
  tags text;
  col name;
begin
  foreach col in array p_lists loop
    keys := keys || pgcascade.key_text(tbl, col);
    same := same || format(' and o.k%1$s is not distinct from n.k%1$s collate "C"',
      cardinality(keys));
  end loop;
  agg := 'count(*) as c' || (
    select string_agg(format(', min(%s) as k%s', k, i), '' order by i)
    from unnest(keys) with ordinality u(k, i));
  tags := case when p_filters_known then format('array[%s]', entity)
    else format('array[%s, %L]', entity, p_typename || '[*]') end;

  execute format($f$
    create or replace function pgcascade.%1$I() returns trigger
    language plpgsql as $body$
    declare
      v_entry bigint;
      v_tags text[];
      v_old jsonb[];
      v_new jsonb[];
    begin
      -- An update has written a row, so this transaction has its id before the seq.
      insert into pgcascade.audit (xid, source, tags, entities, relation, operation, row_count)
      select pg_current_xact_id(), 'trigger', %2$s, array[%3$s],
        tg_table_schema || '.' || tg_table_name, 'UPDATE', 1
      from (select %4$s from old_rows) o, (select %4$s from new_rows) n
      where o.c = 1 and n.c = 1 and %5$s
      returning seq, audit.tags into v_entry, v_tags;
      if found then
        perform pgcascade.wake(v_entry, v_tags);
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
  $f$, pgcascade.update_function_name(tbl), tags, entity, agg, same);
end;
$$;

-- track / untrack --------------------------------------------------------------------

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
  execute format('drop trigger if exists pgcascade_capture_delete on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_truncate on %s', tbl);
  if generated is not null then
    execute format('drop function %s', generated);
  end if;
  delete from pgcascade.tracked where relation = tbl;
end;
$$;

-- The checks of 001's track(), unchanged, so that track() below reads as what it installs.
create function pgcascade.check_tracking(
  tbl regclass, typename text, id_column name, parents jsonb, filters name[]
) returns void
language plpgsql as $$
declare
  col text;
begin
  if typename is null or typename !~ '^[A-Za-z_][A-Za-z0-9_]*$' then
    raise exception 'pgcascade.track: typename % is not a GraphQL type name',
      quote_nullable(typename)
      using errcode = '22023';
  end if;
  if jsonb_typeof(parents) is distinct from 'object' then
    raise exception 'pgcascade.track: parents must be a json object of column: typename'
      using errcode = '22023';
  end if;
  for col in
    select id_column::text
    union all select k from jsonb_object_keys(parents) k
    union all select unnest(coalesce(filters, '{}'))::text
  loop
    if not exists (
      select 1 from pg_attribute
      where attrelid = tbl and attname = col and attnum > 0 and not attisdropped
    ) then
      raise exception 'pgcascade.track: % has no column %', tbl, quote_ident(col)
        using errcode = '42703';
    end if;
  end loop;
  if exists (
    select 1 from jsonb_each(parents) p
    where jsonb_typeof(p.value) <> 'string' or p.value #>> '{}' !~ '^[A-Za-z_][A-Za-z0-9_]*$'
  ) then
    raise exception 'pgcascade.track: every parent must map a column to a GraphQL type name'
      using errcode = '22023';
  end if;
end;
$$;

-- The generated function names columns, so renaming a list column or the id makes updates
-- fail with "column ... does not exist" until track() runs again: loud, where reading a
-- renamed column out of jsonb would silently tag nothing.
create or replace function pgcascade.track(
  tbl regclass,
  typename text,
  id_column name default 'id',
  parents jsonb default '{}',
  filters name[] default null
) returns void
language plpgsql as $$
declare
  lists name[];
  args text;
begin
  perform pgcascade.check_tracking(tbl, typename, id_column, parents, filters);
  lists := pgcascade.list_columns(parents, filters);
  perform pgcascade.untrack(tbl);
  perform pgcascade.generate_update_function(tbl, typename, id_column, lists,
    filters is not null);
  args := format('%L, %L, %L, %L, %L, %L, %L', typename, id_column, parents::text,
    coalesce(filters::text, 'null'), lists::text,
    array(select k from jsonb_object_keys(parents) k order by k)::text,
    array(select parents ->> k from jsonb_object_keys(parents) k order by k)::text);
  execute format('create trigger pgcascade_capture_insert after insert on %s '
    'referencing new table as new_rows for each statement '
    'execute function pgcascade.capture_insert(%s)', tbl, args);
  execute format('create trigger pgcascade_capture_update after update on %s '
    'referencing old table as old_rows new table as new_rows for each statement '
    'execute function pgcascade.%I(%s)', tbl, pgcascade.update_function_name(tbl), args);
  execute format('create trigger pgcascade_capture_delete after delete on %s '
    'referencing old table as old_rows for each statement '
    'execute function pgcascade.capture_delete(%s)', tbl, args);
  execute format('create trigger pgcascade_capture_truncate after truncate on %s '
    'for each statement execute function pgcascade.capture_truncate(%s)', tbl, args);
  insert into pgcascade.tracked (relation, typename, id_column, parents, filters)
  values (tbl, typename, id_column, parents, filters);
end;
$$;

-- tables tracked before this migration ------------------------------------------------

-- A table dropped without untrack() leaves its row behind (regclass keeps no dependency);
-- it has no triggers to replace, so its row goes.
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

drop function pgcascade.capture_update();
