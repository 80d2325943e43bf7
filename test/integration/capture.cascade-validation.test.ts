/**
 * Cascades and manual invalidation: emit() accepts the GraphQL Cascade shape and refuses
 * anything else with SQLSTATE 22023 and the path of the first problem; emit(),
 * invalidate() and invalidate_all() return the seq of the audit entry that holds the tags.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

interface Entry {
  source: string;
  tags: string[];
  entities: string[];
  cascade: unknown;
  query: string | null;
}

async function entry(seq: string): Promise<Entry> {
  const { rows } = await db.pool.query<Entry>(
    'select source, tags, entities, cascade, query from pgcascade.audit where seq = $1',
    [seq],
  );
  expect(rows).toHaveLength(1);
  return rows[0];
}

async function cascadeCount(): Promise<number> {
  const { rows } = await db.pool.query(
    "select count(*)::int as n from pgcascade.audit where source = 'cascade'",
  );
  return rows[0].n;
}

describe('emit', () => {
  it.each([
    ['an array', [], 'cascade must be a json object'],
    ['an unknown key', { updated: [], upserted: [] }, 'unknown key "upserted"'],
    ['updated that is not an array', { updated: {} }, 'cascade.updated must be an array'],
    ['deleted that is null', { deleted: null }, 'cascade.deleted must be an array'],
    ['an entity that is not an object', { deleted: ['Post:1'] }, 'cascade.deleted[0] must be'],
    ['a missing __typename', { updated: [{ id: '1' }] }, 'cascade.updated[0].__typename'],
    ['a numeric __typename', { updated: [{ __typename: 5, id: '1' }] }, '[0].__typename'],
    [
      'a __typename that is no GraphQL name',
      {
        updated: [
          { __typename: 'Post', id: 1 },
          { __typename: 'Post:2', id: 2 },
        ],
      },
      'cascade.updated[1].__typename',
    ],
    ['a missing id', { updated: [{ __typename: 'Post' }] }, 'cascade.updated[0].id'],
    ['a boolean id', { deleted: [{ __typename: 'Post', id: true }] }, 'cascade.deleted[0].id'],
    ['an object id', { deleted: [{ __typename: 'Post', id: {} }] }, 'cascade.deleted[0].id'],
    [
      'an unknown operation',
      { updated: [{ __typename: 'Post', id: '1', operation: 'MOVED' }] },
      'cascade.updated[0].operation',
    ],
    [
      'a queryName that is not a string',
      { invalidations: [{ queryName: 7 }] },
      'cascade.invalidations[0].queryName',
    ],
    [
      'an unknown scope',
      { invalidations: [{ queryName: 'posts', scope: 'PATTERN' }] },
      'cascade.invalidations[0].scope',
    ],
  ])('refuses %s with 22023 and names the path', async (_what, cascade, path) => {
    const before = await cascadeCount();

    const emitted = db.pool.query('select pgcascade.emit($1)', [JSON.stringify(cascade)]);

    await expect(emitted).rejects.toMatchObject({
      code: '22023',
      message: expect.stringContaining(path),
    });
    expect(await cascadeCount()).toBe(before);
  });

  it('refuses a null cascade', async () => {
    await expect(db.pool.query('select pgcascade.emit(null)')).rejects.toMatchObject({
      code: '22023',
    });
  });

  it('returns the seq of an entry holding the cascade, its tags and its entities', async () => {
    const cascade = {
      updated: [
        { __typename: 'Widget', id: '1', operation: 'UPDATED', entity: { title: 't' } },
        { __typename: 'Widget', id: 2, operation: 'CREATED', entity: {} },
      ],
      deleted: [{ __typename: 'Gadget', id: '7' }],
      invalidations: [
        { queryName: 'feed', strategy: 'INVALIDATE', scope: 'EXACT' },
        { queryName: 'posts', strategy: 'INVALIDATE', scope: 'PREFIX' },
      ],
      metadata: { timestamp: '2026-01-01T00:00:00Z', affectedCount: 3 },
    };

    const { rows } = await db.pool.query<{ seq: string }>(
      'select pgcascade.emit($1) as seq /* emit-returns-seq */',
      [JSON.stringify(cascade)],
    );

    const recorded = await entry(rows[0].seq);
    expect(recorded.source).toBe('cascade');
    expect(recorded.cascade).toEqual(cascade);
    expect([...recorded.tags].sort()).toEqual(
      [
        'Gadget:7',
        'Gadget[*]',
        'Widget:1',
        'Widget:2',
        'Widget[*]',
        'query:feed',
        'query:posts*',
      ].sort(),
    );
    expect([...recorded.entities].sort()).toEqual(['Gadget:7', 'Widget:1', 'Widget:2']);
    expect(recorded.query).toContain('emit-returns-seq');
  });

  it('leaves list and query invalidations of tracked types to their triggers', async () => {
    // The triggers of a tracked type record its exact list tags in the same transaction.
    await db.pool.query(`
      create schema capture_cascade;
      create table capture_cascade.notes (id bigint primary key);
      select pgcascade.track('capture_cascade.notes', 'Note');`);
    const cascade = {
      updated: [{ __typename: 'Note', id: '9', operation: 'CREATED', entity: {} }],
      deleted: [{ __typename: 'Note', id: '8' }],
      invalidations: [{ queryName: 'notes', strategy: 'INVALIDATE', scope: 'PREFIX' }],
    };

    const { rows } = await db.pool.query<{ seq: string }>('select pgcascade.emit($1) as seq', [
      JSON.stringify(cascade),
    ]);

    expect([...(await entry(rows[0].seq)).tags].sort()).toEqual(['Note:8', 'Note:9']);
  });

  it('honours query invalidations of a cascade that names no entity', async () => {
    const { rows } = await db.pool.query<{ seq: string }>('select pgcascade.emit($1) as seq', [
      JSON.stringify({ invalidations: [{ queryName: 'feed', scope: 'EXACT' }] }),
    ]);
    expect((await entry(rows[0].seq)).tags).toEqual(['query:feed']);
  });

  it('tags only the entity of an update, which moves no row between lists', async () => {
    const { rows } = await db.pool.query<{ seq: string }>('select pgcascade.emit($1) as seq', [
      JSON.stringify({ updated: [{ __typename: 'Post', id: '3' }] }),
    ]);

    expect((await entry(rows[0].seq)).tags).toEqual(['Post:3']);
  });

  it('tags everything for an invalidation of scope ALL', async () => {
    const { rows } = await db.pool.query<{ seq: string }>('select pgcascade.emit($1) as seq', [
      JSON.stringify({ invalidations: [{ queryName: 'posts', scope: 'ALL' }] }),
    ]);

    expect((await entry(rows[0].seq)).tags).toEqual(['*']);
  });
});

describe('manual invalidation', () => {
  it('invalidate(type, id) returns the seq of an entry tagging that entity', async () => {
    const { rows } = await db.pool.query<{ seq: string }>(
      "select pgcascade.invalidate('Post', '42') as seq",
    );

    const recorded = await entry(rows[0].seq);
    expect(recorded).toMatchObject({ source: 'manual', tags: ['Post:42'], entities: ['Post:42'] });
  });

  it('invalidate(type) tags every entity and every list of the type', async () => {
    const { rows } = await db.pool.query<{ seq: string }>(
      "select pgcascade.invalidate('Post') as seq",
    );

    expect([...(await entry(rows[0].seq)).tags].sort()).toEqual(['Post:*', 'Post[*]']);
  });

  it('invalidate_all() returns the seq of an entry tagging everything', async () => {
    const { rows } = await db.pool.query<{ seq: string }>(
      'select pgcascade.invalidate_all() as seq',
    );

    expect(await entry(rows[0].seq)).toMatchObject({ source: 'manual', tags: ['*'] });
  });

  it.each([['not a name'], ['Post:1'], [null]])(
    'refuses the typename %p with 22023',
    async (typename) => {
      const invalidated = db.pool.query('select pgcascade.invalidate($1)', [typename]);

      await expect(invalidated).rejects.toMatchObject({
        code: '22023',
        message: expect.stringContaining('typename'),
      });
    },
  );
});
