/**
 * Starts the suite's PostgreSQL (DATABASE_URL, else a temporary embedded server) and
 * builds a template database with every migration applied, which each test file copies.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded';
import { migrate } from '../src/db/migrate';
import { silentLogger } from '../src/logger';
import globalTeardown from './global-teardown';
import { adminUrl, databaseUrl } from './helpers/database';

export default async function globalSetup(): Promise<void> {
  let admin = process.env.DATABASE_URL;
  if (!admin) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgcascade-test-'));
    // As root the server runs as the postgres user, which must reach its data dir.
    fs.chmodSync(dir, 0o755);
    const server = await startEmbeddedPostgres(
      { dataDir: path.join(dir, 'data'), temporary: true },
      silentLogger,
    );
    (globalThis as { pgcascadeTestServer?: unknown }).pgcascadeTestServer = { server, dir };
    admin = server.url;
  }
  process.env.PGC_TEST_ADMIN_URL = admin;

  const template = `pgcascade_template_${process.pid}`;
  process.env.PGC_TEST_TEMPLATE = template;
  const client = new pg.Client(adminUrl());
  await client.connect();
  await client.query(`drop database if exists ${template}`);
  await client.query(`create database ${template}`);
  await client.end();

  const templateClient = new pg.Client(databaseUrl(template));
  await templateClient.connect();
  try {
    await migrate(templateClient, 'core', silentLogger);
    await migrate(templateClient, 'demo', silentLogger);
  } catch (error) {
    // Jest skips the teardown when the setup fails (a broken migration): run it here, so
    // that neither the template nor an embedded server is left behind.
    await templateClient.end();
    await globalTeardown();
    throw error;
  }
  await templateClient.end();
}
