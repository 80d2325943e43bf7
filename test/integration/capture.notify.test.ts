/**
 * The wake-up protocol: writers NOTIFY only while some listener is idle, and a writer
 * that skipped holds the skipped-writers lock until it commits, so a listener going idle
 * can wait for it and then find its entry by polling. Each test has its own sessions.
 */
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import {
  connect,
  entriesOf,
  listen,
  lockIsFree,
  SKIPPED_WRITERS_LOCK,
  type TestListener,
} from '../helpers/capture';

let db: TestDatabase;
let listener: TestListener;
let writer: pg.Client;
let observer: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_notify');
});

beforeEach(async () => {
  listener = await listen(db.url);
  writer = await connect(db.url);
  observer = await connect(db.url);
});

afterEach(async () => {
  await Promise.all([listener.close(), writer.end(), observer.end()]);
});

afterAll(async () => {
  await db.drop();
});

async function notes(name: string): Promise<string> {
  const table = `capture_notify.${name}`;
  await db.pool.query(`create table ${table} (id bigint primary key, body text)`);
  await db.pool.query(`select pgcascade.track($1, 'Note', filters => '{}')`, [table]);
  return table;
}

async function lastSeq(table: string): Promise<string> {
  const entries = await entriesOf(db.pool, table);
  return entries[entries.length - 1].seq;
}

it('sends no NOTIFY while no listener is idle, and one as soon as a listener is', async () => {
  const table = await notes('skip_then_send');

  await writer.query(`insert into ${table} values (1, 'unheard')`);
  const skipped = await lastSeq(table);
  await listener.goIdle();
  await writer.query(`insert into ${table} values (2, 'heard')`);
  const sent = await lastSeq(table);

  // NOTIFYs arrive in commit order: had the first write sent one, it would come first.
  await listener.waitForSeq(sent);
  expect(listener.seqs()).toEqual([sent]);
  expect(skipped).not.toBe(sent);
});

it('tells an idle listener the seq and the tags of the entry', async () => {
  const table = await notes('payload');
  await listener.goIdle();

  await writer.query(`insert into ${table} values (7, 'a')`);

  const [entry] = await entriesOf(db.pool, table);
  const payload = JSON.parse(await listener.waitForSeq(entry.seq));
  expect(payload).toMatchObject({ s: Number(entry.seq), t: entry.tags });
});

it('holds the skipped-writers lock from a skipped NOTIFY until commit', async () => {
  const table = await notes('skipped_lock');
  expect(await lockIsFree(observer, SKIPPED_WRITERS_LOCK)).toBe(true);

  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'a')`);
  const heldWhileOpen = await lockIsFree(observer, SKIPPED_WRITERS_LOCK);
  await writer.query('commit');

  expect(heldWhileOpen).toBe(false);
  expect(await lockIsFree(observer, SKIPPED_WRITERS_LOCK)).toBe(true);
});

it('leaves the skipped-writers lock alone when it sends the NOTIFY', async () => {
  const table = await notes('sent_lock');
  await listener.goIdle();

  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'a')`);
  const freeWhileOpen = await lockIsFree(observer, SKIPPED_WRITERS_LOCK);
  await writer.query('commit');

  expect(freeWhileOpen).toBe(true);
  await listener.waitForSeq(await lastSeq(table));
});

it('lets a listener going idle wait for a skipping writer and then poll its entry', async () => {
  const table = await notes('going_idle');
  await writer.query('begin');
  await writer.query(`insert into ${table} values (1, 'a')`);

  const { rows: pids } = await listener.client.query<{ pid: number }>(
    'select pg_backend_pid() as pid',
  );
  await listener.goIdle();
  let granted = false;
  const waiting = listener.client
    .query('select pg_advisory_lock($1)', [SKIPPED_WRITERS_LOCK])
    .then(() => (granted = true));
  await untilWaitingForLock(pids[0].pid);
  expect(granted).toBe(false);
  await writer.query('commit');
  await waiting;

  const { rows } = await listener.client.query(
    'select seq::text from pgcascade.audit where relation = $1',
    [table],
  );
  expect(rows).toHaveLength(1);
  await listener.client.query('select pg_advisory_unlock($1)', [SKIPPED_WRITERS_LOCK]);
  // Writers that came after the listener went idle NOTIFY instead of skipping.
  await writer.query(`insert into ${table} values (2, 'b')`);
  await listener.waitForSeq(await lastSeq(table));
});

it('makes a writer NOTIFY rather than wait for a listener that is going idle', async () => {
  const table = await notes('no_waiting');
  // Stands for a listener that went idle between the writer's two checks: it holds the
  // idle-listener lock as well, but this writer looked at that one before it was taken.
  await observer.query('select pg_advisory_lock($1)', [SKIPPED_WRITERS_LOCK]);
  await writer.query(`set statement_timeout = '5s'`);

  await writer.query(`insert into ${table} values (1, 'a')`);

  await listener.waitForSeq(await lastSeq(table));
  await observer.query('select pg_advisory_unlock($1)', [SKIPPED_WRITERS_LOCK]);
});

/** Resolves once the session `pid` waits for an advisory lock (polls pg_locks). */
async function untilWaitingForLock(pid: number): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    const { rows } = await observer.query(
      `select 1 from pg_locks where pid = $1 and locktype = 'advisory' and not granted`,
      [pid],
    );
    if (rows.length > 0) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`session ${pid} never waited for an advisory lock`);
}
