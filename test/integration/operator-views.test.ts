import { startTestService, type TestService } from '../helpers/service';

describe('the operator views', () => {
  let t: TestService;
  let firstSeq: number;
  let lastSeq: number;
  let typesBefore: Record<string, TypeRow>;

  const query = async (text: string, values: unknown[] = []) =>
    (await t.db.pool.query(text, values)).rows;

  beforeAll(async () => {
    t = await startTestService({ env: { PGCASCADE_INSTANCE_ID: 'views-live' } });
    [{ seq: firstSeq }] = await query(
      'select coalesce(max(seq), 0)::int + 1 as seq from pgcascade.audit',
    );
    typesBefore = await invalidationsByType();

    const renamed = await t.gql('mutation { renameUser(id: 1, name: "Viewed") { status } }');
    expect(renamed.body.data.renameUser.status).toBe('success');
    await query(`update demo.posts set published = not published where author_id = 2`);
    await query(`select pgcascade.invalidate('Comment', '7')`);
    await query(`select pgcascade.invalidate('Post')`);
    await t.service.delivery.sync();
    [{ seq: lastSeq }] = await query('select max(seq)::int as seq from pgcascade.audit');
    // The instance reports its progress (heartbeat, applied_seq) at each reconciliation.
    await t.service.delivery.reconciler.runOnce();
  });

  afterAll(() => t.stop());

  async function invalidationsByType(): Promise<Record<string, TypeRow>> {
    const rows = await query(
      `select target, entries::int, entity_tags::int, list_tags::int, all_tags::int
       from pgcascade.invalidations_by_type`,
    );
    return Object.fromEntries(rows.map((r) => [r.target, r]));
  }

  it('audit_volume counts entries per minute by source over the last hour', async () => {
    const rows = await query(
      `select source, sum(entries)::int as entries, sum(rows_changed)::int as rows_changed
       from pgcascade.audit_volume group by source order by source`,
    );
    const direct = await query(
      `select source, count(*)::int as entries, coalesce(sum(row_count), 0)::int as rows_changed
       from pgcascade.audit group by source order by source`,
    );
    expect(rows).toEqual(direct);
    expect(rows.map((r) => r.source)).toEqual(['cascade', 'manual', 'trigger']);
    expect(rows.find((r) => r.source === 'manual').entries).toBe(2);

    const [newest] = await query('select minute, entries_per_second from pgcascade.audit_volume');
    expect(newest.minute.getUTCSeconds()).toBe(0);
    expect(Number(newest.entries_per_second)).toBeGreaterThan(0);
  });

  it('instance_lag shows a caught-up live instance at zero and a lagging one behind', async () => {
    await query(
      `insert into pgcascade.instances
         (id, status, started_at, heartbeat_at, applied_seq, missed_count)
       values
         ('views-lagging', 'live', now() - interval '1 hour', clock_timestamp(), $1, 3),
         ('views-gone', 'gone', now() - interval '1 hour', now() - interval '1 hour', 0, 0)`,
      [firstSeq - 1],
    );
    await query(
      `insert into pgcascade.missed
         (instance_id, seq, entry_created_at, applied_at, delay_ms, found_by)
       select 'views-lagging', seq, now() - ago, now() - ago, delay_ms, found_by
       from (values (1, interval '10 minutes', 250, 'reconciliation'),
                    (2, interval '2 hours', 900, 'catch-up')) m(seq, ago, delay_ms, found_by)`,
    );

    const rows = await query(
      `select id, listener_connected, applied_seq::int, newest_seq::int, seq_behind::int,
         extract(epoch from time_behind) * 1000 as time_behind_ms,
         extract(epoch from heartbeat_age) as heartbeat_age_s,
         missed_count::int, missed_last_hour::int, largest_delay_ms_last_hour
       from pgcascade.instance_lag where id like 'views-%' order by id`,
    );
    const [{ oldest_ms }] = await query(
      `select extract(epoch from i.heartbeat_at - a.created_at) * 1000 as oldest_ms
       from pgcascade.instances i, pgcascade.audit a where i.id = 'views-lagging' and a.seq = $1`,
      [firstSeq],
    );
    expect(rows).toEqual([
      {
        id: 'views-lagging',
        listener_connected: false,
        applied_seq: firstSeq - 1,
        newest_seq: lastSeq,
        seq_behind: lastSeq - firstSeq + 1,
        time_behind_ms: oldest_ms,
        heartbeat_age_s: expect.any(String),
        missed_count: 3,
        missed_last_hour: 1,
        largest_delay_ms_last_hour: 250,
      },
      {
        id: 'views-live',
        listener_connected: true,
        applied_seq: lastSeq,
        newest_seq: lastSeq,
        seq_behind: 0,
        time_behind_ms: expect.any(String),
        heartbeat_age_s: expect.any(String),
        missed_count: 0,
        missed_last_hour: 0,
        largest_delay_ms_last_hour: null,
      },
    ]);
    expect(Number(oldest_ms)).toBeGreaterThan(0);
    expect(Number(rows[1].time_behind_ms)).toBe(0);
    for (const row of rows) expect(Number(row.heartbeat_age_s)).toBeLessThan(60);
  });

  it('recent_misses lists the last day of misses with their entries, newest first', async () => {
    await query(
      `insert into pgcascade.missed
         (instance_id, seq, entry_created_at, applied_at, delay_ms, found_by)
       values ('views-other', $1, now(), now() - interval '1 hour', 1200, 'reconciliation'),
              ('views-other', $2, now(), now() - interval '1 minute', 40, 'catch-up'),
              ('views-other', 999999, now(), now() - interval '2 hours', 80, 'reconciliation'),
              ('views-other', $3, now(), now() - interval '25 hours', 5, 'reconciliation')`,
      [firstSeq, lastSeq, firstSeq + 1],
    );

    const rows = await query(
      `select seq::int, delay_ms, found_by, source, tags
       from pgcascade.recent_misses where instance_id = 'views-other'`,
    );
    const entries = await query(
      'select seq::int, source, tags from pgcascade.audit where seq = any($1) order by seq',
      [[firstSeq, lastSeq]],
    );
    expect(rows).toEqual([
      { seq: lastSeq, delay_ms: 40, found_by: 'catch-up', ...pick(entries[1]) },
      { seq: firstSeq, delay_ms: 1200, found_by: 'reconciliation', ...pick(entries[0]) },
      // pruned from the audit trail: the miss stays, its entry's details are gone
      { seq: 999999, delay_ms: 80, found_by: 'reconciliation', source: null, tags: null },
    ]);
    expect(entries[1]).toMatchObject({ source: 'manual', tags: ['Post:*', 'Post[*]'] });
  });

  it('invalidations_by_type says which types were invalidated and how', async () => {
    // The seed's entries are in the five-minute window too: compare with before the writes.
    const after = await invalidationsByType();
    const grown = (target: string, column: keyof TypeRow) =>
      Number(after[target]?.[column] ?? 0) - Number(typesBefore[target]?.[column] ?? 0);

    const columns = ['entries', 'entity_tags', 'list_tags', 'all_tags'] as const;
    expect(columns.map((c) => grown('Comment', c))).toEqual([1, 1, 0, 0]);
    expect(grown('Post', 'all_tags')).toBe(2);
    expect(grown('Post', 'list_tags')).toBeGreaterThanOrEqual(1);
    expect(grown('User', 'entity_tags')).toBeGreaterThanOrEqual(1);
    const counts = Object.values(after).map((r) => r.entries);
    expect(counts).toEqual([...counts].sort((a, b) => b - a));
  });

  it('cascade_drift names the entities a cascade left out', async () => {
    const client = await t.db.pool.connect();
    try {
      await client.query('begin');
      await client.query(`update demo.users set name = 'Drifted' where id = 5`);
      await client.query(
        `select pgcascade.emit('{"updated": [{"__typename": "User", "id": "6"}]}')`,
      );
      await client.query('commit');
    } finally {
      client.release();
    }

    const rows = await query(
      `select missing_entity, relation, operation from pgcascade.cascade_drift
       where missing_entity = 'User:5'`,
    );
    expect(rows).toEqual([
      { missing_entity: 'User:5', relation: 'demo.users', operation: 'UPDATE' },
    ]);
  });

  it('explains each view with the question it answers', async () => {
    const rows = await query(
      `select c.relname, obj_description(c.oid, 'pg_class') as comment
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'pgcascade' and c.relkind = 'v' order by c.relname`,
    );
    expect(rows.map((r) => r.relname)).toEqual([
      'audit_volume',
      'cascade_drift',
      'instance_lag',
      'invalidations_by_type',
      'recent_misses',
    ]);
    for (const row of rows) expect(row.comment).toMatch(/\S/);
    for (const row of rows.filter((r) => r.relname !== 'cascade_drift')) {
      expect(row.comment).toMatch(/\?/);
    }
  });
});

interface TypeRow {
  target: string;
  entries: number;
  entity_tags: number;
  list_tags: number;
  all_tags: number;
}

function pick(entry: { source: string; tags: string[] }) {
  return { source: entry.source, tags: entry.tags };
}
