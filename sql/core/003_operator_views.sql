-- pgcascade operator views: what capture writes, how far each instance is behind it, and
-- what reached an instance late. Read-only; each reads a bounded time range through an
-- index (audit_created_at_idx, missed_applied_at_idx, the primary keys), so none of them
-- scans a whole table. pgcascade.cascade_drift (001) answers the fourth question: which
-- mutation functions emit incomplete cascades.

-- audit volume -------------------------------------------------------------------------

create view pgcascade.audit_volume as
select
  date_trunc('minute', created_at) as minute,
  source,
  count(*) as entries,
  round(count(*) / 60.0, 2) as entries_per_second,
  coalesce(sum(row_count), 0) as rows_changed
from pgcascade.audit
where created_at >= now() - interval '1 hour'
group by 1, 2
order by 1 desc, 2;

comment on view pgcascade.audit_volume is
  'How many audit entries did capture write per minute in the last hour, by source (trigger, cascade, manual)?';

-- instance lag -------------------------------------------------------------------------
-- An instance reports its progress at each reconciliation run (heartbeat_at), so its lag
-- is judged against the entries written before that report: a healthy instance shows 0
-- even on a busy primary. Entries written before it started are not its concern (its
-- cache began empty), and its applied_seq stays 0 until it applies its first entry.

create view pgcascade.instance_lag as
select
  i.id,
  i.host,
  i.pid,
  i.started_at,
  i.heartbeat_at,
  now() - i.heartbeat_at as heartbeat_age,
  i.listener_connected,
  i.applied_seq,
  newest.seq as newest_seq,
  greatest(coalesce(due.seq, 0) - seen.seq, 0) as seq_behind,
  case
    when coalesce(due.seq, 0) > seen.seq
      then greatest(i.heartbeat_at - oldest_unapplied.created_at, interval '0')
    else interval '0'
  end as time_behind,
  i.missed_count,
  recent.missed_last_hour,
  recent.largest_delay_ms_last_hour
from pgcascade.instances i
cross join lateral (
  select coalesce(max(seq), 0) as seq from pgcascade.audit
) newest
cross join lateral (
  select greatest(i.applied_seq, coalesce((
    select a.seq from pgcascade.audit a
    where a.created_at <= i.started_at
    order by a.created_at desc limit 1), 0)) as seq
) seen
left join lateral (
  select a.seq from pgcascade.audit a
  where a.created_at <= i.heartbeat_at
  order by a.created_at desc limit 1
) due on true
left join lateral (
  select a.created_at from pgcascade.audit a
  where a.seq > seen.seq
  order by a.seq limit 1
) oldest_unapplied on true
cross join lateral (
  select count(*) as missed_last_hour, max(m.delay_ms) as largest_delay_ms_last_hour
  from pgcascade.missed m
  where m.instance_id = i.id and m.applied_at >= now() - interval '1 hour'
) recent
where i.status = 'live';

comment on view pgcascade.instance_lag is
  'How far behind the newest audit entry is each live instance (by seq and by time, as of its last heartbeat), how old is that heartbeat, and how many entries did it miss?';

-- recent misses ------------------------------------------------------------------------

create view pgcascade.recent_misses as
select
  m.applied_at,
  m.instance_id,
  m.seq,
  m.entry_created_at,
  m.delay_ms,
  m.found_by,
  a.source,
  a.relation,
  a.operation,
  a.tags
from pgcascade.missed m
left join pgcascade.audit a on a.seq = m.seq
where m.applied_at >= now() - interval '24 hours'
order by m.applied_at desc, m.seq desc;

comment on view pgcascade.recent_misses is
  'Which audit entries reached an instance late in the last 24 hours (found by reconciliation or a reconnect, not notified), how late, and what did they change? Newest first; source, relation and tags are null once the entry is pruned.';

-- invalidations by type ----------------------------------------------------------------
-- Named by the hit-rate recommendation of GET /health. Five minutes, the hit-rate window:
-- every tag of every entry is unnested, so a longer range would grow with the write rate.

create view pgcascade.invalidations_by_type as
select
  target,
  count(distinct seq) as entries,
  count(*) filter (where kind = 'entity') as entity_tags,
  count(*) filter (where kind = 'list') as list_tags,
  count(*) filter (where kind = 'query') as query_tags,
  count(*) filter (where kind = 'all') as all_tags,
  max(created_at) as last_at
from (
  select
    a.seq,
    a.created_at,
    case
      when t.tag = '*' or t.tag like 'query:%' then t.tag
      else substring(t.tag from '^[A-Za-z_][A-Za-z0-9_]*')
    end as target,
    case
      when t.tag = '*' or t.tag like '%:*' or t.tag like '%[*]' then 'all'
      when t.tag like 'query:%' then 'query'
      when t.tag like '%[%' then 'list'
      else 'entity'
    end as kind
  from pgcascade.audit a, unnest(a.tags) as t(tag)
  where a.created_at >= now() - interval '5 minutes'
) tags
group by target
order by entries desc, target;

comment on view pgcascade.invalidations_by_type is
  'Which types (and query names) did writes invalidate most in the last five minutes, and how: single entities, lists, cached queries, or everything of the type?';
