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
});
