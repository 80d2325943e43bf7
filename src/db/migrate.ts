/**
 * Applies the numbered SQL files of a migration set (`sql/core`, `sql/demo`) in order,
 * each in its own transaction that also records it in pgcascade.migrations. A session
 * advisory lock makes concurrent start-ups wait for each other instead of racing.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type pg from 'pg';
import { PgcascadeError } from '../errors';
import type { Logger } from '../logger';
import { packageRoot } from '../paths';

/** A migration set shipped in `sql/<name>/`. */
export type MigrationSet = 'core' | 'demo';

// Any constant works; it only has to be the same for every instance.
const MIGRATION_LOCK_KEY = 7_013_440_001;

interface MigrationFile {
  version: number;
  name: string;
  file: string;
}

async function listMigrations(set: MigrationSet): Promise<MigrationFile[]> {
  const dir = path.join(packageRoot(), 'sql', set);
  const names = (await fs.readdir(dir)).filter((n) => /^\d{3}_.+\.sql$/.test(n)).sort();
  return names.map((name) => ({
    version: Number(name.slice(0, 3)),
    name,
    file: path.join(dir, name),
  }));
}

/**
 * Applies every migration of `set` not yet recorded, in order. Returns the names it
 * applied (empty when up to date). Uses one client for its whole run.
 */
export async function migrate(
  client: pg.ClientBase,
  set: MigrationSet,
  log: Logger,
): Promise<string[]> {
  const files = await listMigrations(set);
  const applied: string[] = [];

  await client.query('select pg_advisory_lock($1)', [MIGRATION_LOCK_KEY]);
  try {
    await client.query(`
      create schema if not exists pgcascade;
      create table if not exists pgcascade.migrations (
        migration_set text not null,
        version int not null,
        name text not null,
        applied_at timestamptz not null default now(),
        primary key (migration_set, version)
      )`);
    const { rows } = await client.query<{ version: number }>(
      'select version from pgcascade.migrations where migration_set = $1',
      [set],
    );
    const done = new Set(rows.map((r) => r.version));

    for (const migration of files) {
      if (done.has(migration.version)) continue;
      const sql = await fs.readFile(migration.file, 'utf8');
      await client.query('begin');
      try {
        await client.query(sql);
        await client.query(
          'insert into pgcascade.migrations (migration_set, version, name) values ($1, $2, $3)',
          [set, migration.version, migration.name],
        );
        await client.query('commit');
      } catch (error) {
        await client.query('rollback').catch(() => undefined);
        throw new PgcascadeError(
          'PGCASCADE_MIGRATION_FAILED',
          `migration ${set}/${migration.name} failed: ${(error as Error).message}`,
          { cause: error },
        );
      }
      log.info({ set, migration: migration.name }, 'migration applied');
      applied.push(migration.name);
    }
  } finally {
    await client
      .query('select pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY])
      .catch(() => undefined);
  }
  return applied;
}
