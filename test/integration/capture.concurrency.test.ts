/**
 * Capture under concurrent writers: exactly one audit entry per committed statement,
 * none for rolled-back ones, and a listener that alternates between busy and idle never
 * loses an entry committed while it was idle. Each test writes to a table of its own.
 */
import type pg from 'pg';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import {
  connect,
  entriesOf,
  listen,
  SKIPPED_WRITERS_LOCK,
  type TestListener,
} from '../helpers/capture';

const WRITERS = 8;
const STATEMENTS = 50;
const ROWS = 20;

let db: TestDatabase;
let writers: pg.Client[];
let listener: TestListener;

beforeAll(async () => {
  db = await createTestDatabase();
  await db.pool.query('create schema capture_concurrency');
});

beforeEach(async () => {
  writers = await Promise.all(Array.from({ length: WRITERS }, () => connect(db.url)));
  listener = await listen(db.url);
});

afterEach(async () => {
  await Promise.all([...writers.map((w) => w.end()), listener.close()]);
});

afterAll(async () => {
  await db.drop();
});

async function counters(name: string): Promise<string> {
  const table = `capture_concurrency.${name}`;
  await db.pool.query(`create table ${table} (id bigint primary key, counter bigint not null)`);
  await db.pool.query(`insert into ${table} select g, 0 from generate_series(1, $1) g`, [ROWS]);
  await db.pool.query(`select pgcascade.track($1, 'Counter', filters => '{}')`, [table]);
  return table;
}

/** One single-row update; returns the writing transaction's xid. */
async function increment(writer: pg.Client, table: string, id: number): Promise<string> {
  const { rows } = await writer.query<{ xid: string }>(
    `update ${table} set counter = counter + 1 where id = $1
     returning pg_current_xact_id()::text as xid`,
    [id],
  );
  return rows[0].xid;
}

describe.each([
  ['no listener is idle', false],
  ['a listener is idle', true],
])('while %s', (_while, idle) => {
  it(`${WRITERS} writers racing get one entry per committed statement`, async () => {
    const table = await counters(idle ? 'racing_idle' : 'racing_busy');
    if (idle) await listener.goIdle();
    const committed = new Map<string, string>();
    const rolledBack = new Set<string>();

    await Promise.all(
      writers.map(async (writer, w) => {
        for (let i = 0; i < STATEMENTS; i++) {
          const id = ((w * 7 + i * 3) % ROWS) + 1;
          // Every tenth statement runs in a transaction that rolls back.
          if (i % 10 === 9) {
            await writer.query('begin');
            rolledBack.add(await increment(writer, table, id));
            await writer.query('rollback');
          } else {
            committed.set(await increment(writer, table, id), `Counter:${id}`);
          }
        }
      }),
    );
    // A last write that every mode NOTIFYs: the barrier for those sent before it.
    await listener.goIdle();
    const barrierXid = await increment(writers[0], table, 1);

    const all = await entriesOf(db.pool, table);
    const barrier = all.find((e) => e.xid === barrierXid)!;
    const entries = all.filter((e) => e !== barrier);
    await listener.waitForSeq(barrier.seq);
    expect(entries).toHaveLength(WRITERS * STATEMENTS * 0.9);
    expect(new Set(entries.map((e) => e.seq)).size).toBe(entries.length);
    expect(new Map(entries.map((e) => [e.xid, e.entities[0]]))).toEqual(committed);
    expect(entries.filter((e) => rolledBack.has(e.xid))).toEqual([]);
    const notified = listener.seqs().filter((seq) => seq !== barrier.seq);
    if (idle) {
      expect(notified.sort()).toEqual(entries.map((e) => e.seq).sort());
    } else {
      // Writers that meet on the idle-listener lock take each other for a listener, so
      // the odd NOTIFY goes out anyway; it must still be for a committed entry.
      const seqs = new Set(entries.map((e) => e.seq));
      expect(notified.filter((seq) => !seqs.has(seq))).toEqual([]);
    }
  });
});

it('never lets an entry committed while the listener was idle go unannounced', async () => {
  const table = await counters('cycling');
  const unannounced: string[] = [];
  const committedWhileIdle: string[] = [];
  let cycles = 0;
  let enough = false;

  const visible = async () => {
    const { rows } = await listener.client.query<{ seq: string }>(
      'select seq::text from pgcascade.audit where relation = $1',
      [table],
    );
    return new Set(rows.map((r) => r.seq));
  };
  // The service's listener, reduced to its protocol: go idle, wait out the writers that
  // skipped, poll; stay idle a moment; poll again and go busy.
  const cycling = (async () => {
    while (!enough) {
      await listener.goIdle();
      await listener.client.query('select pg_advisory_lock($1)', [SKIPPED_WRITERS_LOCK]);
      await listener.client.query('select pg_advisory_unlock($1)', [SKIPPED_WRITERS_LOCK]);
      const atIdle = await visible();
      await listener.client.query('select pg_sleep(0.002)');
      const atBusy = await visible();
      await listener.goBusy();
      for (const seq of atBusy) if (!atIdle.has(seq)) committedWhileIdle.push(seq);
      cycles++;
      enough = cycles >= 30 && committedWhileIdle.length >= 100;
    }
  })();
  // Writers keep going until the idle windows have caught enough commits to judge by.
  await Promise.all(
    writers.map(async (writer, w) => {
      for (let i = 0; !enough && i < 2_000; i++) {
        await increment(writer, table, ((w * 7 + i * 3) % ROWS) + 1);
      }
    }),
  );
  enough = true;
  await cycling;
  await listener.goIdle();
  const barrierXid = await increment(writers[0], table, 1);
  const barrier = (await entriesOf(db.pool, table)).find((e) => e.xid === barrierXid)!;
  await listener.waitForSeq(barrier.seq);

  const announced = new Set(listener.seqs());
  for (const seq of committedWhileIdle) if (!announced.has(seq)) unannounced.push(seq);
  expect(committedWhileIdle.length).toBeGreaterThanOrEqual(100);
  expect(unannounced).toEqual([]);
});
