/**
 * One pg.Client used by several callers (the drain loop, sync reads, the heartbeat)
 * one query at a time, as node-postgres requires, while keeping track of how long the
 * current query has run: a query that never returns is how a stalled network shows.
 */
import type pg from 'pg';
import type { QueryConfig, QueryResult } from 'pg';
import type { Queryable } from './audit-cursor';

/** Serialises queries on a client and measures the one in flight. */
export class SerialClient implements Queryable {
  private tail: Promise<unknown> = Promise.resolve();
  private startedAt = 0;
  private pending = 0;
  /** When the last query finished (epoch ms). */
  lastDoneAt = Date.now();

  constructor(readonly client: pg.Client) {}

  /** Milliseconds the query in flight has been running; 0 when idle. */
  busyForMs(now = Date.now()): number {
    return this.startedAt === 0 ? 0 : now - this.startedAt;
  }

  /** Queries waiting or running. */
  get queued(): number {
    return this.pending;
  }

  query(text: string | QueryConfig, values?: unknown[]): Promise<QueryResult> {
    this.pending++;
    const run = async () => {
      this.startedAt = Date.now();
      try {
        return await this.client.query(text, values);
      } finally {
        this.startedAt = 0;
        this.lastDoneAt = Date.now();
        this.pending--;
      }
    };
    const result = this.tail.then(run, run);
    this.tail = result.catch(() => undefined);
    return result;
  }
}
