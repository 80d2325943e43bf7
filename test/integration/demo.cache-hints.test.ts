import { parse } from 'graphql';
import { demoSchemaModule } from '../../src/demo';
import type { RequestHeaders } from '../../src/graphql/schema-module';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

const bearer: RequestHeaders = { authorization: 'Bearer 7' };

function scope(source: string, headers = bearer, operationName?: string): string | null {
  return demoSchemaModule.scope!({ headers, document: parse(source), operationName });
}

function tags(field: string, args: Record<string, unknown>, parent: { id?: string } = {}) {
  return demoSchemaModule.listTags![field](args, parent);
}

describe('scope', () => {
  it('shares results that do not select viewer', () => {
    expect(scope('{ users { id name } posts(first: 5) { title } }')).toBeNull();
  });

  it('keeps a result that selects viewer private to the Authorization header', () => {
    expect(scope('{ viewer { id } }')).toBe('authorization:Bearer 7');
  });

  it('scopes a viewer request without Authorization to the empty header', () => {
    expect(scope('{ viewer { id } }', {})).toBe('authorization:');
  });

  it('sees viewer under an alias', () => {
    expect(scope('{ me: viewer { id } }')).toBe('authorization:Bearer 7');
  });

  it('goes by the field name, not an alias called viewer', () => {
    expect(scope('{ viewer: users { id } }')).toBeNull();
  });

  it('sees viewer through a named fragment that spreads another fragment', () => {
    const source = `
      query Home { ...Outer }
      fragment Outer on Query { users { id } ...Inner }
      fragment Inner on Query { viewer { name } }`;

    expect(scope(source)).toBe('authorization:Bearer 7');
  });

  it('sees viewer in an inline fragment', () => {
    expect(scope('{ ... on Query { viewer { id } } }')).toBe('authorization:Bearer 7');
  });

  it('ignores a fragment with viewer that the operation never spreads', () => {
    const source = `
      query Home { users { id } }
      fragment Unused on Query { viewer { id } }`;

    expect(scope(source)).toBeNull();
  });

  it('checks only the named operation when the document holds several', () => {
    const source = 'query A { users { id } } query B { viewer { id } }';

    expect(scope(source, bearer, 'A')).toBeNull();
    expect(scope(source, bearer, 'B')).toBe('authorization:Bearer 7');
    expect(scope(source, bearer, undefined)).toBe('authorization:Bearer 7');
  });

  it('terminates on fragments that spread each other', () => {
    const source = `
      { ...A }
      fragment A on Query { ...B }
      fragment B on Query { ...A users { id } }`;

    expect(scope(source)).toBeNull();
  });
});

describe('listTags', () => {
  it('tags users(first) with the unfiltered User list', () => {
    expect(tags('Query.users', { first: 20 })).toEqual(['User[]']);
  });

  it('tags posts by the author filter first, then published, else the unfiltered list', () => {
    expect(tags('Query.posts', { authorId: '5', published: true, first: 20 })).toEqual([
      'Post[author_id=5]',
    ]);
    expect(tags('Query.posts', { published: true, first: 20 })).toEqual(['Post[published=true]']);
    expect(tags('Query.posts', { published: false, first: 20 })).toEqual(['Post[published=false]']);
    expect(tags('Query.posts', { first: 20 })).toEqual(['Post[]']);
  });

  it('prints ids the way PostgreSQL does, so 007 and 7 share a tag', () => {
    expect(tags('Query.posts', { authorId: '007' })).toEqual(['Post[author_id=7]']);
  });

  it('tags nested lists with their parent id', () => {
    expect(tags('User.posts', {}, { id: '12' })).toEqual(['Post[author_id=12]']);
    expect(tags('Post.comments', {}, { id: '34' })).toEqual(['Comment[post_id=34]']);
  });
});

describe('listTags against the capture triggers', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(async () => {
    await db.drop();
  });

  /** Runs `sql` and returns the tags of the trigger entries it wrote. */
  async function triggerTags(sql: string, params: unknown[] = []): Promise<string[]> {
    const before = await db.pool.query('select coalesce(max(seq), 0) as seq from pgcascade.audit');
    await db.pool.query(sql, params);
    const { rows } = await db.pool.query<{ tags: string[] }>(
      "select tags from pgcascade.audit where seq > $1 and source = 'trigger'",
      [before.rows[0].seq],
    );
    return rows.flatMap((r) => r.tags);
  }

  it('matches what inserting a user, a post and a comment emits', async () => {
    const userTags = await triggerTags(
      "insert into demo.users (name, email) values ('Lin', 'lin@example.com')",
    );
    const user = (await db.pool.query("select id from demo.users where name = 'Lin'")).rows[0].id;
    const postTags = await triggerTags(
      "insert into demo.posts (author_id, title, body) values ($1, 'T', 'B')",
      [user],
    );
    const post = (await db.pool.query('select max(id) as id from demo.posts')).rows[0].id;
    const commentTags = await triggerTags(
      "insert into demo.comments (post_id, author_id, body) values ($1, $2, 'C')",
      [post, user],
    );

    expect(userTags).toEqual(expect.arrayContaining(tags('Query.users', {})));
    expect(postTags).toEqual(
      expect.arrayContaining([
        ...tags('Query.posts', {}),
        ...tags('Query.posts', { authorId: user }),
        ...tags('Query.posts', { published: false }),
        ...tags('User.posts', {}, { id: user }),
      ]),
    );
    expect(commentTags).toEqual(expect.arrayContaining(tags('Post.comments', {}, { id: post })));
  });

  it('matches what publishing a post emits for both published lists', async () => {
    const { rows } = await db.pool.query(
      `with u as (insert into demo.users (name, email) values ('Mo', 'mo@example.com') returning id)
       insert into demo.posts (author_id, title, body) select id, 'T', 'B' from u returning id`,
    );

    const updateTags = await triggerTags('update demo.posts set published = true where id = $1', [
      rows[0].id,
    ]);

    expect(updateTags).toEqual(
      expect.arrayContaining([
        ...tags('Query.posts', { published: true }),
        ...tags('Query.posts', { published: false }),
      ]),
    );
  });
});
