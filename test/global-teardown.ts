/** Drops the template database and stops the embedded server, if the suite started one. */
import fs from 'node:fs';
import pg from 'pg';
import type { EmbeddedServer } from '../src/db/embedded';
import { adminUrl } from './helpers/database';

export default async function globalTeardown(): Promise<void> {
  const state = (globalThis as { pgcascadeTestServer?: { server: EmbeddedServer; dir: string } })
    .pgcascadeTestServer;
  const client = new pg.Client(adminUrl());
  await client.connect();
  const { rows } = await client.query<{ datname: string }>(
    `select datname from pg_database where datname like 'pgcascade\\_t%\\_${process.pid}%'`,
  );
  for (const { datname } of rows) {
    await client.query(`drop database if exists ${datname} with (force)`);
  }
  await client.end();
  if (state) {
    await state.server.stop();
    fs.rmSync(state.dir, { recursive: true, force: true });
  }
}
