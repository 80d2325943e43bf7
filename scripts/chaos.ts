/**
 * Chaos test: the load of scripts/load.ts while the listener's backend is killed,
 * PostgreSQL is restarted and a 10,000-row update floods the audit trail. Runs on an
 * embedded PostgreSQL of its own (it restarts it), prints detection and repair times
 * and stale reads; --json and --html save the results.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded';
import { silentLogger } from '../src/logger';
import { urlFor, wall, writeJson } from './bench-report';
import {
  machineDescription,
  parseLoadOptions,
  prepareDatabase,
  printSummary,
  runOnce,
  type ServerHandle,
} from './load';
import { renderReport } from './report-html';

interface Incident {
  name: string;
  atMs: number;
  /** The listener noticed (disconnected event), ms after the incident. */
  detectedMs?: number;
  /** The listener was back (connected event), ms after the incident. */
  recoveredMs?: number;
  /** For the flood: commit → its entry applied. */
  appliedMs?: number;
  note?: string;
}

async function main(): Promise<void> {
  const options = parseLoadOptions(['--seconds', '30', '--rate', '500', ...process.argv.slice(2)]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgcascade-chaos-'));
  fs.chmodSync(dir, 0o755);
  const server = await startEmbeddedPostgres(
    { dataDir: path.join(dir, 'data'), temporary: true },
    silentLogger,
  );
  const database = 'pgcascade_chaos';
  const incidents: Incident[] = [];
  try {
    process.stderr.write(`seeding ${options.users} users...\n`);
    const posts = await prepareDatabase(server.url, database, options.users);
    const url = urlFor(server.url, database);
    const admin = new pg.Pool({ connectionString: server.url, max: 2 });
    admin.on('error', () => undefined);
    const third = Math.floor(options.seconds / 4);
    let service: ServerHandle | undefined;

    const killListener = async () => {
      const incident: Incident = { name: 'listener backend killed', atMs: wall() };
      incidents.push(incident);
      await admin.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
         where datname = $1 and application_name = 'pgcascade-listener'`,
        [database],
      );
    };
    const restart = async () => {
      const incident: Incident = { name: 'PostgreSQL restarted', atMs: wall() };
      incidents.push(incident);
      await server.restart();
      incident.note = `server down for ${(wall() - incident.atMs).toFixed(0)} ms`;
    };
    const flood = async () => {
      const incident: Incident = { name: '10,000-row update', atMs: wall() };
      incidents.push(incident);
      const client = new pg.Client(url);
      await client.connect();
      const results = (await client.query(
        `begin; update demo.comments set body = body || '.' where id <= 10000;
         select max(seq)::bigint as seq from pgcascade.audit where xid = pg_current_xact_id();
         commit;`,
      )) as unknown as pg.QueryResult[];
      const committed = wall();
      await client.end();
      const seq = Number(results[2].rows[0].seq);
      incident.note = `update took ${(committed - incident.atMs).toFixed(0)} ms`;
      const deadline = wall() + 10_000;
      while (!service?.applied.has(seq) && wall() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      const at = service?.applied.get(seq);
      if (at !== undefined) incident.appliedMs = at - committed;
    };

    const failures: unknown[] = [];
    const { summary, server: handle } = await runOnce(
      'chaos',
      url,
      posts,
      options,
      { PGCASCADE_RECONCILE_INTERVAL_MS: '1000' },
      (s, second) => {
        service = s;
        const run = (work: () => Promise<void>) => void work().catch((e) => failures.push(e));
        if (second === third) run(killListener);
        if (second === 2 * third) run(restart);
        if (second === 3 * third) run(flood);
      },
    );
    await admin.end();

    for (const incident of incidents) {
      const after = handle.listenerEvents.filter((e) => e.atMs >= incident.atMs);
      const lost = after.find((e) => e.event === 'disconnected');
      const back = after.find((e) => e.event === 'connected');
      if (incident.name !== '10,000-row update') {
        if (lost) incident.detectedMs = lost.atMs - incident.atMs;
        if (back) incident.recoveredMs = back.atMs - incident.atMs;
      }
    }
    printSummary(summary);
    console.log('\nincidents');
    for (const i of incidents) {
      const parts = [
        i.detectedMs !== undefined ? `detected after ${i.detectedMs.toFixed(0)} ms` : '',
        i.recoveredMs !== undefined ? `listener back after ${i.recoveredMs.toFixed(0)} ms` : '',
        i.appliedMs !== undefined ? `applied ${i.appliedMs.toFixed(0)} ms after commit` : '',
        i.note ?? '',
      ].filter(Boolean);
      console.log(
        `  at ${((i.atMs - incidents[0].atMs) / 1000 + third).toFixed(1)} s: ${i.name}: ${parts.join(', ')}`,
      );
    }
    if (failures.length) console.log(`  incident errors: ${failures.map(String).join('; ')}`);
    console.log(`stale reads: ${summary.staleReads} (target 0)`);
    const result = { options, machine: machineDescription(), summary, incidents };
    if (options.json) writeJson(options.json, result);
    if (options.html) renderReport(options.html, 'pgcascade chaos', [summary]);
  } finally {
    await server.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error) => {
  console.error(`chaos: ${(error as Error).stack}`);
  process.exit(1);
});
