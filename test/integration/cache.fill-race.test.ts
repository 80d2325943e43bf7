import pg from 'pg';
import { startTestService, type TestService } from '../helpers/service';
import { waitUntil } from '../helpers/wait';

describe('a fill that races an invalidation', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ users: 5 });
  });

  afterAll(() => t.stop());

  async function blockedOnLock(): Promise<boolean> {
    const { rows } = await t.db.pool.query(
      `select count(*)::int as n from pg_stat_activity
       where datname = current_database() and wait_event_type = 'Lock'
         and application_name = 'pgcascade'`,
    );
    return rows[0].n > 0;
  }

  it('is discarded when the data it read was invalidated while it ran', async () => {
    const query = '{ user(id: 4) { name posts { title } } }';
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    const discardedBefore = t.service.metrics.staleFillCount;
    try {
      // The query reads the user, then waits for posts behind this lock.
      await locker.query('begin');
      await locker.query('lock table demo.posts in access exclusive mode');
      const pending = t.gql(query);
      await waitUntil(blockedOnLock, 'the fill waits on demo.posts');

      await t.db.pool.query(`update demo.users set name = 'Renamed During Fill' where id = 4`);
      await t.service.delivery.sync();
      await locker.query('commit');
      const raced = await pending;
      expect(raced.cache).toBe('miss');
    } finally {
      await locker.end();
    }

    expect(t.service.metrics.staleFillCount).toBe(discardedBefore + 1);
    const next = await t.gql(query);
    expect(next.cache).toBe('miss');
    expect(next.body.data.user.name).toBe('Renamed During Fill');
  });

  it('is stored when the invalidation concerned other data', async () => {
    const query = '{ user(id: 2) { name posts { title } } }';
    const locker = new pg.Client(t.db.url);
    await locker.connect();
    try {
      await locker.query('begin');
      await locker.query('lock table demo.posts in access exclusive mode');
      const pending = t.gql(query);
      await waitUntil(blockedOnLock, 'the fill waits on demo.posts');
      await t.db.pool.query(`update demo.users set name = 'Someone Else' where id = 5`);
      await t.service.delivery.sync();
      await locker.query('commit');
      await pending;
    } finally {
      await locker.end();
    }
    expect((await t.gql(query)).cache).toBe('hit');
  });
});
