import { createTestDatabase, type TestDatabase } from '../helpers/database';

interface AuditEntry {
  seq: string;
  xid: string;
  source: string;
  relation: string | null;
  operation: string | null;
  entities: string[];
  cascade: unknown;
}

interface Call {
  result: { status: string; message: string | null; entity: any; cascade: any };
  entries: AuditEntry[];
}

let db: TestDatabase;
let ada: string;
let bob: string;

beforeAll(async () => {
  db = await createTestDatabase();
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into demo.users (name, email)
     values ('Ada', 'ada@example.com'), ('Bob', 'bob@example.com') returning id`,
  );
  [ada, bob] = rows.map((r) => r.id);
});

afterAll(async () => {
  await db.drop();
});

/** Runs one mutation function in its own transaction and returns the audit entries it left. */
async function invoke(sql: string, params: unknown[]): Promise<Call> {
  const before = await db.pool.query('select coalesce(max(seq), 0) as seq from pgcascade.audit');
  const { rows } = await db.pool.query(sql, params);
  const entries = await db.pool.query<AuditEntry>(
    `select seq, xid::text as xid, source, relation, operation, entities, cascade
     from pgcascade.audit where seq > $1 order by seq`,
    [before.rows[0].seq],
  );
  return { result: rows[0], entries: entries.rows };
}

async function createPost(authorId: string, title = 'Title', body = 'Body'): Promise<Call> {
  return invoke('select * from demo.create_post($1, $2, $3)', [authorId, title, body]);
}

async function addComments(postId: string, count: number): Promise<string[]> {
  const { rows } = await db.pool.query<{ id: string }>(
    `insert into demo.comments (post_id, author_id, body)
     select $1, $2, 'comment ' || n from generate_series(1, $3::int) n returning id`,
    [postId, bob, count],
  );
  return rows.map((r) => r.id);
}

/** The cascade entry and the trigger entries of one transaction, with no drift between them. */
async function expectRecordedTogether({ result, entries }: Call): Promise<AuditEntry[]> {
  const cascades = entries.filter((e) => e.source === 'cascade');
  const triggers = entries.filter((e) => e.source === 'trigger');
  expect(cascades).toHaveLength(1);
  expect(cascades[0].cascade).toEqual(result.cascade);
  expect(triggers.length).toBeGreaterThan(0);
  expect(new Set(entries.map((e) => e.xid)).size).toBe(1);

  const drift = await db.pool.query('select * from pgcascade.cascade_drift where xid = $1::xid8', [
    cascades[0].xid,
  ]);
  expect(drift.rows).toEqual([]);
  return triggers;
}

describe('demo.create_post', () => {
  it('inserts the post and returns it with a cascade naming it as CREATED', async () => {
    const call = await createPost(ada, 'Hello', 'World');

    expect(call.result.status).toBe('success');
    expect(call.result.message).toBeNull();
    expect(call.result.entity).toMatchObject({
      author_id: Number(ada),
      title: 'Hello',
      body: 'World',
      published: false,
    });
    const id = String(call.result.entity.id);
    expect(call.result.cascade).toMatchObject({
      updated: [{ __typename: 'Post', id, operation: 'CREATED', entity: call.result.entity }],
      deleted: [],
      invalidations: [{ queryName: 'posts', strategy: 'INVALIDATE', scope: 'PREFIX' }],
      metadata: { affectedCount: 1 },
    });
    expect(typeof call.result.cascade.metadata.timestamp).toBe('string');
    const row = await db.pool.query('select title from demo.posts where id = $1', [id]);
    expect(row.rows).toEqual([{ title: 'Hello' }]);
  });

  it('records its cascade in the transaction of the insert trigger, without drift', async () => {
    const call = await createPost(ada);

    const triggers = await expectRecordedTogether(call);
    expect(triggers.map((t) => [t.relation, t.operation])).toEqual([['demo.posts', 'INSERT']]);
  });

  it('reports not_found for an unknown author and writes nothing', async () => {
    const call = await createPost('999999');

    expect(call.result).toEqual({
      status: 'not_found',
      message: 'user 999999 not found',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
  });

  it.each([
    ['an empty title', ['', 'Body'], 'title must not be empty'],
    ['a blank title', ['   ', 'Body'], 'title must not be empty'],
    ['a null body', ['Title', null], 'body is required'],
  ])('reports invalid for %s and writes nothing', async (_case, [title, body], message) => {
    const before = await db.pool.query('select count(*) from demo.posts');
    const call = await invoke('select * from demo.create_post($1, $2, $3)', [ada, title, body]);

    expect(call.result).toEqual({ status: 'invalid', message, entity: null, cascade: null });
    expect(call.entries).toEqual([]);
    expect((await db.pool.query('select count(*) from demo.posts')).rows).toEqual(before.rows);
  });
});

describe('demo.update_post', () => {
  it('changes only the fields given and sets updated_at', async () => {
    const created = await createPost(ada, 'Before', 'Body before');
    const id = String(created.result.entity.id);

    const call = await invoke('select * from demo.update_post($1, body => $2)', [id, 'Body after']);

    expect(call.result.status).toBe('success');
    expect(call.result.entity).toMatchObject({ title: 'Before', body: 'Body after' });
    expect(call.result.entity.updated_at).not.toBe(created.result.entity.updated_at);
    expect(call.result.cascade).toMatchObject({
      updated: [{ __typename: 'Post', id, operation: 'UPDATED' }],
      deleted: [],
      invalidations: [],
      metadata: { affectedCount: 1 },
    });
  });

  it('invalidates the posts queries when publishing moves the post between lists', async () => {
    const id = String((await createPost(ada)).result.entity.id);

    const call = await invoke('select * from demo.update_post($1, published => true)', [id]);

    expect(call.result.entity.published).toBe(true);
    expect(call.result.cascade.invalidations).toEqual([
      { queryName: 'posts', strategy: 'INVALIDATE', scope: 'PREFIX' },
    ]);
  });

  it('records its cascade in the transaction of the update trigger, without drift', async () => {
    const id = String((await createPost(ada)).result.entity.id);

    const call = await invoke('select * from demo.update_post($1, $2)', [id, 'New title']);

    const triggers = await expectRecordedTogether(call);
    expect(triggers.map((t) => [t.relation, t.operation])).toEqual([['demo.posts', 'UPDATE']]);
  });

  it('reports not_found for an unknown post and writes nothing', async () => {
    const call = await invoke('select * from demo.update_post($1, $2)', ['999999', 'x']);

    expect(call.result).toEqual({
      status: 'not_found',
      message: 'post 999999 not found',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
  });

  it.each([
    [
      'an empty title',
      "select * from demo.update_post($1, title => '')",
      'title must not be empty',
    ],
    [
      'no field to change',
      'select * from demo.update_post($1)',
      'nothing to update: give title, body or published',
    ],
  ])('reports invalid for %s and writes nothing', async (_case, sql, message) => {
    const created = await createPost(ada, 'Unchanged');
    const id = String(created.result.entity.id);

    const call = await invoke(sql, [id]);

    expect(call.result).toEqual({ status: 'invalid', message, entity: null, cascade: null });
    expect(call.entries).toEqual([]);
    const row = await db.pool.query('select title, updated_at from demo.posts where id = $1', [id]);
    expect(row.rows[0].title).toBe('Unchanged');
  });
});

describe('demo.delete_post', () => {
  it('deletes the post and its comments and names all of them in the cascade', async () => {
    const id = String((await createPost(ada)).result.entity.id);
    const commentIds = await addComments(id, 3);

    const call = await invoke('select * from demo.delete_post($1)', [id]);

    expect(call.result.status).toBe('success');
    expect(String(call.result.entity.id)).toBe(id);
    expect(call.result.cascade).toMatchObject({
      updated: [],
      deleted: [
        { __typename: 'Post', id },
        ...commentIds.map((c) => ({ __typename: 'Comment', id: c })),
      ],
      invalidations: [{ queryName: 'posts', strategy: 'INVALIDATE', scope: 'PREFIX' }],
      metadata: { affectedCount: 4 },
    });
    const left = await db.pool.query(
      `select (select count(*)::int from demo.posts where id = $1) as posts,
              (select count(*)::int from demo.comments where post_id = $1) as comments`,
      [id],
    );
    expect(left.rows[0]).toEqual({ posts: 0, comments: 0 });
  });

  it('records its cascade with both delete triggers, without drift', async () => {
    const id = String((await createPost(ada)).result.entity.id);
    await addComments(id, 2);

    const call = await invoke('select * from demo.delete_post($1)', [id]);

    const triggers = await expectRecordedTogether(call);
    expect(triggers.map((t) => [t.relation, t.operation])).toEqual([
      ['demo.comments', 'DELETE'],
      ['demo.posts', 'DELETE'],
    ]);
  });

  it('reports not_found for an unknown post and writes nothing', async () => {
    const call = await invoke('select * from demo.delete_post($1)', ['999999']);

    expect(call.result).toEqual({
      status: 'not_found',
      message: 'post 999999 not found',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
  });

  it('reports invalid for a null id and writes nothing', async () => {
    const call = await invoke('select * from demo.delete_post(null)', []);

    expect(call.result).toEqual({
      status: 'invalid',
      message: 'id is required',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
  });
});

describe('demo.rename_user', () => {
  it('renames the user and names it as UPDATED in the cascade', async () => {
    const call = await invoke('select * from demo.rename_user($1, $2)', [bob, 'Robert']);

    expect(call.result.status).toBe('success');
    expect(call.result.entity).toMatchObject({ id: Number(bob), name: 'Robert' });
    expect(call.result.cascade).toMatchObject({
      updated: [{ __typename: 'User', id: bob, operation: 'UPDATED' }],
      deleted: [],
      invalidations: [],
      metadata: { affectedCount: 1 },
    });
    const triggers = await expectRecordedTogether(call);
    expect(triggers.map((t) => [t.relation, t.operation])).toEqual([['demo.users', 'UPDATE']]);
  });

  it('reports not_found for an unknown user and writes nothing', async () => {
    const call = await invoke('select * from demo.rename_user($1, $2)', ['999999', 'Nobody']);

    expect(call.result).toEqual({
      status: 'not_found',
      message: 'user 999999 not found',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
  });

  it('reports invalid for an empty name and keeps the old one', async () => {
    const call = await invoke('select * from demo.rename_user($1, $2)', [ada, ' ']);

    expect(call.result).toEqual({
      status: 'invalid',
      message: 'name must not be empty',
      entity: null,
      cascade: null,
    });
    expect(call.entries).toEqual([]);
    const row = await db.pool.query('select name from demo.users where id = $1', [ada]);
    expect(row.rows[0].name).toBe('Ada');
  });
});
