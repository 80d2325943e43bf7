/**
 * Per-test databases: each test file copies the migrated template into a database of
 * its own, so files run in parallel and in any order without sharing rows.
 */
import pg from 'pg';

/** The server the suite runs against (set by global-setup). */
export function adminUrl(): string {
  const url = process.env.PGC_TEST_ADMIN_URL;
  if (!url) throw new Error('PGC_TEST_ADMIN_URL is unset: run the suite through jest');
  return url;
}

/** The connection string of `database` on the suite's server. */
export function databaseUrl(database: string): string {
  const url = new URL(adminUrl());
  url.pathname = `/${database}`;
  return url.toString();
}

/** A database owned by one test file. */
export interface TestDatabase {
  name: string;
  url: string;
  /** A pool on it for the test's own queries (not the service's). */
  pool: pg.Pool;
  drop(): Promise<void>;
}

let counter = 0;

/** Copies the template into a new database; call drop() in afterAll. */
export async function createTestDatabase(): Promise<TestDatabase> {
  const template = process.env.PGC_TEST_TEMPLATE;
  if (!template) throw new Error('PGC_TEST_TEMPLATE is unset: run the suite through jest');
  const owner = template.replace('pgcascade_template_', '');
  const name = `pgcascade_t${process.pid}_${counter++}_${owner}`;
  const admin = new pg.Client(adminUrl());
  await admin.connect();
  try {
    await admin.query(`create database ${name} template ${template}`);
  } finally {
    await admin.end();
  }
  const url = databaseUrl(name);
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  // Tests terminate backends on purpose; an idle client that dies must not crash jest.
  pool.on('error', () => undefined);
  return {
    name,
    url,
    pool,
    drop: async () => {
      await pool.end();
      const client = new pg.Client(adminUrl());
      await client.connect();
      await client.query(`drop database if exists ${name} with (force)`);
      await client.end();
    },
  };
}
