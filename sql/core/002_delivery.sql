-- pgcascade delivery: the instances that apply the audit trail to their caches, what
-- each one applied late, and retention that never prunes what a live instance lacks.

-- instances --------------------------------------------------------------------------

create table pgcascade.instances (
  id text primary key,
  host text,
  pid int,
  status text not null default 'live' check (status in ('live', 'gone')),
  started_at timestamptz not null default now(),
  heartbeat_at timestamptz not null default now(),
  -- every transaction below this xid is finished and its entries are applied
  applied_xmin xid8,
  applied_seq bigint not null default 0,
  applied_count bigint not null default 0,
  missed_count bigint not null default 0,
  listener_connected boolean not null default false
);

comment on table pgcascade.instances is
  'One row per service instance: liveness, and how far it has applied the audit trail.';

-- missed entries ---------------------------------------------------------------------

create table pgcascade.missed (
  instance_id text not null,
  seq bigint not null,
  entry_created_at timestamptz not null,
  applied_at timestamptz not null default now(),
  delay_ms double precision not null,
  found_by text not null check (found_by in ('reconciliation', 'catch-up')),
  primary key (instance_id, seq)
);

comment on table pgcascade.missed is
  'Audit entries an instance applied late because reconciliation or a reconnect, not a live notification, found them.';

create index missed_applied_at_idx on pgcascade.missed (applied_at);

-- retention --------------------------------------------------------------------------

-- Deletes audit entries older than older_than that every live instance has applied
-- (their transaction is below each live instance's applied_xmin). Returns the count.
create or replace function pgcascade.prune(older_than interval) returns bigint
language sql as $$
  with horizon as (
    select min(applied_xmin) as xmin,
      count(*) filter (where applied_xmin is null) as unknown
    from pgcascade.instances where status = 'live'
  ), pruned as (
    delete from pgcascade.audit a
    using horizon h
    where a.created_at < now() - older_than
      and h.unknown = 0
      and (h.xmin is null or a.xid < h.xmin)
    returning 1
  )
  select count(*) from pruned
$$;
