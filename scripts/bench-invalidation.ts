/**
 * Benchmark of delivery: the time from a committed write to its invalidation being
 * applied, at fixed write rates (open loop), and the time to detect and repair misses
 * after the listener's backend is killed. Runs against DATABASE_URL (an admin URL; it
 * creates and drops its own database). Prints a table; --json FILE saves the figures.
 */
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import { migrate } from '../src/db/migrate';
import { Delivery } from '../src/delivery/delivery';
import { seedDemo } from '../src/demo';
import { EventBus } from '../src/events';
import { silentLogger } from '../src/logger';
import { percentile, urlFor, writeJson } from './bench-report';

const DATABASE = 'pgcascade_bench_invalidation';
// Enough users that no user is written twice in one run: a tag then names one write.
const USERS = 12_000;

interface Options {
  seconds: number;
  rates: number[];
  json?: string;
}

function parseOptions(argv: string[]): Options {
  const options: Options = { seconds: 10, rates: [50, 500] };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--seconds') options.seconds = Number(argv[++i]);
    else if (argv[i] === '--rates') options.rates = argv[++i].split(',').map(Number);
    else if (argv[i] === '--json') options.json = argv[++i];
    else
      throw new Error(`unknown argument ${argv[i]} (expected --seconds N, --rates a,b, --json F)`);
  }
  return options;
}

/** Records when each tag was first invalidated, in performance.now() milliseconds. */
class TimingCache {
  readonly appliedAt = new Map<string, number>();

  invalidate(tags: readonly string[]): number {
    const now = performance.now();
    for (const tag of tags) if (!this.appliedAt.has(tag)) this.appliedAt.set(tag, now);
    return 0;
  }
}

interface Harness {
  url: string;
  delivery: Delivery;
  cache: TimingCache;
  bus: EventBus;
  writers: pg.Pool;
  stop(): Promise<void>;
}

async function startHarness(url: string): Promise<Harness> {
  const cache = new TimingCache();
  const bus = new EventBus();
  const pool = new pg.Pool({ connectionString: url, max: 4 });
  pool.on('error', () => undefined);
  const delivery = new Delivery(
    {
      connectionString: url,
      instanceId: 'bench',
      reconcileIntervalMs: 1000,
      auditRetentionSeconds: 0,
    },
    pool,
    cache,
    bus,
    silentLogger,
  );
  await delivery.start();
  const writers = new pg.Pool({ connectionString: url, max: 8 });
  writers.on('error', () => undefined);
  return {
    url,
    delivery,
    cache,
    bus,
    writers,
    stop: async () => {
      await delivery.stop();
      await pool.end();
      await writers.end();
    },
  };
}

let nextUser = 0;

/** One write: renames a user not written recently, so its tag identifies this write. */
async function write(h: Harness): Promise<{ tag: string; sentAt: number; ackAt: number }> {
  const id = (nextUser++ % USERS) + 1;
  const tag = `User:${id}`;
  h.cache.appliedAt.delete(tag);
  const sentAt = performance.now();
  await h.writers.query('update demo.users set name = $2 where id = $1', [id, `n${nextUser}`]);
  return { tag, sentAt, ackAt: performance.now() };
}

async function waitFor(check: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  return true;
}

interface RateResult {
  offered: number;
  achieved: number;
  writes: number;
  lost: number;
  fromCommitMs: { p50: number; p99: number; max: number };
  fromSendMs: { p50: number; p99: number; max: number };
}

/** Writes at `rate` per second for `seconds`, open loop, and measures lag per write. */
async function measureRate(h: Harness, rate: number, seconds: number): Promise<RateResult> {
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const writes: Array<Promise<{ tag: string; sentAt: number; ackAt: number }>> = [];
  for (let n = 0; n < total; n++) {
    const due = started + (n * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
    writes.push(write(h));
    if (n % rate === 0)
      process.stderr.write(`\r  ${rate}/s: ${Math.round(n / rate)}/${seconds} s `);
  }
  const done = await Promise.all(writes);
  const elapsed = (performance.now() - started) / 1000;
  await waitFor(() => done.every((w) => h.cache.appliedAt.has(w.tag)), 5000);
  process.stderr.write('\n');

  const fromCommit: number[] = [];
  const fromSend: number[] = [];
  let lost = 0;
  for (const w of done) {
    const at = h.cache.appliedAt.get(w.tag);
    if (at === undefined) {
      lost++;
      continue;
    }
    // The NOTIFY may beat the commit's acknowledgement to this process: lag 0 then.
    fromCommit.push(Math.max(0, at - w.ackAt));
    fromSend.push(at - w.sentAt);
  }
  const summary = (values: number[]) => ({
    p50: percentile(values, 50),
    p99: percentile(values, 99),
    max: percentile(values, 100),
  });
  return {
    offered: rate,
    achieved: done.length / elapsed,
    writes: done.length,
    lost,
    fromCommitMs: summary(fromCommit),
    fromSendMs: summary(fromSend),
  };
}

interface RepairResult {
  scenario: string;
  /** Kill → the listener noticed. */
  detectMs: number;
  /** Per write committed while the listener was down: commit → applied. */
  repairMs: { p50: number; max: number };
  writesWhileDown: number;
  missed: number;
}

/**
 * Kills the listener's backend while writing at ~50/s and measures how long until the
 * loss is noticed and how long each write committed meanwhile waits to be applied.
 * With `refuseReconnect`, the database refuses new connections for 3 s, so only
 * reconciliation (every 1 s) can repair.
 */
async function measureRepair(
  h: Harness,
  admin: pg.Client,
  refuseReconnect: boolean,
): Promise<RepairResult> {
  const missedBefore = h.delivery.applier.missedCount;
  if (refuseReconnect) await admin.query(`alter database ${DATABASE} allow_connections false`);
  const lost = h.bus.next('listener:disconnected');
  const back = h.bus.next('listener:connected');
  const killedAt = performance.now();
  await admin.query(
    `select pg_terminate_backend(pid) from pg_stat_activity
     where datname = $1 and application_name = 'pgcascade-listener'`,
    [DATABASE],
  );
  await lost;
  const detectMs = performance.now() - killedAt;

  const during: Array<{ tag: string; ackAt: number }> = [];
  const until = performance.now() + (refuseReconnect ? 3000 : 500);
  while (performance.now() < until) {
    during.push(await write(h));
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await waitFor(() => during.every((w) => h.cache.appliedAt.has(w.tag)), 10_000);
  if (refuseReconnect) await admin.query(`alter database ${DATABASE} allow_connections true`);
  await back;

  const waits = during.map((w) => (h.cache.appliedAt.get(w.tag) ?? Infinity) - w.ackAt);
  return {
    scenario: refuseReconnect
      ? 'reconnect refused for 3 s (reconciliation repairs)'
      : 'reconnect allowed (catch-up repairs)',
    detectMs,
    repairMs: { p50: percentile(waits, 50), max: percentile(waits, 100) },
    writesWhileDown: during.length,
    missed: h.delivery.applier.missedCount - missedBefore,
  };
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const adminUrl = process.env.DATABASE_URL;
  if (!adminUrl) throw new Error('set DATABASE_URL to an admin connection string');
  const admin = new pg.Client(adminUrl);
  await admin.connect();
  await admin.query(`drop database if exists ${DATABASE} with (force)`);
  await admin.query(`create database ${DATABASE}`);
  const url = urlFor(adminUrl, DATABASE);
  let harness: Harness | undefined;
  try {
    const setup = new pg.Client(url);
    await setup.connect();
    await migrate(setup, 'core', silentLogger);
    await migrate(setup, 'demo', silentLogger);
    await setup.end();
    const seedPool = new pg.Pool({ connectionString: url, max: 2 });
    await seedDemo(seedPool, { users: USERS, postsPerUser: 1, commentsPerPost: 0 });
    await seedPool.end();

    harness = await startHarness(url);
    const rates: RateResult[] = [];
    for (const rate of options.rates) {
      rates.push(await measureRate(harness, rate, options.seconds));
    }
    process.stderr.write('  repair scenarios...\n');
    const repairs = [
      await measureRepair(harness, admin, false),
      await measureRepair(harness, admin, true),
    ];

    const f = (n: number) => n.toFixed(2).padStart(8);
    console.log('\nwrite → invalidation applied (ms), open loop, 8 writer connections');
    console.log(
      'offered/s  achieved/s  writes  lost   commit→applied p50/p99/max     send→applied p50/p99/max',
    );
    for (const r of rates) {
      console.log(
        `${String(r.offered).padStart(9)}  ${r.achieved.toFixed(0).padStart(10)}  ${String(r.writes).padStart(6)}  ${String(r.lost).padStart(4)}  ` +
          `${f(r.fromCommitMs.p50)}${f(r.fromCommitMs.p99)}${f(r.fromCommitMs.max)}   ` +
          `${f(r.fromSendMs.p50)}${f(r.fromSendMs.p99)}${f(r.fromSendMs.max)}`,
      );
    }
    const p99at500 = rates.find((r) => r.offered === 500)?.fromCommitMs.p99;
    if (p99at500 !== undefined) {
      console.log(
        `target p99 < 10 ms at 500 writes/s: ${p99at500.toFixed(2)} ms ${p99at500 < 10 ? 'PASS' : 'MISS'}`,
      );
    }
    console.log('\nlistener backend killed while writing at ~50/s');
    for (const r of repairs) {
      console.log(
        `${r.scenario}: loss detected in ${r.detectMs.toFixed(1)} ms; ${r.writesWhileDown} ` +
          `writes while down applied after p50 ${r.repairMs.p50.toFixed(0)} ms, max ` +
          `${r.repairMs.max.toFixed(0)} ms; ${r.missed} counted as missed`,
      );
    }
    const worst = Math.max(...repairs.map((r) => r.repairMs.max));
    console.log(
      `target repair within 2 s of the loss: ${worst.toFixed(0)} ms ${worst <= 2000 ? 'PASS' : 'MISS'}`,
    );
    if (options.json) writeJson(options.json, { rates, repairs });
  } finally {
    await harness?.stop().catch(() => undefined);
    await admin.query(`alter database ${DATABASE} allow_connections true`).catch(() => undefined);
    await admin.query(`drop database if exists ${DATABASE} with (force)`).catch(() => undefined);
    await admin.end();
  }
}

main().catch((error) => {
  console.error(`bench-invalidation: ${(error as Error).message}`);
  process.exit(1);
});
