/**
 * Large changes: a statement that touches 10,000 rows writes one audit entry that names
 * every row, while its NOTIFY (PostgreSQL refuses payloads of 8000 bytes or more) shrinks
 * to the seq alone, so the listener reads the tags from the audit table instead.
 */
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connect, entriesOf, listen, type TestListener } from '../helpers/capture';

const ROWS = 10_000;

let db: TestDatabase;
let listener: TestListener;
let writer: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_large');
  listener = await listen(db.url);
  await listener.goIdle();
  writer = await connect(db.url);
});

afterAll(async () => {
  await listener.close();
  await writer.end();
  await db.drop();
});

async function counters(name: string): Promise<string> {
  const table = `capture_large.${name}`;
  await db.pool.query(`create table ${table} (id bigint primary key, counter bigint not null)`);
  await db.pool.query(`select pgcascade.track($1, 'Counter', filters => '{}')`, [table]);
  return table;
}

const everyEntity = () => Array.from({ length: ROWS }, (_, i) => `Counter:${i + 1}`).sort();

it('records a 10,000-row update as one entry that names every row', async () => {
  const table = await counters('update');
  await writer.query(`insert into ${table} select g, 0 from generate_series(1, $1) g`, [ROWS]);

  const result = await writer.query(`update ${table} set counter = counter + 1`);

  expect(result.rowCount).toBe(ROWS);
  const updates = (await entriesOf(db.pool, table)).filter((e) => e.operation === 'UPDATE');
  expect(updates).toHaveLength(1);
  expect(updates[0].row_count).toBe(ROWS);
  expect([...updates[0].tags].sort()).toEqual(everyEntity());
  expect([...updates[0].entities].sort()).toEqual(everyEntity());
});

it('wakes the listener with the seq alone, in a payload under 8000 bytes', async () => {
  const table = await counters('notify');
  await writer.query(`insert into ${table} select g, 0 from generate_series(1, $1) g`, [ROWS]);

  await writer.query(`update ${table} set counter = counter + 1`);

  const [, update] = await entriesOf(db.pool, table);
  const payload = await listener.waitForSeq(update.seq);
  expect(Buffer.byteLength(payload)).toBeLessThan(8000);
  expect(JSON.parse(payload)).toEqual({ s: Number(update.seq) });
});

// Rows that change a list column or their id take the general rules, which pair the old
// and new rows of the whole statement in one query (migration 006).
it('records a 10,000-row move as one entry with every list and parent', async () => {
  const table = 'capture_large.tasks';
  await db.pool.query(
    `create table ${table} (id bigint primary key, owner_id bigint, open boolean)`,
  );
  await db.pool.query(
    `select pgcascade.track($1, 'Task', 'id', '{"owner_id": "Owner"}', '{open}')`,
    [table],
  );
  await writer.query(`insert into ${table} select g, g % 100, true from generate_series(1, $1) g`, [
    ROWS,
  ]);

  await writer.query(`update ${table} set open = false, owner_id = owner_id + 100`);

  const owners = Array.from({ length: 200 }, (_, i) => i);
  const expected = [
    ...Array.from({ length: ROWS }, (_, i) => `Task:${i + 1}`),
    'Task[open=false]',
    'Task[open=true]',
    ...owners.map((o) => `Task[owner_id=${o}]`),
    ...owners.map((o) => `Owner:${o}`),
  ];
  const [, update] = await entriesOf(db.pool, table);
  expect(update.operation).toBe('UPDATE');
  expect(update.row_count).toBe(ROWS);
  expect([...update.tags].sort()).toEqual(expected.sort());
});

it('records a 10,000-row update of every id with both ids and the unfiltered list', async () => {
  const table = await counters('ids');
  await writer.query(`insert into ${table} select g, 0 from generate_series(1, $1) g`, [ROWS]);

  await writer.query(`update ${table} set id = id + $1`, [ROWS]);

  const [, update] = await entriesOf(db.pool, table);
  const ids = Array.from({ length: 2 * ROWS }, (_, i) => `Counter:${i + 1}`);
  expect([...update.tags].sort()).toEqual(['Counter[]', ...ids].sort());
  expect([...update.entities].sort()).toEqual([...ids].sort());
});

it('records a 10,000-row delete as one entry', async () => {
  const table = await counters('delete');
  await writer.query(`insert into ${table} select g, 0 from generate_series(1, $1) g`, [ROWS]);

  await writer.query(`delete from ${table}`);

  const deletes = (await entriesOf(db.pool, table)).filter((e) => e.operation === 'DELETE');
  expect(deletes).toHaveLength(1);
  expect([...deletes[0].tags].sort()).toEqual(['Counter[]', ...everyEntity()].sort());
});
