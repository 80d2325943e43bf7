import { startTestService, type TestService } from '../helpers/service';

describe('cached results stay fresh when data changes outside the service', () => {
  let t: TestService;

  beforeAll(async () => {
    t = await startTestService({ users: 10 });
  });

  afterAll(() => t.stop());

  // An out-of-band write reaches the cache through the listener; sync() waits for it
  // deterministically instead of sleeping.
  async function writeOutOfBand(sql: string, values: unknown[] = []) {
    await t.db.pool.query(sql, values);
    await t.service.delivery.sync();
  }

  it('serves a hit, then the new value after an UPDATE of demo.users', async () => {
    const query = '{ user(id: 1) { name } }';
    expect((await t.gql(query)).cache).toBe('miss');
    expect((await t.gql(query)).cache).toBe('hit');

    await writeOutOfBand(`update demo.users set name = 'Renamed Elsewhere' where id = 1`);
    const after = await t.gql(query);
    expect(after.cache).toBe('miss');
    expect(after.body.data.user.name).toBe('Renamed Elsewhere');
  });

  it('shows a new post in a cached posts(authorId:) list', async () => {
    const query = '{ posts(authorId: 2) { id title } }';
    const before = await t.gql(query);
    expect((await t.gql(query)).cache).toBe('hit');

    await writeOutOfBand(
      `insert into demo.posts (author_id, title, body) values (2, 'Fresh post', 'x')`,
    );
    const after = await t.gql(query);
    expect(after.body.data.posts).toHaveLength(before.body.data.posts.length + 1);
    expect(after.body.data.posts[0].title).toBe('Fresh post');
  });

  it('shows a post that becomes published in a cached posts(published: true) list', async () => {
    const { rows } = await t.db.pool.query(
      `select id::text from demo.posts where not published order by id desc limit 1`,
    );
    const id = rows[0].id;
    const query = '{ posts(published: true, first: 100) { id } }';
    const before = await t.gql(query);
    expect(before.body.data.posts.map((p: { id: string }) => p.id)).not.toContain(id);
    expect((await t.gql(query)).cache).toBe('hit');

    await writeOutOfBand('update demo.posts set published = true where id = $1', [id]);
    const after = await t.gql(query);
    expect(after.body.data.posts.map((p: { id: string }) => p.id)).toContain(id);
  });

  it('keeps results that do not involve user 7 as hits when user 7 changes', async () => {
    const unrelated = '{ user(id: 3) { name posts { title } } }';
    const related = '{ user(id: 7) { name } }';
    await t.gql(unrelated);
    await t.gql(related);

    await writeOutOfBand(`update demo.users set name = 'Seven' where id = 7`);
    expect((await t.gql(unrelated)).cache).toBe('hit');
    const fresh = await t.gql(related);
    expect(fresh.cache).toBe('miss');
    expect(fresh.body.data.user.name).toBe('Seven');
  });

  it('drops cached post bodies when a comment is added to the post', async () => {
    const { rows } = await t.db.pool.query(`select id::text from demo.posts order by id limit 1`);
    const query = `{ post(id: ${rows[0].id}) { title comments { body } } }`;
    const before = await t.gql(query);
    await writeOutOfBand(
      `insert into demo.comments (post_id, author_id, body) values ($1, 1, 'late comment')`,
      [rows[0].id],
    );
    const after = await t.gql(query);
    expect(after.body.data.post.comments).toHaveLength(before.body.data.post.comments.length + 1);
  });
});
