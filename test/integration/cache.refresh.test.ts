import pg from 'pg';
import type { RefreshOutcome } from '../../src/cache/refresh';
import { startTestService, type TestService } from '../helpers/service';
import { waitUntil } from '../helpers/wait';

describe('refresh-ahead of invalidated hot results', () => {
  let t: TestService;
  const outcomes: RefreshOutcome[] = [];

  beforeAll(async () => {
    t = await startTestService({ users: 10, env: { PGCASCADE_REFRESH_MIN_HITS: '1' } });
    t.service.bus.on('cache:refreshed', (e) => outcomes.push(e.outcome));
  });

  afterAll(() => t.stop());

  beforeEach(() => {
    outcomes.length = 0;
  });

  async function writeOutOfBand(sql: string, values: unknown[] = []) {
    await t.db.pool.query(sql, values);
    await t.service.delivery.sync();
  }

  // Offers are queued on the next turn of the event loop; after it nothing is pending.
  const settled = () => new Promise((resolve) => setImmediate(resolve));

  it('runs a result that served a hit again after a write, so the next read hits', async () => {
    const query = '{ user(id: 1) { name } }';
    expect((await t.gql(query)).cache).toBe('miss');
    expect((await t.gql(query)).cache).toBe('hit');

    const refreshed = t.service.bus.next('cache:refreshed');
    const executions = t.service.metrics.executionCount;
    await writeOutOfBand(`update demo.users set name = 'Refreshed' where id = 1`);
    expect((await refreshed).outcome).toBe('stored');
    expect(t.service.metrics.executionCount).toBe(executions + 1);

    const after = await t.gql(query);
    expect(after.cache).toBe('hit');
    expect(after.body.data.user.name).toBe('Refreshed');
  });

  it('leaves a result that served no hit since its fill to its next read', async () => {
    const query = '{ user(id: 2) { name } }';
    expect((await t.gql(query)).cache).toBe('miss');

    await writeOutOfBand(`update demo.users set name = 'Cold' where id = 2`);
    await settled();
    expect(outcomes).toEqual([]);
    const after = await t.gql(query);
    expect(after.cache).toBe('miss');
    expect(after.body.data.user.name).toBe('Cold');
  });

  it('stops refreshing a result once a refresh of it served no hit', async () => {
    const query = '{ user(id: 3) { name } }';
    await t.gql(query);
    await t.gql(query);
    const first = t.service.bus.next('cache:refreshed');
    await writeOutOfBand(`update demo.users set name = 'Once' where id = 3`);
    expect((await first).outcome).toBe('stored');

    // Nobody read the refreshed result before the next write.
    await writeOutOfBand(`update demo.users set name = 'Twice' where id = 3`);
    await settled();
    expect(outcomes).toEqual(['stored']);
    expect((await t.gql(query)).body.data.user.name).toBe('Twice');
  });

  it('never runs a viewer-scoped result again: it would need the credentials', async () => {
    const viewer = '{ viewer { id name } }';
    const as4 = { authorization: 'Bearer 4' };
    await t.gql(viewer, undefined, as4);
    expect((await t.gql(viewer, undefined, as4)).cache).toBe('hit');

    await writeOutOfBand(`update demo.users set name = 'Private' where id = 4`);
    await settled();
    expect(outcomes).toEqual([]);
    const after = await t.gql(viewer, undefined, as4);
    expect(after.cache).toBe('miss');
    expect(after.body.data.viewer.name).toBe('Private');
  });

  // Guarantee 3 holds for refreshes: the refresh is held on a table lock while a second
  // invalidation of its entity applies, so what it read may predate that invalidation.
  // Both invalidations are manual (pgcascade.invalidate), which the lock does not block.
  it('discards a refresh that ran while another invalidation of its tags applied', async () => {
    const query = '{ user(id: 5) { name } }';
    const before = await t.gql(query);
    await t.gql(query);

    const holder = new pg.Client(t.db.url);
    await holder.connect();
    try {
      await holder.query('begin');
      await holder.query('lock table demo.users in access exclusive mode');
      const outcome = t.service.bus.next('cache:refreshed');
      await t.db.pool.query(`select pgcascade.invalidate('User', '5')`);
      await t.service.delivery.sync();
      await waitUntil(async () => {
        const { rows } = await t.db.pool.query(
          `select count(*)::int as n from pg_locks
           where relation = 'demo.users'::regclass and not granted`,
        );
        return rows[0].n > 0;
      }, 'the refresh waits for the lock on demo.users');

      await t.db.pool.query(`select pgcascade.invalidate('User', '5')`);
      await t.service.delivery.sync();
      await holder.query('commit');
      expect((await outcome).outcome).toBe('stale');
    } finally {
      await holder.end();
    }
    const after = await t.gql(query);
    expect(after.cache).toBe('miss');
    expect(after.body.data.user.name).toBe(before.body.data.user.name);
  });

  it('counts refreshes by outcome in /metrics', async () => {
    const text = await (await fetch(`${t.service.url}/metrics`)).text();
    for (const outcome of ['stored', 'stale', 'skipped', 'dropped', 'failed']) {
      expect(text).toMatch(
        new RegExp(`pgcascade_refreshes_total\\{outcome="${outcome}"[^}]*\\} \\d+`),
      );
    }
    expect(text).toMatch(/pgcascade_refreshes_total\{outcome="stored"[^}]*\} [1-9]/);
    expect(text).toMatch(/pgcascade_refreshes_total\{outcome="stale"[^}]*\} [1-9]/);
  });
});
