/**
 * The shared pool: an idle connection that the server terminates is logged as one line
 * with the error but not the client pg-pool attaches to it (~10 KB of connection state),
 * and the pool goes on serving queries.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { createPool } from '../../src/db/pool';
import { createTestDatabase, type TestDatabase } from '../helpers/database';
import { waitUntil } from '../helpers/wait';

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

it('logs a terminated idle connection without its client and keeps serving', async () => {
  const lines: string[] = [];
  const sink = new Writable({
    write(chunk, _encoding, done) {
      lines.push(String(chunk));
      done();
    },
  });
  const pool = createPool(
    { connectionString: db.url, applicationName: 'pool-idle-test' },
    pino(sink),
  );
  try {
    await pool.query('select 1');

    await db.pool.query(
      `select pg_terminate_backend(pid) from pg_stat_activity where application_name = $1`,
      ['pool-idle-test'],
    );
    await waitUntil(() => lines.length > 0, 'the pool logs the error');

    const logged = JSON.parse(lines[0]);
    expect(logged.msg).toBe('idle database connection failed');
    expect(logged.err).toMatchObject({ type: 'DatabaseError', code: '57P01' });
    expect(logged.err.client).toBeUndefined();
    expect(lines[0].length).toBeLessThan(3000);
    expect((await pool.query('select 2 as n')).rows).toEqual([{ n: 2 }]);
  } finally {
    await pool.end();
  }
});
