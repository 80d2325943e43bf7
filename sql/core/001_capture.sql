-- pgcascade capture: the audit trail of every change to a tracked table, recorded in
-- the writing transaction, and the NOTIFY that wakes the listeners.
--
-- Tag vocabulary (the cache indexes results by the same strings):
--   Post:42              the entity Post 42
--   Post:*               every entity of type Post
--   Post[]               unfiltered lists of Post (rows entering or leaving any list)
--   Post[author_id=5]    lists of Post filtered on a column value
--   Post[*]              every list of Post
--   query:posts          cached results of the root field posts; query:posts* by prefix
--   *                    everything

create schema if not exists pgcascade;

-- the audit trail ------------------------------------------------------------------

-- seq must keep the sequence's cache at 1: readers rely on seqs growing in the order
-- they are taken (see src/delivery/audit-cursor.ts).
create table pgcascade.audit (
  seq bigint generated always as identity primary key,
  xid xid8 not null default pg_current_xact_id(),
  source text not null check (source in ('trigger', 'cascade', 'manual')),
  created_at timestamptz not null default clock_timestamp(),
  tags text[] not null,
  -- Type:id of the rows a trigger saw change, or the entities a cascade named
  entities text[] not null default '{}',
  relation text,
  operation text,
  row_count bigint,
  cascade jsonb,
  query text
);

comment on table pgcascade.audit is
  'One row per captured change set: a statement on a tracked table, a cascade, or a manual invalidation.';

-- The listener asks for entries of transactions that were in progress at its last poll.
create index audit_xid_idx on pgcascade.audit (xid);
create index audit_created_at_idx on pgcascade.audit (created_at);

create table pgcascade.tracked (
  relation regclass primary key,
  typename text not null,
  id_column name not null,
  parents jsonb not null,
  filters name[],
  tracked_at timestamptz not null default now()
);

comment on column pgcascade.tracked.filters is
  'Columns that decide list membership besides the parent keys; null means unknown, so any update may move rows between lists.';

-- the wake-up protocol ---------------------------------------------------------------
-- NOTIFY serialises committing transactions on a cluster-wide lock, which halves write
-- throughput when every write pays for it. So a NOTIFY is only a wake-up, sent when some
-- listener is idle. Two advisory locks carry the state without any table writes:
--   7013440002  held shared by every idle listener (it waits for NOTIFY)
--   7013440003  held shared until commit by every writer that skipped the NOTIFY
-- A listener that goes idle takes the first lock, then waits until it can take the second
-- one exclusively, then polls once more: every skipped entry has committed by then.
-- Writers only ever try these locks: a writer that waited for the second one would queue
-- behind a listener going idle, which itself waits for every open skipping transaction.

-- 004_fast_capture.sql replaces wake(): three lock calls instead of five.
create function pgcascade.wake(p_seq bigint, p_tags text[]) returns boolean
language plpgsql as $$
declare
  payload text;
  unlocked boolean;
begin
  -- An exclusive try fails while any idle listener holds the lock shared.
  if pg_try_advisory_lock(7013440002) then
    unlocked := pg_advisory_unlock(7013440002);
    -- Fails only while a listener is going idle (it holds or awaits the lock exclusively):
    -- then it already listens, and the NOTIFY is the cheaper way to reach it.
    if pg_try_advisory_xact_lock_shared(7013440003) then
      -- Look again now that we are visible to a listener going idle: it may have gone
      -- idle between the two checks, and then it needs the NOTIFY.
      if pg_try_advisory_lock(7013440002) then
        unlocked := pg_advisory_unlock(7013440002);
        return false;
      end if;
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

create function pgcascade.record(
  p_source text,
  p_tags text[],
  p_entities text[],
  p_relation text default null,
  p_operation text default null,
  p_row_count bigint default null,
  p_cascade jsonb default null
) returns bigint
language plpgsql as $$
declare
  entry bigint;
  writer xid8;
  woken boolean;
begin
  -- Take the transaction id before the sequence: from then on every reader's snapshot
  -- lists this transaction as running, so no reader can pass this seq unseen.
  writer := pg_current_xact_id();
  insert into pgcascade.audit (xid, source, tags, entities, relation, operation, row_count, cascade, query)
  values (
    writer, p_source, p_tags, p_entities, p_relation, p_operation, p_row_count, p_cascade,
    case when p_source = 'cascade' then left(current_query(), 500) end
  )
  returning seq into entry;
  woken := pgcascade.wake(entry, p_tags);
  return entry;
end;
$$;

-- tags of changed rows -------------------------------------------------------------
-- This runs in every captured statement, so it loops over arrays in plpgsql, which needs
-- no executor, rather than calling SQL-language helpers, each of which starts one per
-- call: with those, a one-row update spent ~0.8 ms in its trigger; now ~0.1 ms.

-- Tags for rows (as jsonb) that entered or left the table or moved between lists: each
-- row, the unfiltered list, the lists its list columns put it in, and its parents.
create function pgcascade.row_tags(
  p_type text,
  p_id text,
  p_lists text[],
  p_parent_columns text[],
  p_parent_types text[],
  p_rows jsonb[]
) returns text[]
language plpgsql immutable as $$
declare
  tags text[] := '{}';
  r jsonb;
  c text;
begin
  if cardinality(p_rows) = 0 then
    return tags;
  end if;
  tags := array[p_type || '[]'];
  foreach r in array p_rows loop
    tags := tags || (p_type || ':' || (r ->> p_id));
    foreach c in array p_lists loop
      tags := tags || (p_type || '[' || c || '=' || coalesce(r ->> c, 'null') || ']');
    end loop;
    for i in 1 .. cardinality(p_parent_columns) loop
      if r ->> p_parent_columns[i] is not null then
        tags := tags || (p_parent_types[i] || ':' || (r ->> p_parent_columns[i]));
      end if;
    end loop;
  end loop;
  return tags;
end;
$$;

-- The columns whose values place a row in lists: the parent keys and the filters.
create function pgcascade.list_columns(p_parents jsonb, p_filters name[]) returns name[]
language sql immutable as $$
  select coalesce(array_agg(distinct c), '{}')
  from (
    select k::name as c from jsonb_object_keys(p_parents) k
    union all
    select f from unnest(coalesce(p_filters, '{}')) f
  ) s
$$;

-- triggers ---------------------------------------------------------------------------
-- Statement-level with transition tables: a statement that changes 10,000 rows writes
-- one audit entry. Arguments: typename, id column, parents (json), filters (array or
-- 'null'), then what track() derives from them: the list columns, the parent columns
-- and the parents' typenames (arrays). With filters unknown, a row may enter or leave
-- lists filtered on any column, so inserts and deletes also tag every list of the type.

-- Records rows that entered (insert) or left (delete) a tracked table. p_args is the
-- trigger's tg_argv, which counts from 0.
create function pgcascade.capture_rows(
  p_operation text, p_relation text, p_args text[], p_rows jsonb[]
) returns bigint
language plpgsql as $$
declare
  typename text := p_args[0];
  id_column text := p_args[1];
  tags text[];
  entities text[] := '{}';
  r jsonb;
begin
  tags := pgcascade.row_tags(typename, id_column, p_args[4]::text[], p_args[5]::text[],
    p_args[6]::text[], p_rows);
  if p_args[3] = 'null' then
    tags := tags || (typename || '[*]');
  end if;
  foreach r in array p_rows loop
    entities := entities || (typename || ':' || (r ->> id_column));
  end loop;
  -- One row with at most one parent cannot repeat a tag; skip the query that dedupes.
  if cardinality(p_rows) > 1 or cardinality(p_args[5]::text[]) > 1 then
    tags := array(select distinct t from unnest(tags) t order by t);
  end if;
  return pgcascade.record('trigger', array_remove(tags, null), array_remove(entities, null),
    p_relation, p_operation, cardinality(p_rows));
end;
$$;

create function pgcascade.capture_insert() returns trigger
language plpgsql as $$
declare
  rows_json jsonb[];
  entry bigint;
begin
  select array_agg(to_jsonb(n)) into rows_json from new_rows n;
  if rows_json is not null then
    entry := pgcascade.capture_rows(
      'INSERT', tg_table_schema || '.' || tg_table_name, tg_argv, rows_json);
  end if;
  return null;
end;
$$;

create function pgcascade.capture_delete() returns trigger
language plpgsql as $$
declare
  rows_json jsonb[];
  entry bigint;
begin
  select array_agg(to_jsonb(o)) into rows_json from old_rows o;
  if rows_json is not null then
    entry := pgcascade.capture_rows(
      'DELETE', tg_table_schema || '.' || tg_table_name, tg_argv, rows_json);
  end if;
  return null;
end;
$$;

-- 004_fast_capture.sql replaces this function with capture_update_rows() and a trigger
-- function generated per table; the rules stay these.
-- An update tags every old and new row. Rows whose list columns changed (or whose id
-- changed, so old and new cannot be paired) also tag the lists they left and entered.
-- With filters unknown (null), any update may move rows, so all lists of the type go.
create function pgcascade.capture_update() returns trigger
language plpgsql as $$
declare
  typename text;
  id_column text;
  lists text[];
  old_json jsonb[];
  new_json jsonb[];
  new_by_id jsonb;
  old_ids jsonb;
  o jsonb;
  n jsonb;
  c text;
  stayed boolean;
  moved jsonb[];
  ids_changed boolean;
  entities text[];
  tags text[];
  entry bigint;
begin
  select (select array_agg(to_jsonb(x)) from old_rows x),
         (select array_agg(to_jsonb(y)) from new_rows y)
    into old_json, new_json;
  if old_json is null then
    return null;
  end if;

  -- The common update: one row that kept its id and its lists tags only itself. plpgsql
  -- sets up each expression it meets once per transaction, so this path meets few.
  if cardinality(old_json) = 1 then
    o := old_json[1];
    n := new_json[1];
    stayed := (o -> tg_argv[1]) = (n -> tg_argv[1]);
    foreach c in array tg_argv[4]::text[] loop
      stayed := stayed and (o -> c) is not distinct from (n -> c);
    end loop;
    if stayed then
      entities := array[tg_argv[0] || ':' || (o ->> tg_argv[1])];
      entry := pgcascade.record('trigger',
        case when tg_argv[3] = 'null' then entities || (tg_argv[0] || '[*]') else entities end,
        entities, tg_table_schema || '.' || tg_table_name, 'UPDATE', 1);
      return null;
    end if;
  end if;

  typename := tg_argv[0];
  id_column := tg_argv[1];
  lists := tg_argv[4]::text[];
  moved := '{}';
  ids_changed := false;
  entities := '{}';

  -- Pair each old row with the new row of the same id; one row needs no lookup table.
  if cardinality(old_json) > 1 then
    select jsonb_object_agg(r ->> id_column, r) into new_by_id
    from unnest(new_json) r where r ->> id_column is not null;
  end if;
  foreach o in array old_json loop
    entities := entities || (typename || ':' || (o ->> id_column));
    n := case when cardinality(old_json) = 1 then new_json[1]
      else new_by_id -> (o ->> id_column) end;
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
    from unnest(old_json) r where r ->> id_column is not null;
    foreach n in array new_json loop
      if not coalesce(old_ids ? (n ->> id_column), false) then
        entities := entities || (typename || ':' || (n ->> id_column));
        moved := moved || n;
      end if;
    end loop;
  end if;

  tags := entities;
  if tg_argv[3] <> 'null' then
    -- Moved rows stay in the unfiltered lists, unless their id changed.
    tags := tags || array_remove(pgcascade.row_tags(typename, id_column, lists,
      tg_argv[5]::text[], tg_argv[6]::text[], moved), typename || '[]');
    if ids_changed then
      tags := tags || (typename || '[]');
    end if;
  else
    tags := tags || (typename || '[*]') || pgcascade.row_tags(typename, id_column, '{}',
      tg_argv[5]::text[], tg_argv[6]::text[], moved);
  end if;

  entry := pgcascade.record('trigger',
    array(select distinct t from unnest(tags) t where t is not null order by t),
    array_remove(entities, null),
    tg_table_schema || '.' || tg_table_name, 'UPDATE', cardinality(new_json));
  return null;
end;
$$;

-- A truncate empties every parent's lists of the type too, as deleting each row would.
create function pgcascade.capture_truncate() returns trigger
language plpgsql as $$
begin
  perform pgcascade.record(
    'trigger',
    array(
      select distinct t from (
        select tg_argv[0] || ':*' as t
        union all select tg_argv[0] || '[*]'
        union all select p.value || ':*' from jsonb_each_text(tg_argv[2]::jsonb) p
      ) s order by t),
    array[tg_argv[0] || ':*'],
    tg_table_schema || '.' || tg_table_name, 'TRUNCATE', null);
  return null;
end;
$$;

-- track / untrack --------------------------------------------------------------------

-- 004_fast_capture.sql replaces untrack() and track(): updates get a generated function.
create function pgcascade.untrack(tbl regclass) returns void
language plpgsql
set client_min_messages = warning
as $$
begin
  execute format('drop trigger if exists pgcascade_capture_insert on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_update on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_delete on %s', tbl);
  execute format('drop trigger if exists pgcascade_capture_truncate on %s', tbl);
  delete from pgcascade.tracked where relation = tbl;
end;
$$;

create function pgcascade.track(
  tbl regclass,
  typename text,
  id_column name default 'id',
  parents jsonb default '{}',
  filters name[] default null
) returns void
language plpgsql as $$
declare
  col text;
  args text;
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

  perform pgcascade.untrack(tbl);
  args := format('%L, %L, %L, %L, %L, %L, %L', typename, id_column, parents::text,
    coalesce(filters::text, 'null'), pgcascade.list_columns(parents, filters)::text,
    array(select k from jsonb_object_keys(parents) k order by k)::text,
    array(select parents ->> k from jsonb_object_keys(parents) k order by k)::text);
  execute format('create trigger pgcascade_capture_insert after insert on %s '
    'referencing new table as new_rows for each statement '
    'execute function pgcascade.capture_insert(%s)', tbl, args);
  execute format('create trigger pgcascade_capture_update after update on %s '
    'referencing old table as old_rows new table as new_rows for each statement '
    'execute function pgcascade.capture_update(%s)', tbl, args);
  execute format('create trigger pgcascade_capture_delete after delete on %s '
    'referencing old table as old_rows for each statement '
    'execute function pgcascade.capture_delete(%s)', tbl, args);
  execute format('create trigger pgcascade_capture_truncate after truncate on %s '
    'for each statement execute function pgcascade.capture_truncate(%s)', tbl, args);
  insert into pgcascade.tracked (relation, typename, id_column, parents, filters)
  values (tbl, typename, id_column, parents, filters);
end;
$$;

-- cascades ---------------------------------------------------------------------------

-- Checks a cascade in the GraphQL Cascade shape and returns its tags; raises 22023 with
-- the path of the first problem. Every named entity is tagged. Coarse list and query
-- invalidations are kept only where capture knows less than the cascade: for a tracked
-- type the triggers recorded exact list tags in the same transaction, and emptying every
-- list of the type on each create would cost the cache its hit rate for nothing.
create function pgcascade.cascade_tags(cascade jsonb, out tags text[], out entities text[])
language plpgsql stable as $$
declare
  key text;
  item jsonb;
  i int;
  typename text;
  op text;
  scope text;
  tracked_types text[] := array(select t.typename from pgcascade.tracked t);
  untracked_named boolean := false;
  queries text[] := '{}';
begin
  tags := '{}';
  entities := '{}';
  if jsonb_typeof(cascade) is distinct from 'object' then
    raise exception 'pgcascade.emit: cascade must be a json object' using errcode = '22023';
  end if;
  for key in select jsonb_object_keys(cascade) loop
    if key not in ('updated', 'deleted', 'invalidations', 'metadata') then
      raise exception 'pgcascade.emit: cascade has unknown key "%" (expected updated, deleted, invalidations, metadata)', key
        using errcode = '22023';
    end if;
    if key <> 'metadata' and jsonb_typeof(cascade -> key) <> 'array' then
      raise exception 'pgcascade.emit: cascade.% must be an array', key using errcode = '22023';
    end if;
  end loop;

  for item, i in select e, n - 1 from jsonb_array_elements(coalesce(cascade -> 'updated', '[]'))
      with ordinality x(e, n) loop
    typename := pgcascade.cascade_entity(item, format('cascade.updated[%s]', i));
    op := coalesce(item ->> 'operation', 'UPDATED');
    if op not in ('CREATED', 'UPDATED', 'DELETED') then
      raise exception 'pgcascade.emit: cascade.updated[%].operation is "%" (expected CREATED, UPDATED or DELETED)', i, op
        using errcode = '22023';
    end if;
    entities := entities || (typename || ':' || (item ->> 'id'));
    if not typename = any (tracked_types) then
      untracked_named := true;
      if op <> 'UPDATED' then
        tags := tags || (typename || '[*]');
      end if;
    end if;
  end loop;

  for item, i in select e, n - 1 from jsonb_array_elements(coalesce(cascade -> 'deleted', '[]'))
      with ordinality x(e, n) loop
    typename := pgcascade.cascade_entity(item, format('cascade.deleted[%s]', i));
    entities := entities || (typename || ':' || (item ->> 'id'));
    if not typename = any (tracked_types) then
      untracked_named := true;
      tags := tags || (typename || '[*]');
    end if;
  end loop;

  for item, i in select e, n - 1
      from jsonb_array_elements(coalesce(cascade -> 'invalidations', '[]')) with ordinality x(e, n) loop
    if jsonb_typeof(item -> 'queryName') is distinct from 'string' then
      raise exception 'pgcascade.emit: cascade.invalidations[%].queryName must be a string', i
        using errcode = '22023';
    end if;
    scope := coalesce(item ->> 'scope', 'EXACT');
    if scope not in ('EXACT', 'PREFIX', 'ALL') then
      raise exception 'pgcascade.emit: cascade.invalidations[%].scope is "%" (expected EXACT, PREFIX or ALL)', i, scope
        using errcode = '22023';
    end if;
    queries := queries || case scope
      when 'EXACT' then 'query:' || (item ->> 'queryName')
      when 'PREFIX' then 'query:' || (item ->> 'queryName') || '*'
      else '*' end;
  end loop;
  -- A cascade that names no entity, or one that capture does not track, is all the
  -- server knows: honour its query invalidations then.
  if untracked_named or cardinality(entities) = 0 then
    tags := tags || queries;
  end if;

  tags := array(select distinct t from unnest(tags || entities) t order by t);
end;
$$;

-- Checks one {__typename, id} item and returns its typename.
create function pgcascade.cascade_entity(item jsonb, path text) returns text
language plpgsql immutable as $$
begin
  if jsonb_typeof(item) is distinct from 'object' then
    raise exception 'pgcascade.emit: % must be an object', path using errcode = '22023';
  end if;
  if jsonb_typeof(item -> '__typename') is distinct from 'string' then
    raise exception 'pgcascade.emit: %.__typename is missing or not a string', path
      using errcode = '22023';
  end if;
  if item ->> '__typename' !~ '^[A-Za-z_][A-Za-z0-9_]*$' then
    raise exception 'pgcascade.emit: %.__typename "%" is not a GraphQL type name', path, item ->> '__typename'
      using errcode = '22023';
  end if;
  if coalesce(jsonb_typeof(item -> 'id'), 'missing') not in ('string', 'number') then
    raise exception 'pgcascade.emit: %.id is missing or not a string or number', path
      using errcode = '22023';
  end if;
  return item ->> '__typename';
end;
$$;

create function pgcascade.emit(cascade jsonb) returns bigint
language plpgsql as $$
declare
  checked record;
begin
  checked := pgcascade.cascade_tags(cascade);
  return pgcascade.record('cascade', checked.tags, checked.entities, p_cascade => cascade);
end;
$$;

-- manual invalidation ----------------------------------------------------------------

create function pgcascade.invalidate(typename text, id text default null) returns bigint
language plpgsql as $$
begin
  if typename is null or typename !~ '^[A-Za-z_][A-Za-z0-9_]*$' then
    raise exception 'pgcascade.invalidate: typename % is not a GraphQL type name',
      quote_nullable(typename)
      using errcode = '22023';
  end if;
  if id is null then
    return pgcascade.record('manual', array[typename || ':*', typename || '[*]'], array[typename || ':*']);
  end if;
  return pgcascade.record('manual', array[typename || ':' || id], array[typename || ':' || id]);
end;
$$;

create function pgcascade.invalidate_all() returns bigint
language sql as $$
  select pgcascade.record('manual', array['*'], array['*'])
$$;

-- pruning ----------------------------------------------------------------------------

-- Deletes the audit entries created more than older_than ago; returns how many went.
-- Not yet: entries that a running instance has not applied yet are deleted as well.
create function pgcascade.prune(older_than interval) returns bigint
language plpgsql as $$
declare
  pruned bigint;
begin
  if older_than is null or older_than < interval '0' then
    raise exception 'pgcascade.prune: older_than must be a non-negative interval, not %',
      coalesce(older_than::text, 'null')
      using errcode = '22023';
  end if;
  delete from pgcascade.audit where created_at < now() - older_than;
  get diagnostics pruned = row_count;
  return pruned;
end;
$$;

-- cascade drift ----------------------------------------------------------------------

create view pgcascade.cascade_drift as
select
  t.xid,
  t.entity as missing_entity,
  t.relation,
  t.operation,
  c.cascade_seq,
  c.query as mutation_query,
  t.created_at
from (
  select xid, relation, operation, created_at, unnest(entities) as entity
  from pgcascade.audit where source = 'trigger'
) t
join (
  select xid, min(seq) as cascade_seq, min(query) as query,
    array_agg(distinct e) as entities
  from pgcascade.audit, unnest(entities) e
  where source = 'cascade'
  group by xid
) c on c.xid = t.xid
where not (t.entity = any (c.entities));

comment on view pgcascade.cascade_drift is
  'Entities that triggers saw change in a transaction whose cascade did not name them: an incomplete mutation function.';
