/**
 * The update capture that track() generates per table (sql/core/004 and 005): its fast
 * statement must name rows exactly as the general rules do, the move flag must send every
 * update that moved a row to them, however the row moved, a renamed column must fail
 * loudly, and everything goes with untrack. The upgrades of databases tracked before 004
 * and before 005 are checked on databases of their own.
 */
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { createTestDatabase, databaseUrl, type TestDatabase } from '../helpers/database';
import { entriesOf } from '../helpers/capture';

let db: TestDatabase;
let tables = 0;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_fn');
});

afterAll(async () => {
  await db.drop();
});

async function updateFunctionOf(table: string): Promise<string | undefined> {
  const { rows } = await db.pool.query<{ fn: string }>(
    `select p.proname as fn from pg_trigger t join pg_proc p on p.oid = t.tgfoid
     where t.tgrelid = $1::regclass and t.tgname = 'pgcascade_capture_update'`,
    [table],
  );
  return rows[0]?.fn;
}

it.each([
  ['bigint', `'42'`],
  ['uuid', `'0b6a7c1e-3f1d-4c55-9a57-3e2f6b1d2c11'`],
  ['char(6)', `'ab'`],
  ['timestamptz', `'2026-12-03 10:00:00+00'`],
  ['numeric', `'1.50'`],
])('names a %s row on update exactly as its insert named it', async (type, value) => {
  const table = `capture_fn.things_${tables++}`;
  await db.pool.query(`create table ${table} (id ${type} primary key, kind ${type}, n int)`);
  await db.pool.query(`select pgcascade.track($1, 'Thing', 'id', '{}', '{kind}')`, [table]);

  await db.pool.query(`insert into ${table} values (${value}, ${value}, 0)`);
  await db.pool.query(`update ${table} set n = n + 1`);
  await db.pool.query(`update ${table} set kind = null`);

  const [inserted, updated, moved] = await entriesOf(db.pool, table);
  const entity = inserted.entities[0];
  // The fast statement recorded the plain update, the general rules the moved row.
  expect(updated.tags).toEqual([entity]);
  expect(updated.entities).toEqual([entity]);
  const insertedKind = inserted.tags.find((t) => t.startsWith('Thing[kind='));
  expect(moved.tags).toEqual(expect.arrayContaining([entity, 'Thing[kind=null]', insertedKind]));
});

it('gives what the fast statement does not cover to the general rules', async () => {
  const table = `capture_fn.posts_${tables++}`;
  await db.pool.query(
    `create table ${table} (id bigint primary key, author_id bigint, published boolean, n int)`,
  );
  await db.pool.query(
    `select pgcascade.track($1, 'Post', 'id', '{"author_id": "User"}', '{published}')`,
    [table],
  );
  await db.pool.query(`insert into ${table} values (1, 5, true, 0), (2, 5, false, 0)`);

  await db.pool.query(`update ${table} set n = 1 where id = 1`);
  await db.pool.query(`update ${table} set n = 2`);
  await db.pool.query(`update ${table} set author_id = 6 where id = 1`);
  await db.pool.query(`update ${table} set id = 3 where id = 2`);
  await db.pool.query(`update ${table} set n = 3 where id = 99`);

  const entries = (await entriesOf(db.pool, table)).slice(1);
  expect(entries.map((e) => [e.tags, e.row_count])).toEqual([
    [['Post:1'], 1],
    [['Post:1', 'Post:2'], 2],
    [
      [
        'Post:1',
        'Post[author_id=5]',
        'Post[author_id=6]',
        'Post[published=true]',
        'User:5',
        'User:6',
      ],
      1,
    ],
    [['Post:2', 'Post:3', 'Post[]', 'Post[author_id=5]', 'Post[published=false]', 'User:5'], 1],
  ]);
});

// Capture turns rows into jsonb; a column named like the row's alias must not be taken for it.
it('names rows of a table whose columns are called n, o, x and y', async () => {
  const table = `capture_fn.letters_${tables++}`;
  await db.pool.query(`create table ${table} (id int primary key, n int, o int, x int, y int)`);
  await db.pool.query(`select pgcascade.track($1, 'Letter', 'id', '{}', '{n}')`, [table]);

  await db.pool.query(`insert into ${table} values (1, 1, 1, 1, 1)`);
  await db.pool.query(`update ${table} set n = 2, o = 2, x = 2, y = 2`);
  await db.pool.query(`delete from ${table}`);

  expect((await entriesOf(db.pool, table)).map((e) => [e.operation, e.tags])).toEqual([
    ['INSERT', ['Letter[]', 'Letter:1', 'Letter[n=1]']],
    ['UPDATE', ['Letter:1', 'Letter[n=1]', 'Letter[n=2]']],
    ['DELETE', ['Letter[]', 'Letter:1', 'Letter[n=2]']],
  ]);
});

it('tags every list of the type on a plain update when filters are unknown', async () => {
  const table = `capture_fn.notes_${tables++}`;
  await db.pool.query(`create table ${table} (id int primary key, body text)`);
  await db.pool.query(`select pgcascade.track($1, 'Note')`, [table]);
  await db.pool.query(`insert into ${table} values (1, 'a')`);

  await db.pool.query(`update ${table} set body = 'b'`);

  const [, updated] = await entriesOf(db.pool, table);
  expect(updated.tags).toEqual(['Note:1', 'Note[*]']);
});

it('fails an update after a list column is renamed, until track() runs again', async () => {
  const table = `capture_fn.renamed_${tables++}`;
  await db.pool.query(`create table ${table} (id int primary key, published boolean, n int)`);
  await db.pool.query(`select pgcascade.track($1, 'Post', 'id', '{}', '{published}')`, [table]);
  await db.pool.query(`insert into ${table} values (1, true, 0)`);
  await db.pool.query(`alter table ${table} rename column published to visible`);

  await expect(db.pool.query(`update ${table} set n = 1`)).rejects.toMatchObject({
    code: '42703',
  });
  await db.pool.query(`select pgcascade.track($1, 'Post', 'id', '{}', '{visible}')`, [table]);
  await db.pool.query(`update ${table} set visible = false`);

  const [, updated] = await entriesOf(db.pool, table);
  expect(updated.tags).toEqual(['Post:1', 'Post[visible=false]', 'Post[visible=true]']);
});

it('drops the generated function with untrack, and keeps one per table', async () => {
  const table = `capture_fn.dropped_${tables++}`;
  await db.pool.query(`create table ${table} (id int primary key)`);
  await db.pool.query(`select pgcascade.track($1, 'Thing')`, [table]);
  await db.pool.query(`select pgcascade.track($1, 'Thing')`, [table]);
  const fn = await updateFunctionOf(table);
  expect(fn).toMatch(/^capture_update_\d+$/);

  await db.pool.query('select pgcascade.untrack($1)', [table]);

  const { rows } = await db.pool.query(
    `select 1 from pg_proc where proname = $1 and pronamespace = 'pgcascade'::regnamespace`,
    [fn],
  );
  expect(rows).toEqual([]);
  const triggers = await db.pool.query(
    'select tgname from pg_trigger where tgrelid = $1::regclass',
    [table],
  );
  expect(triggers.rows).toEqual([]);
});

// The move flag --------------------------------------------------------------------

async function postsTable(): Promise<string> {
  const table = `capture_fn.moving_${tables++}`;
  await db.pool.query(`create table ${table} (id int primary key, published boolean, n int)`);
  await db.pool.query(`select pgcascade.track($1, 'Post', 'id', '{}', '{published}')`, [table]);
  await db.pool.query(`insert into ${table} values (1, true, 0), (2, true, 0)`);
  return table;
}

it('sees a row moved by a BEFORE trigger, not by the update itself', async () => {
  const table = await postsTable();
  await db.pool.query(`create function ${table}_hide() returns trigger language plpgsql as $$
    begin new.published := false; return new; end $$`);
  await db.pool.query(`create trigger hide before update on ${table}
    for each row execute function ${table}_hide()`);

  await db.pool.query(`update ${table} set n = 1 where id = 1`);

  const updated = (await entriesOf(db.pool, table))[1];
  expect(updated.tags).toEqual(['Post:1', 'Post[published=false]', 'Post[published=true]']);
});

it('keeps the move of a statement whose row trigger updates the same table again', async () => {
  const table = await postsTable();
  // Named to fire after pgcascade_capture_move, so the nested update runs once the outer
  // statement has flagged its move; clearing the flag there would hide that move.
  await db.pool.query(`create function ${table}_touch() returns trigger language plpgsql as $$
    begin
      if pg_trigger_depth() = 1 then
        update ${table} set n = n + 1 where id = 2;
      end if;
      return null;
    end $$`);
  await db.pool.query(`create trigger zz_touch after update on ${table}
    for each row execute function ${table}_touch()`);

  await db.pool.query(`update ${table} set published = false where id = 1`);

  const entries = (await entriesOf(db.pool, table)).slice(1);
  expect(entries.map((e) => e.tags)).toEqual([
    ['Post:2'],
    ['Post:1', 'Post[published=false]', 'Post[published=true]'],
  ]);
});

it('names every row of a many-row update that moves none, in one entry', async () => {
  const table = await postsTable();
  await db.pool.query(`insert into ${table} select g, g % 2 = 0, 0 from generate_series(3, 500) g`);

  await db.pool.query(`update ${table} set n = n + 1`);

  const updated = (await entriesOf(db.pool, table))[2];
  expect(updated.row_count).toBe(500);
  expect(updated.tags).toHaveLength(500);
  expect(updated.tags).toEqual(expect.arrayContaining(['Post:1', 'Post:250', 'Post:500']));
  expect(updated.tags.some((t) => t.includes('['))).toBe(false);
});

it('flags a move only within its transaction', async () => {
  const table = await postsTable();
  const client = await db.pool.connect();
  try {
    await client.query('begin');
    await client.query(`update ${table} set published = false where id = 1`);
    await client.query('commit');
    await client.query(`update ${table} set n = 1 where id = 1`);
    const flag = await client.query<{ flag: string | null }>(
      `select current_setting('pgcascade.moved_' || $1::regclass::oid, true) as flag`,
      [table],
    );
    expect(flag.rows[0].flag ?? '').toBe('');
  } finally {
    client.release();
  }

  const entries = (await entriesOf(db.pool, table)).slice(1);
  expect(entries.map((e) => e.tags)).toEqual([
    ['Post:1', 'Post[published=false]', 'Post[published=true]'],
    ['Post:1'],
  ]);
});

const CORE = path.join(__dirname, '../../sql/core');

/** Runs the core migrations whose names sort before `version` on a database of its own. */
async function withDatabaseBefore(
  version: string,
  suffix: string,
  test: (client: pg.Client, migrate: (file: string) => Promise<void>) => Promise<void>,
): Promise<void> {
  const name = `${db.name}_${suffix}`;
  await db.pool.query(`create database ${name}`);
  const client = new pg.Client(databaseUrl(name));
  await client.connect();
  const migrate = async (file: string) => {
    await client.query(fs.readFileSync(path.join(CORE, file), 'utf8'));
  };
  try {
    for (const file of fs
      .readdirSync(CORE)
      .filter((f) => f < version)
      .sort())
      await migrate(file);
    await test(client, migrate);
  } finally {
    await client.end();
    await db.pool.query(`drop database ${name} with (force)`);
  }
}

it('moves tables tracked before migration 004 onto generated functions', () =>
  withDatabaseBefore('004', 'upgrade4', async (client, migrate) => {
    await client.query('create table notes (id int primary key, n int)');
    await client.query(`select pgcascade.track('notes', 'Note', 'id', '{}', '{}')`);
    // Dropped without untrack: its row in pgcascade.tracked must not stop the migration.
    await client.query('create table gone (id int primary key)');
    await client.query(`select pgcascade.track('gone', 'Gone')`);
    await client.query('drop table gone');

    await migrate('004_fast_capture.sql');
    await migrate('005_move_flag.sql');
    await client.query('insert into notes values (1, 0)');
    await client.query('update notes set n = 1');

    const { rows } = await client.query(
      `select p.proname from pg_trigger t join pg_proc p on p.oid = t.tgfoid
       where t.tgrelid = 'notes'::regclass and t.tgname = 'pgcascade_capture_update'`,
    );
    expect(rows[0].proname).toMatch(/^capture_update_\d+$/);
    const tracked = await client.query('select relation::text from pgcascade.tracked');
    expect(tracked.rows).toEqual([{ relation: 'notes' }]);
    const audit = await client.query('select operation, tags from pgcascade.audit order by seq');
    expect(audit.rows).toEqual([
      { operation: 'INSERT', tags: ['Note[]', 'Note:1'] },
      { operation: 'UPDATE', tags: ['Note:1'] },
    ]);
  }));

it('gives tables tracked before migration 005 the move trigger', () =>
  withDatabaseBefore('005', 'upgrade5', async (client, migrate) => {
    await client.query('create table posts (id int primary key, published boolean, n int)');
    await client.query(`select pgcascade.track('posts', 'Post', 'id', '{}', '{published}')`);
    await client.query('insert into posts values (1, true, 0)');

    await migrate('005_move_flag.sql');
    await client.query('update posts set published = false');

    const { rows } = await client.query(
      `select tgname from pg_trigger where tgrelid = 'posts'::regclass order by tgname`,
    );
    expect(rows.map((r) => r.tgname)).toContain('pgcascade_capture_move');
    const audit = await client.query('select tags from pgcascade.audit order by seq');
    expect(audit.rows[1].tags).toEqual(['Post:1', 'Post[published=false]', 'Post[published=true]']);
  }));
