/**
 * The shared connection pool for reads, writes and reconciliation. LISTEN never runs
 * here (see delivery/listener.ts). A pool error on an idle client is logged, not thrown:
 * the pool replaces the client, and the next query reports any lasting failure.
 */
import pg from 'pg';
import type { Logger } from '../logger';

// bigint (int8) ids come back as strings, which is what GraphQL's ID wants.
// count(*) and sequences also come back as strings; callers convert where needed.

/** Options for {@link createPool}. */
export interface PoolOptions {
  /** Connection string of the primary. */
  connectionString: string;
  /** Most connections open at once. Default 10. */
  max?: number;
  /** application_name shown in pg_stat_activity. Default `pgcascade`. */
  applicationName?: string;
  /** Give up connecting after this long, in milliseconds. Default 5000. */
  connectTimeoutMs?: number;
  /**
   * True once the service is stopping: idle connections that fail then are expected (a
   * terminal's Ctrl-C also reaches an embedded server, which closes them) and are logged
   * at debug level. Default: never.
   */
  stopping?: () => boolean;
}

/** Creates the pool; queries fail fast rather than hang when the database is gone. */
export function createPool(options: PoolOptions, log: Logger): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.connectionString,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'pgcascade',
    connectionTimeoutMillis: options.connectTimeoutMs ?? 5000,
    idleTimeoutMillis: 30_000,
  });
  // pg-pool attaches the failed client to the error; logged with it, a line is ~10 KB.
  pool.on('error', (error: Error & { client?: unknown }) => {
    delete error.client;
    if (options.stopping?.()) log.debug({ err: error }, 'idle database connection closed');
    else log.warn({ err: error }, 'idle database connection failed');
  });
  return pool;
}

/** Checks that the database answers, so start-up fails with one clear line if it does not. */
export async function checkConnection(connectionString: string, timeoutMs = 5000): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: timeoutMs });
  try {
    await client.connect();
    await client.query('select 1');
  } finally {
    await client.end().catch(() => undefined);
  }
}
