import pg from 'pg';
import { startTestService, type TestService } from '../helpers/service';
import { waitUntil } from '../helpers/wait';

describe('coalescing identical misses', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ users: 5 });
  });

  afterAll(() => t.stop());

  it('runs 100 concurrent identical misses once and answers all of them', async () => {
    const query = '{ users(first: 5) { id name } }';
    const metrics = t.service.metrics;
    const executions = metrics.executionCount;
    const misses = metrics.requests.miss;
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    let responses;
    try {
      // Hold the first execution at the database until all 100 requests have arrived.
      await locker.query('begin');
      await locker.query('lock table demo.users in access exclusive mode');
      const pending = Array.from({ length: 100 }, () => t.gql(query));
      await waitUntil(() => metrics.requests.miss - misses === 100, 'all 100 requests arrived');
      await locker.query('commit');
      responses = await Promise.all(pending);
    } finally {
      await locker.end();
    }

    expect(metrics.executionCount - executions).toBe(1);
    expect(metrics.coalescedCount).toBe(99);
    const bodies = new Set(responses.map((r) => JSON.stringify(r.body)));
    expect(bodies.size).toBe(1);
    expect(responses[0].body.data.users).toHaveLength(5);
    expect((await t.gql(query)).cache).toBe('hit');
  });

  it('gives every waiter the error of a failed execution and caches nothing', async () => {
    const query = '{ users(first: 3) { id name } }';
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    const misses = t.service.metrics.requests.miss;
    let responses;
    try {
      await locker.query('begin');
      await locker.query('lock table demo.users in access exclusive mode');
      const pending = Array.from({ length: 10 }, () => t.gql(query));
      await waitUntil(() => t.service.metrics.requests.miss - misses === 10, 'all arrived');
      // Kill the one execution's backend once it waits for the lock.
      const waiting = `from pg_stat_activity where datname = current_database()
        and wait_event_type = 'Lock' and application_name = 'pgcascade'`;
      await waitUntil(
        async () => (await locker.query(`select count(*)::int as n ${waiting}`)).rows[0].n > 0,
        'the execution waits on demo.users',
      );
      const killed = await locker.query(`select pg_terminate_backend(pid) ${waiting}`);
      expect(killed.rows).toHaveLength(1);
      await locker.query('commit');
      responses = await Promise.all(pending);
    } finally {
      await locker.end();
    }
    for (const r of responses) {
      expect(r.body.errors?.[0].extensions.code).toBe('INTERNAL_SERVER_ERROR');
      expect(JSON.stringify(r.body)).not.toContain('terminat');
    }
    const again = await t.gql(query);
    expect(again.cache).toBe('miss');
    expect(again.body.data.users).toHaveLength(3);
  });

  it('keeps a request that arrives after an invalidation out of a fill begun before it', async () => {
    const query = '{ user(id: 5) { name posts { title } } }';
    const metrics = t.service.metrics;
    const executions = metrics.executionCount;
    const misses = metrics.requests.miss;
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    let early;
    let late;
    try {
      await locker.query('begin');
      await locker.query('lock table demo.posts in access exclusive mode');
      const first = t.gql(query);
      await waitUntil(() => metrics.requests.miss - misses === 1, 'the first request arrived');

      await t.db.pool.query(`update demo.users set name = 'After The Fill Began' where id = 5`);
      await t.service.delivery.sync();
      const second = t.gql(query);
      await waitUntil(() => metrics.requests.miss - misses === 2, 'the second request arrived');
      await locker.query('commit');
      [early, late] = await Promise.all([first, second]);
    } finally {
      await locker.end();
    }
    expect(metrics.executionCount - executions).toBe(2);
    expect(late.body.data.user.name).toBe('After The Fill Began');
    expect(early.body.data.user).toBeDefined();
  });
});
