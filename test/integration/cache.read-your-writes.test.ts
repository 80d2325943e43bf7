import pg from 'pg';
import { adminUrl } from '../helpers/database';
import { startTestService, type TestService } from '../helpers/service';

describe('read-your-writes', () => {
  let t: TestService;
  let admin: pg.Client;

  beforeAll(async () => {
    t = await startTestService({ users: 5 });
    admin = new pg.Client(adminUrl());
    await admin.connect();
  });

  afterAll(async () => {
    await admin.query(`alter database ${t.db.name} allow_connections true`);
    await admin.end();
    await t.stop();
  });

  it('answers a mutation only after its cascade is applied, even with no listener', async () => {
    const query = '{ user(id: 2) { name } }';
    await t.gql(query);
    expect((await t.gql(query)).cache).toBe('hit');

    // No listener and reconciliation far away: only the mutation path can invalidate.
    await admin.query(`alter database ${t.db.name} allow_connections false`);
    const lost = t.service.bus.next('listener:disconnected');
    await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where datname = $1 and application_name = 'pgcascade-listener'`,
      [t.db.name],
    );
    await lost;

    const mutation = await t.gql('mutation { renameUser(id: 2, name: "Written") { status } }');
    expect(mutation.body.data.renameUser.status).toBe('success');
    const read = await t.gql(query);
    expect(read.cache).toBe('miss');
    expect(read.body.data.user.name).toBe('Written');

    await admin.query(`alter database ${t.db.name} allow_connections true`);
  });

  it("shows a created post in the author's cached list right after createPost", async () => {
    const query = '{ user(id: 3) { posts { title } } }';
    await t.gql(query);
    const created = await t.gql(
      'mutation { createPost(authorId: 3, title: "Mine", body: "b") { status post { id } } }',
    );
    expect(created.body.data.createPost.status).toBe('success');
    const read = await t.gql(query);
    expect(read.body.data.user.posts.map((p: { title: string }) => p.title)).toContain('Mine');
  });

  // A database restart fails the read that confirms a mutation committed just before it.
  describe('when the audit trail cannot be read for a while', () => {
    const delivery = () => t.service.delivery;
    let original: () => Promise<void>;

    beforeEach(() => {
      original = delivery().sync.bind(delivery());
    });

    afterEach(() => {
      delivery().sync = original;
    });

    it('tries again, and answers the mutation once its changes are applied', async () => {
      const query = '{ user(id: 4) { name } }';
      await t.gql(query);
      let calls = 0;
      delivery().sync = () => {
        calls++;
        return calls <= 2 ? Promise.reject(new Error('Connection terminated')) : original();
      };

      const mutation = await t.gql('mutation { renameUser(id: 4, name: "Retried") { status } }');

      expect(mutation.status).toBe(200);
      expect(mutation.body.data.renameUser.status).toBe('success');
      expect(calls).toBe(3);
      const read = await t.gql(query);
      expect(read.cache).toBe('miss');
      expect(read.body.data.user.name).toBe('Retried');
    });

    it('answers 503 with WRITE_UNCONFIRMED when it cannot confirm within 2 s', async () => {
      delivery().sync = () => Promise.reject(new Error('Connection terminated'));
      const started = Date.now();

      const mutation = await t.gql('mutation { renameUser(id: 5, name: "Unsure") { status } }');

      expect(mutation.status).toBe(503);
      expect(mutation.body.data).toBeUndefined();
      expect(mutation.body.errors).toEqual([
        expect.objectContaining({
          message: expect.stringMatching(/could not be confirmed .* It may have committed/),
          extensions: { code: 'WRITE_UNCONFIRMED' },
        }),
      ]);
      expect(Date.now() - started).toBeGreaterThanOrEqual(1900);
      // It did commit: the error says so because it cannot know.
      const { rows } = await t.db.pool.query('select name from demo.users where id = 5');
      expect(rows[0].name).toBe('Unsure');
    });
  });
});
