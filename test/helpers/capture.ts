/**
 * Helpers for the capture tests: sessions of their own, and a listener that plays the
 * service's part in the wake-up protocol so a test can see which commits sent a NOTIFY.
 * A wait that times out rejects with what did arrive, so a failure explains itself.
 */
import pg from 'pg';

/** Held shared by every idle listener; writers NOTIFY only while someone holds it. */
export const IDLE_LISTENER_LOCK = 7013440002;

/** Held shared until commit by every writer that skipped its NOTIFY. */
export const SKIPPED_WRITERS_LOCK = 7013440003;

/** A connected client outside any pool, for tests that need distinct sessions. */
export async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client(url);
  await client.connect();
  return client;
}

/** A session that LISTENs on `pgcascade` and records every payload it receives. */
export interface TestListener {
  client: pg.Client;
  /** Payloads in arrival order (commit order of the writers). */
  payloads: string[];
  /** The `s` (audit seq) of each payload so far, as strings like the seqs pg returns. */
  seqs(): string[];
  /** Takes the idle-listener lock shared: from now on writers must NOTIFY. */
  goIdle(): Promise<void>;
  /** Releases the idle-listener lock: writers may skip the NOTIFY again. */
  goBusy(): Promise<void>;
  /** Resolves with the payload for `seq`; rejects after `timeoutMs` (default 5000). */
  waitForSeq(seq: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

/** Opens a listener; it holds no lock until goIdle(). */
export async function listen(url: string): Promise<TestListener> {
  const client = await connect(url);
  const payloads: string[] = [];
  const waiters = new Set<() => void>();
  client.on('notification', (message) => {
    if (message.channel !== 'pgcascade') return;
    payloads.push(message.payload ?? '');
    for (const wake of waiters) wake();
  });
  await client.query('listen pgcascade');

  const seqOf = (payload: string) => String((JSON.parse(payload) as { s: number }).s);
  const seqs = () => payloads.map(seqOf);

  const waitForSeq = (seq: string, timeoutMs = 5000) =>
    new Promise<string>((resolve, reject) => {
      const check = () => {
        const found = payloads.find((p) => seqOf(p) === seq);
        if (found === undefined) return;
        waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`no NOTIFY for seq ${seq} in ${timeoutMs} ms; got [${seqs()}]`));
      }, timeoutMs);
      waiters.add(check);
      check();
    });

  return {
    client,
    payloads,
    seqs,
    goIdle: async () => {
      await client.query('select pg_advisory_lock_shared($1)', [IDLE_LISTENER_LOCK]);
    },
    goBusy: async () => {
      await client.query('select pg_advisory_unlock_shared($1)', [IDLE_LISTENER_LOCK]);
    },
    waitForSeq,
    close: () => client.end(),
  };
}

/** A pool or a single session: whatever a helper may run its query on. */
export type Queryable = pg.Pool | pg.ClientBase;

/** Whether another session could take `key` exclusively right now (released at once). */
export async function lockIsFree(client: pg.ClientBase, key: number): Promise<boolean> {
  const { rows } = await client.query<{ free: boolean }>(
    'select pg_try_advisory_lock($1) as free',
    [key],
  );
  if (rows[0].free) await client.query('select pg_advisory_unlock($1)', [key]);
  return rows[0].free;
}

/** The audit entries a relation's triggers wrote, oldest first. */
export async function entriesOf(client: Queryable, relation: string): Promise<AuditEntry[]> {
  const { rows } = await client.query<AuditEntry>(
    `select seq, xid::text, source, relation, operation, row_count::int, tags, entities
     from pgcascade.audit where relation = $1 order by seq`,
    [relation],
  );
  return rows;
}

/** One row of pgcascade.audit as the tests read it (seq and xid as strings). */
export interface AuditEntry {
  seq: string;
  xid: string;
  source: string;
  relation: string | null;
  operation: string | null;
  row_count: number | null;
  tags: string[];
  entities: string[];
}
