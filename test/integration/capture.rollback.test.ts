/**
 * Guarantee 7: a rolled-back write leaves no audit entry and wakes no listener. Each test
 * keeps an idle listener, so every write that commits must reach it; a committed write
 * after the rolled-back one is the barrier, as NOTIFYs arrive in commit order.
 */
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { connect, entriesOf, listen, type TestListener } from '../helpers/capture';

let db: TestDatabase;
let listener: TestListener;
let writer: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_rollback');
});

beforeEach(async () => {
  listener = await listen(db.url);
  await listener.goIdle();
  writer = await connect(db.url);
});

afterEach(async () => {
  await listener.close();
  await writer.end();
});

afterAll(async () => {
  await db.drop();
});

async function notes(name: string, extraColumns = ''): Promise<string> {
  const table = `capture_rollback.${name}`;
  await db.pool.query(`create table ${table} (id bigint primary key, body text ${extraColumns})`);
  await db.pool.query(`select pgcascade.track($1, 'Note')`, [table]);
  return table;
}

/** Commits a write and returns the seq of its entry, once the listener has its NOTIFY. */
async function committedWrite(table: string, id: number): Promise<string> {
  await writer.query(`insert into ${table} (id, body) values ($1, 'barrier')`, [id]);
  const entries = await entriesOf(db.pool, table);
  const seq = entries[entries.length - 1].seq;
  await listener.waitForSeq(seq);
  return seq;
}

it('leaves no entry and sends no NOTIFY when the transaction rolls back', async () => {
  const table = await notes('rolled_back');

  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'a')`);
  // Inside the transaction the entry exists: the capture ran, and the rollback undoes it.
  const { rows } = await writer.query('select seq from pgcascade.audit where relation = $1', [
    table,
  ]);
  expect(rows).toHaveLength(1);
  await writer.query('rollback');
  const barrier = await committedWrite(table, 2);

  expect(listener.seqs()).toEqual([barrier]);
  expect((await entriesOf(db.pool, table)).map((e) => e.seq)).toEqual([barrier]);
});

it('keeps only the statements that survive a rollback to a savepoint', async () => {
  const table = await notes('savepoint');

  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'kept')`);
  await writer.query('savepoint undo');
  await writer.query(`insert into ${table} values (2, 'undone')`);
  await writer.query('rollback to savepoint undo');
  await writer.query('commit');

  const entries = await entriesOf(db.pool, table);
  expect(entries.map((e) => e.entities)).toEqual([['Note:1']]);
  await listener.waitForSeq(entries[0].seq);
  const barrier = await committedWrite(table, 3);
  expect(listener.seqs()).toEqual([entries[0].seq, barrier]);
});

it('leaves no entry and sends no NOTIFY when the commit itself fails', async () => {
  const table = await notes('failed_commit', ', code int unique deferrable initially deferred');

  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'a', 7), (2, 'b', 7)`);
  await expect(writer.query('commit')).rejects.toMatchObject({ code: '23505' });
  const barrier = await committedWrite(table, 3);

  expect(listener.seqs()).toEqual([barrier]);
  expect((await entriesOf(db.pool, table)).map((e) => e.seq)).toEqual([barrier]);
});
