/**
 * Capture overhead benchmark (not a test): concurrent single-row autocommit updates on an
 * untracked table and an identically shaped tracked one, in alternating phases, without
 * and with an idle listener (then every write must NOTIFY). Prints tx/s and their ratios.
 * With --floor it also measures what any statement trigger that records rows costs (the
 * floor under capture). Needs DATABASE_URL; applies the core migrations, works in schema
 * bench_capture and drops it.
 */
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrate';
import { Delivery } from '../src/delivery/delivery';
import { EventBus } from '../src/events';
import { silentLogger } from '../src/logger';

const IDLE_LISTENER_LOCK = 7013440002;
const WRITER_APP = 'bench-capture-writer';
// Linux reports process CPU time in clock ticks of 1/100 s (USER_HZ).
const TICKS_PER_SECOND = 100;
const SCHEMA = 'bench_capture';
const TABLES = {
  untracked: `${SCHEMA}.untracked`,
  tracked: `${SCHEMA}.tracked`,
  empty: `${SCHEMA}.floor_empty`,
  insert: `${SCHEMA}.floor_insert`,
  scan: `${SCHEMA}.floor_scan`,
} as const;
type Table = keyof typeof TABLES;
// The floor: statement triggers with both transition tables, as capture's, doing less.
type Floor = 'empty' | 'insert' | 'scan';
const FLOORS: Record<Floor, { label: string; body: string }> = {
  empty: { label: 'trigger that returns at once', body: '' },
  insert: {
    label: 'trigger inserting a constant row',
    body: `insert into ${SCHEMA}.floor_log (keys) values ('{x}');`,
  },
  scan: {
    label: "trigger inserting the new rows' ids",
    body: `insert into ${SCHEMA}.floor_log (keys) select array_agg(id::text) from new_rows;`,
  },
};
// none: nothing listens; idle: a session that stays idle, so every write NOTIFYs (the
// worst case); service: pgcascade's own listener, draining under load as in production.
type ListenerMode = 'none' | 'idle' | 'service';
const MODES: readonly ListenerMode[] = ['none', 'idle', 'service'];
const MODE_LABELS: Record<ListenerMode, string> = {
  none: 'no listener',
  idle: 'idle listener',
  service: 'pgcascade listener',
};

interface Options {
  /** Length of each measured phase, in seconds. Default 10. */
  seconds: number;
  /** Untracked/tracked pairs per listener mode. Default 2. */
  rounds: number;
  /** Concurrent writers. Default 8. */
  clients: number;
  /** Rows in each table; each update picks one at random. Default 100,000. */
  rows: number;
  /** Load generator; `auto` uses pgbench when it runs. */
  driver: 'auto' | 'pgbench' | 'node';
  /** Also measure the floor triggers against the untracked table. Default off. */
  floor: boolean;
}

interface PhaseResult {
  mode: ListenerMode;
  table: Table;
  tps: number;
  transactions: number;
  /** Server CPU per transaction of the writers' backends, in µs; undefined if remote. */
  cpuMicros: number | undefined;
  entries: number;
  notifies: number;
  /** Share of this machine's CPU time its hypervisor took (steal) during the phase. */
  steal: number | undefined;
}

const USAGE = `usage: DATABASE_URL=postgres://... scripts/bench-capture [--seconds 10] [--rounds 2]
       [--clients 8] [--rows 100000] [--driver auto|pgbench|node] [--floor]`;

function parseOptions(argv: string[]): Options {
  const options: Options = {
    seconds: 10,
    rounds: 2,
    clients: 8,
    rows: 100_000,
    driver: 'auto',
    floor: false,
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const key = flag?.replace(/^--/, '');
    if (key === 'floor') {
      options.floor = true;
      i--;
    } else if (key === 'driver' && (value === 'auto' || value === 'pgbench' || value === 'node')) {
      options.driver = value;
    } else if (key === 'seconds' || key === 'rounds' || key === 'clients' || key === 'rows') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) fail(`${flag} wants a positive integer, got ${value}`);
      options[key] = n;
    } else {
      fail(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return options;
}

function fail(message: string): never {
  console.error(`bench-capture: ${message}`);
  process.exit(2);
}

async function query(client: pg.ClientBase, sql: string, values?: unknown[]) {
  return (await client.query(sql, values)).rows;
}

async function setUp(admin: pg.Client, options: Options): Promise<void> {
  const { rows } = options;
  await dropSchema(admin);
  await admin.query(`create schema ${SCHEMA}`);
  const tables = options.floor ? Object.values(TABLES) : [TABLES.untracked, TABLES.tracked];
  for (const table of tables) {
    // pgbench_accounts' shape: a key, a group, the counter, and a filler that pads the row.
    await admin.query(`create table ${table} (
      id bigint primary key, group_id bigint not null, counter bigint not null default 0,
      filler char(84) not null default '')`);
    await admin.query(
      `insert into ${table} (id, group_id) select g, g % 1000 from generate_series(1, $1) g`,
      [rows],
    );
    await admin.query(`vacuum analyze ${table}`);
  }
  await admin.query(
    `select pgcascade.track($1, 'BenchRow', 'id', '{"group_id": "BenchGroup"}', '{}')`,
    [TABLES.tracked],
  );
  if (options.floor) await setUpFloor(admin);
}

/** The floor triggers, on tables of their own; they log into a one-index table. */
async function setUpFloor(admin: pg.Client): Promise<void> {
  await admin.query(`create table ${SCHEMA}.floor_log (
    seq bigint generated always as identity primary key, keys text[] not null)`);
  for (const [floor, { body }] of Object.entries(FLOORS)) {
    await admin.query(`create function ${SCHEMA}.floor_${floor}() returns trigger
      language plpgsql as $$ begin ${body} return null; end $$`);
    await admin.query(`create trigger floor after update on ${TABLES[floor as Floor]}
      referencing old table as old_rows new table as new_rows for each statement
      execute function ${SCHEMA}.floor_${floor}()`);
  }
}

async function dropSchema(admin: pg.Client): Promise<number> {
  await admin.query(`select pgcascade.untrack(relation) from pgcascade.tracked
    where relation::text like '${SCHEMA}.%'`);
  await admin.query(`drop schema if exists ${SCHEMA} cascade`);
  const { rowCount } = await admin.query('delete from pgcascade.audit where relation = $1', [
    TABLES.tracked,
  ]);
  return rowCount ?? 0;
}

function pgbenchVersion(): string | undefined {
  const run = spawnSync('pgbench', ['--version'], { encoding: 'utf8' });
  return run.status === 0 ? run.stdout.trim() : undefined;
}

/** Runs pgbench without blocking the event loop, so the listener keeps reading. */
function runPgbench(url: string, script: string, options: Options, seconds: number) {
  const args = ['-n', '-f', script, '-c', String(options.clients), '-T', String(seconds)];
  args.push('-j', String(Math.min(2, options.clients)), '-D', `rows=${options.rows}`, url);
  return new Promise<{ tps: number; transactions: number }>((resolve, reject) => {
    const env = { ...process.env, PGAPPNAME: WRITER_APP };
    const child = spawn('pgbench', args, { stdio: ['ignore', 'pipe', 'pipe'], env });
    let out = '';
    child.stdout.on('data', (chunk) => (out += chunk));
    child.stderr.on('data', (chunk) => (out += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(out);
      const done = /number of transactions actually processed: (\d+)/.exec(out);
      const failed = /number of failed transactions: (\d+)/.exec(out);
      if (code !== 0 || !tps || !done || (failed && failed[1] !== '0')) {
        reject(new Error(`pgbench failed (exit ${code}):\n${out}`));
      } else {
        resolve({ tps: Number(tps[1]), transactions: Number(done[1]) });
      }
    });
  });
}

/** The fallback load generator: one pg client per writer, each in a tight loop. */
async function runNode(url: string, table: string, options: Options, seconds: number) {
  const clients = await Promise.all(
    Array.from({ length: options.clients }, async () => {
      const client = new pg.Client({ connectionString: url, application_name: WRITER_APP });
      await client.connect();
      return client;
    }),
  );
  const text = `update ${table} set counter = counter + 1 where id = $1`;
  let transactions = 0;
  const started = process.hrtime.bigint();
  const deadline = Date.now() + seconds * 1000;
  try {
    await Promise.all(
      clients.map(async (client) => {
        while (Date.now() < deadline) {
          const id = 1 + Math.floor(Math.random() * options.rows);
          await client.query({ name: 'bench', text, values: [id] });
          transactions++;
        }
      }),
    );
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
  const elapsed = Number(process.hrtime.bigint() - started) / 1e9;
  return { tps: transactions / elapsed, transactions };
}

/** This machine's CPU time so far from /proc/stat: all of it, and the stolen part. */
function machineTicks(): { total: number; steal: number } | undefined {
  try {
    const line = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0];
    // cpu user nice system idle iowait irq softirq steal ...
    const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number);
    return { total: ticks.reduce((sum, t) => sum + t, 0), steal: ticks[7] };
  } catch {
    return undefined;
  }
}

/** CPU seconds the local process `pid` has used so far, or undefined if it is gone. */
function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

const WRITER_PIDS = 'select pid from pg_stat_activity where application_name = $1';

/**
 * Follows the CPU time of the writers' backends through a phase; returns a function that
 * stops and gives their total in seconds. CPU per transaction moves much less than tx/s
 * when other work shares the machine. Needs the server on this host (/proc); what a
 * backend uses after the last sample (under 50 ms) is not counted.
 */
function sampleWriterCpu(sampler: pg.Client) {
  const latest = new Map<number, number>();
  let running = true;
  const sampling = (async () => {
    while (running) {
      const rows = await query(sampler, WRITER_PIDS, [WRITER_APP]);
      for (const { pid } of rows) {
        const cpu = cpuSeconds(pid);
        if (cpu !== undefined) latest.set(pid, cpu);
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  })();
  return async (): Promise<number> => {
    running = false;
    await sampling;
    return [...latest.values()].reduce((sum, cpu) => sum + cpu, 0);
  };
}

/** Pads each value to its width: negative widths align left, positive ones right. */
function columns(values: (string | number)[], widths: number[]): string {
  return values
    .map((v, i) => (widths[i] < 0 ? String(v).padEnd(-widths[i]) : String(v).padStart(widths[i])))
    .join('  ');
}

const LAST_SEQ = 'select coalesce(max(seq), 0)::text as seq from pgcascade.audit';
const ENTRIES_SINCE =
  'select count(*)::int as n from pgcascade.audit where seq > $1 and relation = $2';

/** The database and sessions one run uses. */
interface Bench {
  url: string;
  options: Options;
  driver: 'pgbench' | 'node';
  admin: pg.Client;
  listener: pg.Client;
  scripts: Record<Table, string>;
  /** Whether the server runs on this host, so /proc shows its backends' CPU time. */
  local: boolean;
  /** NOTIFYs the listener received since the current phase began. */
  notifies: number;
}

async function phase(bench: Bench, mode: ListenerMode, table: Table, seconds: number) {
  // Each phase starts from a fresh checkpoint, so none pays for another's dirty pages.
  await bench.admin.query('checkpoint').catch(() => undefined);
  const [before] = await query(bench.admin, LAST_SEQ);
  bench.notifies = 0;
  const cpu = sampleWriterCpu(bench.admin);
  const ticksBefore = machineTicks();
  const run =
    bench.driver === 'pgbench'
      ? await runPgbench(bench.url, bench.scripts[table], bench.options, seconds)
      : await runNode(bench.url, TABLES[table], bench.options, seconds);
  const cpuSecondsUsed = await cpu();
  const ticksAfter = machineTicks();
  const steal =
    ticksBefore && ticksAfter && ticksAfter.total > ticksBefore.total
      ? (ticksAfter.steal - ticksBefore.steal) / (ticksAfter.total - ticksBefore.total)
      : undefined;
  // A round trip lets the listener's backend hand over what it still holds.
  await bench.listener.query('select 1');
  const [after] = await query(bench.admin, ENTRIES_SINCE, [before.seq, TABLES.tracked]);
  const cpuMicros = bench.local ? (cpuSecondsUsed / run.transactions) * 1e6 : undefined;
  const result: PhaseResult = {
    mode,
    table,
    ...run,
    cpuMicros,
    entries: after.n,
    notifies: bench.notifies,
    steal,
  };
  return result;
}

async function setIdle(listener: pg.Client, idle: boolean): Promise<void> {
  const fn = idle ? 'pg_advisory_lock_shared' : 'pg_advisory_unlock_shared';
  await listener.query(`select ${fn}($1)`, [IDLE_LISTENER_LOCK]);
}

/** pgcascade's delivery (listener and reconciliation) with a cache that holds nothing. */
async function startListener(url: string): Promise<{ stop(): Promise<void> }> {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const delivery = new Delivery(
    {
      connectionString: url,
      instanceId: 'bench-capture',
      reconcileIntervalMs: 1000,
      auditRetentionSeconds: 0,
    },
    pool,
    { invalidate: () => 0 },
    new EventBus(),
    silentLogger,
  );
  await delivery.start();
  return {
    stop: async () => {
      await delivery.stop();
      await pool.end();
    },
  };
}

const micros = (value: number | undefined) => (value === undefined ? 'n/a' : value.toFixed(0));

async function runPhases(bench: Bench): Promise<PhaseResult[]> {
  const widths = [5, -19, -10, 7, 12, 11, 13, 7, 7];
  const results: PhaseResult[] = [];
  const header = ['phase', 'listener', 'table', 'tx/s', 'transactions', 'CPU µs/tx'];
  console.log(columns([...header, 'audit entries', 'NOTIFYs', 'steal'], widths));
  for (const mode of MODES) {
    await setIdle(bench.listener, mode === 'idle');
    const service = mode === 'service' ? await startListener(bench.url) : undefined;
    for (let round = 0; round < bench.options.rounds; round++) {
      for (const table of ['untracked', 'tracked'] as const) {
        const r = await phase(bench, mode, table, bench.options.seconds);
        results.push(r);
        const cells = [results.length, MODE_LABELS[mode], table, r.tps.toFixed(0), r.transactions];
        const steal = r.steal === undefined ? 'n/a' : `${(100 * r.steal).toFixed(1)}%`;
        const counts = [micros(r.cpuMicros), r.entries, r.notifies, steal];
        console.log(columns([...cells, ...counts], widths));
      }
    }
    await service?.stop();
  }
  await setIdle(bench.listener, false);
  return results;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

function printSummary(results: PhaseResult[]): void {
  const of = (mode: ListenerMode, table: Table) =>
    results.filter((r) => r.mode === mode && r.table === table);
  const mean = (values: number[]) => values.reduce((sum, v) => sum + v, 0) / values.length;
  const label = (mode: ListenerMode) => MODE_LABELS[mode];

  let widths = [-19, 14, 12, 17, 9, 0];
  console.log('');
  const header = [
    'tx/s (mean)',
    'untracked',
    'tracked',
    'tracked/untracked',
    'median',
    'each round',
  ];
  console.log(columns(header, widths));
  for (const mode of MODES) {
    const [untracked, tracked] = [of(mode, 'untracked'), of(mode, 'tracked')];
    const [u, t] = [mean(untracked.map((r) => r.tps)), mean(tracked.map((r) => r.tps))];
    // Other load on the machine drifts; a round's pair ran back to back, so compare those too.
    const ratios = tracked.map((r, i) => r.tps / untracked[i].tps);
    const rounds = ratios.map((ratio) => ratio.toFixed(3)).join(' ');
    const cells = [label(mode), u.toFixed(0), t.toFixed(0), (t / u).toFixed(3)];
    console.log(columns([...cells, median(ratios).toFixed(3), rounds], widths));
  }
  const steals = results.flatMap((r) => (r.steal === undefined ? [] : [100 * r.steal]));
  if (steals.length > 0) {
    const range = `${Math.min(...steals).toFixed(1)}–${Math.max(...steals).toFixed(1)}%`;
    console.log(`CPU time taken by the hypervisor (steal) per phase: ${range}`);
  }
  const notifying = mean(of('idle', 'tracked').map((r) => r.tps));
  const plain = mean(of('none', 'untracked').map((r) => r.tps));
  console.log('target: tracked/untracked >= 0.85 (with the pgcascade listener running)');
  const cost = (notifying / plain).toFixed(3);
  console.log(`tracked with idle listener (every write NOTIFYs) / untracked without: ${cost}`);

  if (results.some((r) => r.cpuMicros === undefined)) return;
  widths = [-19, 14, 12, 17];
  console.log('');
  console.log(columns(['server CPU µs/tx', 'untracked', 'tracked', 'untracked/tracked'], widths));
  for (const mode of MODES) {
    const u = mean(of(mode, 'untracked').map((r) => r.cpuMicros!));
    const t = mean(of(mode, 'tracked').map((r) => r.cpuMicros!));
    console.log(columns([label(mode), u.toFixed(0), t.toFixed(0), (u / t).toFixed(3)], widths));
  }
  console.log('(untracked/tracked CPU is the throughput ratio to expect on a CPU-bound server)');
}

async function printLargeUpdates(bench: Bench): Promise<void> {
  const widths = [-42, 8, 13];
  const big = async (label: string, table: Table, set: string) => {
    const [before] = await query(bench.admin, LAST_SEQ);
    const started = process.hrtime.bigint();
    await bench.admin.query(`update ${TABLES[table]} set ${set} where id <= 10000`);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const [after] = await query(bench.admin, ENTRIES_SINCE, [before.seq, TABLES[table]]);
    console.log(columns([label, ms.toFixed(1), after.n], widths));
  };
  const count = 'counter = counter + 1';
  console.log('');
  console.log(columns(['one statement updating 10,000 rows', 'ms', 'audit entries'], widths));
  await big('untracked', 'untracked', count);
  await big('tracked, no idle listener', 'tracked', count);
  await setIdle(bench.listener, true);
  await big('tracked, idle listener (NOTIFY of seq)', 'tracked', count);
  await setIdle(bench.listener, false);
  // Every row moves to another parent: the general rules, with each row's list tags.
  const move = 'group_id = (group_id + 1) % 1000';
  await big('untracked, moving every row', 'untracked', move);
  await big('tracked, moving every row (general rules)', 'tracked', move);
}

/** Untracked against each floor trigger, back to back in every round, with nothing listening. */
async function runFloor(bench: Bench): Promise<void> {
  const floors = Object.keys(FLOORS) as Floor[];
  const ratios = new Map<Floor, number[]>(floors.map((f) => [f, []]));
  for (let round = 0; round < bench.options.rounds; round++) {
    const untracked = await phase(bench, 'none', 'untracked', bench.options.seconds);
    for (const floor of floors) {
      const r = await phase(bench, 'none', floor, bench.options.seconds);
      ratios.get(floor)!.push(r.tps / untracked.tps);
    }
  }
  const widths = [-36, 9, 0];
  console.log('');
  console.log(columns(['the floor: tx/s of an update with a', 'median', 'each round'], widths));
  for (const floor of floors) {
    const values = ratios.get(floor)!;
    const rounds = values.map((v) => v.toFixed(3)).join(' ');
    console.log(columns([FLOORS[floor].label, median(values).toFixed(3), rounds], widths));
  }
  console.log('(each over untracked in the same round; the first two read no transition table)');
}

function writeScripts(dir: string): Record<Table, string> {
  const scripts = {} as Record<Table, string>;
  for (const table of Object.keys(TABLES) as Table[]) {
    scripts[table] = path.join(dir, `${table}.sql`);
    const update = `update ${TABLES[table]} set counter = counter + 1 where id = :id;`;
    fs.writeFileSync(scripts[table], `\\set id random(1, :rows)\n${update}\n`);
  }
  return scripts;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const url = process.env.DATABASE_URL;
  if (!url) fail(`DATABASE_URL is not set: point it at a PostgreSQL database to use\n${USAGE}`);

  const version = options.driver === 'node' ? undefined : pgbenchVersion();
  if (options.driver === 'pgbench' && !version) fail('pgbench was asked for but does not run');
  const driver = version ? 'pgbench' : 'node';

  const admin = new pg.Client(url);
  await admin.connect();
  const listener = new pg.Client(url);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-capture-'));
  const scripts = writeScripts(dir);
  const bench: Bench = {
    url,
    options,
    driver,
    admin,
    listener,
    scripts,
    local: false,
    notifies: 0,
  };
  listener.on('notification', (message) => {
    if (message.channel === 'pgcascade') bench.notifies++;
  });

  try {
    const applied = await migrate(admin, 'core', silentLogger);
    const [server] = await query(admin, 'select version() as version, pg_backend_pid() as pid');
    bench.local = cpuSeconds(server.pid) !== undefined;
    await setUp(admin, options);
    await listener.connect();
    await listener.query('listen pgcascade');

    const threads = Math.min(2, options.clients);
    const where = bench.local ? 'on this host' : 'remote: no CPU figures';
    const serverVersion = server.version.split(',')[0];
    console.log(`server: ${serverVersion} (${where}); ${os.cpus().length} CPUs here`);
    console.log(`core migrations applied by this run: ${applied.join(', ') || 'none'}`);
    console.log(
      `driver: ${driver === 'pgbench' ? `${version}, -M simple -j ${threads}` : 'node pg clients'}`,
    );
    console.log(
      `${options.clients} writers, ${options.seconds} s a phase, ${options.rows} rows a table: ` +
        'update <table> set counter = counter + 1 where id = <random>, autocommit',
    );
    console.log(`tracked with: pgcascade.track(..., 'BenchRow', 'id', '{"group_id": …}', '{}')`);
    console.log('NOTIFYs: counted by a session that LISTENs (and holds the lock only when idle)');
    console.log('');

    await phase(bench, 'none', 'untracked', Math.min(3, options.seconds));
    printSummary(await runPhases(bench));
    await printLargeUpdates(bench);
    if (options.floor) await runFloor(bench);
  } finally {
    await listener.end().catch(() => undefined);
    const removed = await dropSchema(admin).catch((error: Error) => {
      console.error(`bench-capture: cleaning up failed: ${error.message}`);
      return 0;
    });
    console.log(`\ncleaned up: dropped schema ${SCHEMA} and its ${removed} audit entries`);
    await admin.end();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((error: Error) => {
  console.error(`bench-capture: ${error.stack ?? error.message}`);
  process.exit(1);
});
