import { graphql, type ExecutionResult, type GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import { demoSchemaModule, seedDemo } from '../../src/demo';
import type { RequestHeaders } from '../../src/graphql/schema-module';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;
let schema: GraphQLSchema;
let queries: jest.SpyInstance;

beforeAll(async () => {
  db = await createTestDatabase();
  schema = createSchema({
    typeDefs: demoSchemaModule.typeDefs!,
    resolvers: demoSchemaModule.resolvers as never,
  });
  // 4 users, 2 posts each, 2 comments a post; user n has the email user<n>@example.com.
  await seedDemo(db.pool, { users: 4, postsPerUser: 2, commentsPerPost: 2 });
  queries = jest.spyOn(db.pool, 'query');
});

afterAll(async () => {
  queries.mockRestore();
  await db.drop();
});

async function run(
  source: string,
  options: { headers?: RequestHeaders; variables?: Record<string, unknown> } = {},
): Promise<ExecutionResult<any>> {
  const contextValue = await demoSchemaModule.context!({
    pool: db.pool,
    headers: options.headers ?? {},
  });
  queries.mockClear();
  return graphql({ schema, source, contextValue, variableValues: options.variables });
}

async function addPosts(authorId: number, count: number): Promise<void> {
  await db.pool.query(
    `with added as (
       insert into demo.posts (author_id, title, body, published)
       select $1, 'extra ' || n, 'body', true from generate_series(1, $2::int) n returning id
     )
     insert into demo.comments (post_id, author_id, body)
     select id, $1, 'extra comment' from added`,
    [authorId, count],
  );
}

describe('reading through loaders', () => {
  const nested = '{ user(id: 1) { name posts { title comments { body } } } }';

  it('answers a user with posts and comments from the database', async () => {
    const result = await run(nested);

    expect(result.errors).toBeUndefined();
    const user = result.data.user;
    expect(user.name).toEqual(expect.any(String));
    expect(user.posts).toHaveLength(2);
    for (const post of user.posts) expect(post.comments).toHaveLength(2);
  });

  it('runs the same number of queries however many posts the user has', async () => {
    await run(nested);
    const few = queries.mock.calls.length;
    await addPosts(1, 25);

    const result = await run(nested);

    expect(result.data.user.posts).toHaveLength(27);
    expect(queries.mock.calls.length).toBe(few);
    expect(few).toBe(3);
  });

  it('batches every nesting level of a list into one query per kind of read', async () => {
    // One root field: the loads of two root fields meet in one batch only if both root
    // queries answer within the same tick, which the database's timing decides.
    const result = await run(`{
      users(first: 4) {
        posts { author { name } comments { author { email } post { title } } }
      }
    }`);

    expect(result.errors).toBeUndefined();
    expect(result.data.users).toHaveLength(4);
    // users, posts by author, comments by post; authors and posts come primed.
    expect(queries.mock.calls.length).toBe(3);
  });

  it('lists users by id ascending and posts by id descending', async () => {
    const result = await run('{ users(first: 3) { id } posts(first: 3) { id } }');

    expect(result.data.users.map((u: { id: string }) => u.id)).toEqual(['1', '2', '3']);
    const postIds = result.data.posts.map((p: { id: string }) => Number(p.id));
    expect(postIds).toEqual([...postIds].sort((a, b) => b - a));
    expect(postIds).toHaveLength(3);
  });

  it('filters posts by author and by published', async () => {
    const result = await run(`{
      byAuthor: posts(authorId: "02", first: 100) { author { id } }
      drafts: posts(published: false, first: 100) { published }
    }`);

    expect(result.errors).toBeUndefined();
    expect(result.data.byAuthor).toHaveLength(2);
    expect(result.data.byAuthor.every((p: any) => p.author.id === '2')).toBe(true);
    expect(result.data.drafts.length).toBeGreaterThan(0);
    expect(result.data.drafts.every((p: any) => p.published === false)).toBe(true);
  });

  it('returns null for an id that names no row', async () => {
    const result = await run('{ user(id: 999999) { id } post(id: 999999) { id } }');

    expect(result.errors).toBeUndefined();
    expect(result.data).toEqual({ user: null, post: null });
  });
});

describe('argument errors', () => {
  it.each([0, 101, -1])('rejects first: %i with a message naming the range', async (first) => {
    const result = await run('query ($first: Int) { users(first: $first) { id } }', {
      variables: { first },
    });

    expect(result.errors?.[0].message).toBe(`first must be from 1 to 100, got ${first}`);
    expect(result.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
  });

  it('rejects an id that is not a whole number with a message naming the argument', async () => {
    const result = await run('{ user(id: "abc") { id } }');

    expect(result.errors?.[0].message).toMatch(/^id must be a whole number .*, got "abc"$/);
    expect(result.errors?.[0].extensions.code).toBe('BAD_USER_INPUT');
    expect(queries).not.toHaveBeenCalled();
  });

  it('rejects an authorId beyond the bigint range instead of failing in PostgreSQL', async () => {
    const result = await run('{ posts(authorId: "99999999999999999999") { id } }');

    expect(result.errors?.[0].message).toMatch(/^authorId must be a whole number/);
    expect(queries).not.toHaveBeenCalled();
  });
});

describe('viewer', () => {
  it('is the user named by Authorization: Bearer <id>', async () => {
    const result = await run('{ viewer { id email } }', {
      headers: { authorization: 'Bearer 3' },
    });

    expect(result.data.viewer).toEqual({ id: '3', email: 'user3@example.com' });
  });

  it.each([
    ['no Authorization header', undefined],
    ['a scheme other than Bearer', 'Basic dXNlcjpwYXNz'],
    ['a token that is not an id', 'Bearer abc'],
    ['an id that names no user', 'Bearer 999999'],
  ])('is null with %s', async (_case, authorization) => {
    const result = await run('{ viewer { id } }', { headers: { authorization } });

    expect(result.errors).toBeUndefined();
    expect(result.data.viewer).toBeNull();
  });
});

describe('mutations', () => {
  const createPost = `mutation ($authorId: ID!) {
    createPost(authorId: $authorId, title: "Fresh", body: "Text") {
      status message
      post { id title published author { id } }
      cascade {
        updated { typename id operation entity }
        deleted { typename id }
        invalidations { queryName strategy scope }
        metadata
      }
    }
  }`;

  it('maps a created post and its cascade to the PostResult shape', async () => {
    const result = await run(createPost, { variables: { authorId: '2' } });

    expect(result.errors).toBeUndefined();
    const payload = result.data.createPost;
    expect(payload).toMatchObject({
      status: 'success',
      message: null,
      post: { title: 'Fresh', published: false, author: { id: '2' } },
    });
    expect(payload.post.id).toMatch(/^\d+$/);
    expect(payload.cascade.updated).toEqual([
      {
        typename: 'Post',
        id: payload.post.id,
        operation: 'CREATED',
        entity: expect.objectContaining({ title: 'Fresh', author_id: 2 }),
      },
    ]);
    expect(payload.cascade.invalidations).toEqual([
      { queryName: 'posts', strategy: 'INVALIDATE', scope: 'PREFIX' },
    ]);
    expect(payload.cascade.metadata).toMatchObject({ affectedCount: 1 });
  });

  it('reports not_found and invalid as statuses, not errors', async () => {
    const missing = await run(createPost, { variables: { authorId: '999999' } });
    const malformed = await run(createPost, { variables: { authorId: 'abc' } });

    expect(missing.errors).toBeUndefined();
    expect(missing.data.createPost).toMatchObject({
      status: 'not_found',
      message: 'user 999999 not found',
      post: null,
      cascade: null,
    });
    expect(malformed.errors).toBeUndefined();
    expect(malformed.data.createPost.status).toBe('invalid');
    expect(malformed.data.createPost.message).toMatch(/^authorId must be a whole number/);
  });

  it('updates only the fields given', async () => {
    const result = await run(`mutation {
      updatePost(id: 1, published: false) { status post { id title published } }
    }`);
    const before = await db.pool.query('select title from demo.posts where id = 1');

    expect(result.data.updatePost).toEqual({
      status: 'success',
      post: { id: '1', title: before.rows[0].title, published: false },
    });
  });

  it('deletes a post with its comments and lists them as deleted', async () => {
    const { rows } = await db.pool.query('select id from demo.comments where post_id = 2');

    const result = await run(`mutation {
      deletePost(id: 2) { status post { id } cascade { deleted { typename id } } }
    }`);

    expect(result.data.deletePost.status).toBe('success');
    expect(result.data.deletePost.post).toEqual({ id: '2' });
    expect(result.data.deletePost.cascade.deleted).toEqual([
      { typename: 'Post', id: '2' },
      ...rows.map((r) => ({ typename: 'Comment', id: r.id })),
    ]);
  });

  it('lets a later mutation of the same operation read an earlier one', async () => {
    const result = await run(`mutation {
      first: createPost(authorId: 4, title: "A", body: "B") { post { author { name } } }
      rename: renameUser(id: 4, name: "Renamed Four") { status user { id name } }
      second: createPost(authorId: 4, title: "C", body: "D") { post { author { name } } }
    }`);

    expect(result.errors).toBeUndefined();
    expect(result.data.first.post.author.name).not.toBe('Renamed Four');
    expect(result.data.rename).toEqual({
      status: 'success',
      user: { id: '4', name: 'Renamed Four' },
    });
    expect(result.data.second.post.author.name).toBe('Renamed Four');
  });
});
