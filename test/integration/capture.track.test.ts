/**
 * track() and untrack(): tracking checks its arguments before it installs anything, and
 * untracking removes the capture entirely. Each test creates its own table.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { entriesOf } from '../helpers/capture';

let db: TestDatabase;
let tables = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_track');
});

afterAll(async () => {
  await db.drop();
});

async function posts(): Promise<string> {
  const table = `capture_track.posts_${tables++}`;
  await db.pool.query(
    `create table ${table} (id bigint primary key, author_id bigint, published boolean)`,
  );
  return table;
}

async function triggersOn(table: string): Promise<string[]> {
  const { rows } = await db.pool.query<{ tgname: string }>(
    'select tgname from pg_trigger where tgrelid = $1::regclass order by tgname',
    [table],
  );
  return rows.map((r) => r.tgname);
}

it.each([
  ['a typename that is no GraphQL name', ['Blog Post'], '22023', 'typename'],
  ['an empty typename', [''], '22023', 'typename'],
  ['a null typename', [null], '22023', 'typename'],
  ['a missing id column', ['Post', 'uuid'], '42703', 'uuid'],
  ['a missing parent column', ['Post', 'id', { writer_id: 'User' }], '42703', 'writer_id'],
  ['a parent that is no type name', ['Post', 'id', { author_id: 'a user' }], '22023', 'parent'],
  ['parents that are not an object', ['Post', 'id', ['author_id']], '22023', 'parents'],
  ['a missing filter column', ['Post', 'id', {}, ['draft']], '42703', 'draft'],
])('refuses %s and installs nothing', async (_what, args, code, named) => {
  const table = await posts();
  const [typename, idColumn = 'id', parents = {}, filters = null] = args;

  const tracked = db.pool.query('select pgcascade.track($1, $2, $3, $4, $5)', [
    table,
    typename,
    idColumn,
    JSON.stringify(parents),
    filters,
  ]);

  await expect(tracked).rejects.toMatchObject({ code, message: expect.stringContaining(named) });
  expect(await triggersOn(table)).toEqual([]);
});

it('refuses a table that does not exist', async () => {
  const tracked = db.pool.query("select pgcascade.track('capture_track.nowhere', 'Post')");

  await expect(tracked).rejects.toMatchObject({ code: '42P01' });
});

it('records the tracking, and tracking again replaces it', async () => {
  const table = await posts();

  await db.pool.query(`select pgcascade.track($1, 'Post')`, [table]);
  await db.pool.query(`select pgcascade.track($1, 'Article', filters => '{published}')`, [table]);
  await db.pool.query(`insert into ${table} values (1, 5, true)`);

  const { rows } = await db.pool.query(
    'select typename, filters::text[] from pgcascade.tracked where relation = $1::regclass',
    [table],
  );
  expect(rows).toEqual([{ typename: 'Article', filters: ['published'] }]);
  const entries = await entriesOf(db.pool, table);
  expect(entries.map((e) => e.entities)).toEqual([['Article:1']]);
});

it('stops capturing every kind of change after untrack', async () => {
  const table = await posts();
  await db.pool.query(`select pgcascade.track($1, 'Post')`, [table]);
  await db.pool.query(`insert into ${table} values (1, 5, true)`);

  await db.pool.query('select pgcascade.untrack($1)', [table]);
  await db.pool.query(`insert into ${table} values (2, 5, true)`);
  await db.pool.query(`update ${table} set published = false`);
  await db.pool.query(`delete from ${table} where id = 1`);
  await db.pool.query(`truncate ${table}`);

  expect((await entriesOf(db.pool, table)).map((e) => e.operation)).toEqual(['INSERT']);
  expect(await triggersOn(table)).toEqual([]);
  const { rows } = await db.pool.query(
    'select 1 from pgcascade.tracked where relation = $1::regclass',
    [table],
  );
  expect(rows).toEqual([]);
});

it('untracks a table that was never tracked without complaint', async () => {
  const table = await posts();

  await expect(db.pool.query('select pgcascade.untrack($1)', [table])).resolves.toBeDefined();
});
