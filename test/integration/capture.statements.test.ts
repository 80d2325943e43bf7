/**
 * Capture granularity: one audit entry per statement that changed rows, carrying the
 * writing transaction's xid, so the listener and reconciliation can group and order
 * entries by transaction. Each test writes to a table of its own.
 */
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connect, entriesOf } from '../helpers/capture';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_statements');
});

afterAll(async () => {
  await db.drop();
});

async function notes(name: string): Promise<string> {
  const table = `capture_statements.${name}`;
  await db.pool.query(`create table ${table} (id bigint primary key, body text)`);
  await db.pool.query(`select pgcascade.track($1, 'Note', filters => '{}')`, [table]);
  return table;
}

it('writes one entry per statement, with the number of rows it changed', async () => {
  const table = await notes('per_statement');

  await db.pool.query(`insert into ${table} values (1, 'a'), (2, 'b'), (3, 'c')`);
  await db.pool.query(`update ${table} set body = 'z' where id <= 2`);
  await db.pool.query(`delete from ${table}`);

  const entries = await entriesOf(db.pool, table);
  expect(entries.map((e) => [e.source, e.operation, e.row_count])).toEqual([
    ['trigger', 'INSERT', 3],
    ['trigger', 'UPDATE', 2],
    ['trigger', 'DELETE', 3],
  ]);
  expect(entries[0].entities.sort()).toEqual(['Note:1', 'Note:2', 'Note:3']);
  expect(entries[1].entities.sort()).toEqual(['Note:1', 'Note:2']);
});

it('writes nothing for a statement that changed no row', async () => {
  const table = await notes('no_rows');
  await db.pool.query(`insert into ${table} values (1, 'a')`);

  await db.pool.query(`update ${table} set body = 'b' where id = -1`);
  await db.pool.query(`delete from ${table} where id = -1`);
  await db.pool.query(`insert into ${table} select 2, 'b' where false`);

  expect((await entriesOf(db.pool, table)).map((e) => e.operation)).toEqual(['INSERT']);
});

it('gives every statement of one transaction that transaction xid', async () => {
  const table = await notes('one_xid');
  const client = await connect(db.url);

  try {
    await client.query('begin');
    await client.query(`insert into ${table} values (1, 'a')`);
    await client.query(`update ${table} set body = 'b'`);
    const { rows } = await client.query<{ xid: string }>(
      'select pg_current_xact_id()::text as xid',
    );
    await client.query('commit');
    await client.query(`update ${table} set body = 'c'`);

    const entries = await entriesOf(db.pool, table);
    expect(entries.map((e) => e.xid)).toEqual([rows[0].xid, rows[0].xid, expect.any(String)]);
    expect(entries[2].xid).not.toBe(rows[0].xid);
  } finally {
    await client.end();
  }
});

it('writes an entry for rows that a foreign key cascade deleted', async () => {
  const parents = await notes('fk_parents');
  const children = 'capture_statements.fk_children';
  await db.pool.query(
    `create table ${children} (
       id bigint primary key,
       note_id bigint references ${parents} on delete cascade)`,
  );
  await db.pool.query(`select pgcascade.track($1, 'Reply', parents => '{"note_id": "Note"}')`, [
    children,
  ]);
  await db.pool.query(`insert into ${parents} values (1, 'a'), (2, 'b')`);
  await db.pool.query(`insert into ${children} values (10, 1), (11, 1), (12, 2)`);

  await db.pool.query(`delete from ${parents}`);

  const deletes = async (table: string) =>
    (await entriesOf(db.pool, table)).filter((e) => e.operation === 'DELETE');
  const [parentDelete] = await deletes(parents);
  const childDeletes = await deletes(children);
  expect(childDeletes.flatMap((e) => e.entities).sort()).toEqual([
    'Reply:10',
    'Reply:11',
    'Reply:12',
  ]);
  expect(childDeletes.every((e) => e.xid === parentDelete.xid)).toBe(true);
});

it('writes an entry per kind of change an upsert made', async () => {
  const table = await notes('upsert');
  await db.pool.query(`insert into ${table} values (1, 'a')`);

  await db.pool.query(
    `insert into ${table} values (1, 'b'), (2, 'c')
     on conflict (id) do update set body = excluded.body`,
  );

  const entries = (await entriesOf(db.pool, table)).slice(1);
  expect(entries.map((e) => [e.operation, e.entities]).sort()).toEqual([
    ['INSERT', ['Note:2']],
    ['UPDATE', ['Note:1']],
  ]);
  expect(entries[0].xid).toBe(entries[1].xid);
});
