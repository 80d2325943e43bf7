/**
 * Load test: a mixed workload at a fixed offered rate (open loop) against a pgcascade
 * process on a seeded database, then the same workload with the cache off. Reads pick
 * keys from a Zipf distribution; writes go through mutations and through direct SQL.
 * After the run every read is checked for staleness against the writes whose
 * invalidation was applied before the read was sent. Prints a summary; --json and
 * --html save the results and a chart page.
 */
import { fork, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrate';
import { seedDemo } from '../src/demo';
import { silentLogger } from '../src/logger';
import { percentile, urlFor, wall, writeJson } from './bench-report';
import type { ServerCounters, ServerMessage } from './load-server';
import { renderReport } from './report-html';
import {
  findStaleReads,
  type CreateRecord,
  type Kind,
  type ReadRecord,
  type WriteRecord,
} from './stale-reads';

// ---------------------------------------------------------------- options

export interface LoadOptions {
  rate: number;
  seconds: number;
  /** Seconds of the same load before measuring, so a cold cache does not count. */
  warmup: number;
  users: number;
  /** Percentages of reads, writes through mutations, writes through direct SQL. */
  mix: { reads: number; mutations: number; sql: number };
  zipf: number;
  compareCacheOff: boolean;
  json?: string;
  html?: string;
  /** Extra environment for the server (PGCASCADE_*). */
  serverEnv: Record<string, string>;
}

export function parseLoadOptions(argv: string[]): LoadOptions {
  const o: LoadOptions = {
    rate: 1000,
    seconds: 20,
    warmup: 5,
    users: 1000,
    mix: { reads: 80, mutations: 15, sql: 5 },
    zipf: 1.1,
    compareCacheOff: true,
    serverEnv: {},
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => argv[++i];
    if (arg === '--rate') o.rate = Number(value());
    else if (arg === '--seconds') o.seconds = Number(value());
    else if (arg === '--warmup') o.warmup = Number(value());
    else if (arg === '--users') o.users = Number(value());
    else if (arg === '--zipf') o.zipf = Number(value());
    else if (arg === '--no-compare') o.compareCacheOff = false;
    else if (arg === '--json') o.json = value();
    else if (arg === '--html') o.html = value();
    else if (arg === '--mix') {
      const [reads, mutations, sql] = value().split('/').map(Number);
      o.mix = { reads, mutations, sql };
    } else throw new Error(`unknown argument ${arg}; see the header of scripts/load.ts`);
  }
  if (o.mix.reads + o.mix.mutations + o.mix.sql !== 100) throw new Error('--mix must sum to 100');
  return o;
}

// ---------------------------------------------------------------- keys

/** Samples 1..n with probability proportional to 1/k^s. */
export class Zipf {
  private readonly cdf: Float64Array;

  constructor(n: number, s: number) {
    this.cdf = new Float64Array(n);
    let sum = 0;
    for (let k = 1; k <= n; k++) {
      sum += 1 / k ** s;
      this.cdf[k - 1] = sum;
    }
    for (let k = 0; k < n; k++) this.cdf[k] /= sum;
  }

  next(): number {
    const u = Math.random();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.cdf[mid] < u) lo = mid + 1;
      else hi = mid;
    }
    return lo + 1;
  }
}

const uniform = (n: number) => 1 + Math.floor(Math.random() * n);

function versionOf(text: string | undefined): number {
  const match = text ? /v(\d+)$/.exec(text) : null;
  return match ? Number(match[1]) : 0;
}

// ---------------------------------------------------------------- the server

export interface ServerHandle {
  url: string;
  child: ChildProcess;
  /** Applied audit entries: seq → wall time applied. */
  applied: Map<number, number>;
  /** [wall time, lag ms] of every applied entry. */
  lags: Array<[number, number]>;
  listenerEvents: Array<{ event: string; atMs: number }>;
  counters(): Promise<ServerCounters>;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string>): Promise<ServerHandle> {
  const child = fork(path.join(__dirname, 'load-server.js'), [], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const applied = new Map<number, number>();
  const lags: Array<[number, number]> = [];
  const listenerEvents: Array<{ event: string; atMs: number }> = [];
  let counterWaiter: ((c: ServerCounters) => void) | undefined;
  const url = await new Promise<string>((resolve, reject) => {
    child.on('message', (message: ServerMessage) => {
      if (message.type === 'ready') resolve(message.url);
      else if (message.type === 'applied') {
        for (const [seq, at, lag] of message.entries) {
          if (!applied.has(seq)) applied.set(seq, at);
          lags.push([at, lag]);
        }
      } else if (message.type === 'listener') listenerEvents.push(message);
      else if (message.type === 'counters') counterWaiter?.(message.counters);
    });
    child.once('exit', (code) => reject(new Error(`load-server exited with ${code}`)));
  });
  return {
    url,
    child,
    applied,
    lags,
    listenerEvents,
    counters: () =>
      new Promise((resolve) => {
        counterWaiter = resolve;
        child.send({ type: 'counters' });
      }),
    stop: async () => {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    },
  };
}

// ---------------------------------------------------------------- the workload

interface Sample {
  kind: Kind;
  /** Scheduled time (wall ms): latency counts from here, as in an open-loop test. */
  dueAt: number;
  doneAt: number;
  ok: boolean;
  cache?: string | null;
}

const QUERIES = {
  user: 'query U($id: ID!) { user(id: $id) { id name } }',
  posts: 'query P($a: ID!) { posts(authorId: $a, first: 20) { id title } }',
  post: 'query Q($id: ID!) { post(id: $id) { id title author { id name } } }',
  renameUser: 'mutation R($id: ID!, $n: String!) { renameUser(id: $id, name: $n) { status } }',
  updatePost: 'mutation W($id: ID!, $t: String!) { updatePost(id: $id, title: $t) { status } }',
  createPost:
    'mutation C($a: ID!, $t: String!) { createPost(authorId: $a, title: $t, body: "load") ' +
    '{ status post { id } } }',
};

/** One run of the workload against one server. */
export class Workload {
  readonly samples: Sample[] = [];
  readonly reads: ReadRecord[] = [];
  readonly writes: WriteRecord[] = [];
  readonly creates: CreateRecord[] = [];
  // The service closes sockets idle for 5 s, and Node's agent heeds the server's
  // Keep-Alive hint only when it has a timeout of its own: with one, idle sockets close
  // on the client's side first, so a request is never sent on a socket being closed.
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 512, timeout: 4000 });
  private readonly busy = new Set<string>();
  private readonly userKeys: Zipf;
  private readonly postKeys: Zipf;
  private version = 0;
  private inflight = 0;
  dropped = 0;
  /** Why requests failed: "kind: reason" and how often, so a run's errors explain themselves. */
  readonly errorReasons = new Map<string, number>();

  constructor(
    private readonly server: ServerHandle,
    private readonly sqlPool: pg.Pool,
    private readonly options: LoadOptions,
    private readonly posts: number,
    versionStart = 0,
  ) {
    this.userKeys = new Zipf(options.users, options.zipf);
    this.postKeys = new Zipf(posts, options.zipf);
    this.version = versionStart;
  }

  get lastVersion(): number {
    return this.version;
  }

  private post(body: string): Promise<{ status: number; cache: string | null; json: any }> {
    const url = new URL(this.server.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent: this.agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c) => chunks.push(c));
          res.on('end', () => {
            try {
              resolve({
                status: res.statusCode ?? 0,
                cache: (res.headers['x-cache'] as string) ?? null,
                json: JSON.parse(Buffer.concat(chunks).toString('utf8')),
              });
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }

  private pickKind(): Kind {
    const r = Math.random() * 100;
    const { reads, mutations } = this.options.mix;
    if (r < reads) {
      const q = Math.random();
      return q < 0.4 ? 'user' : q < 0.7 ? 'posts' : 'post';
    }
    if (r < reads + mutations) {
      const q = Math.random();
      return q < 0.4 ? 'renameUser' : q < 0.8 ? 'updatePost' : 'createPost';
    }
    return 'sql';
  }

  /** Claims an entity for a write so that writes to one entity never overlap. */
  private claim(make: () => string): string | undefined {
    for (let attempt = 0; attempt < 5; attempt++) {
      const entity = make();
      if (!this.busy.has(entity)) {
        this.busy.add(entity);
        return entity;
      }
    }
    return undefined;
  }

  private noteError(kind: Kind, reason: string): void {
    const key = `${kind}: ${reason.slice(0, 160)}`;
    this.errorReasons.set(key, (this.errorReasons.get(key) ?? 0) + 1);
  }

  /** Notes why a response failed and returns false; returns true for a success. */
  private check(kind: Kind, r: { status: number; json: any }, success: boolean): boolean {
    if (success) return true;
    const message = r.json?.errors?.[0]?.message;
    this.noteError(kind, `HTTP ${r.status}${message ? `, ${message}` : ', no data'}`);
    return false;
  }

  private async one(kind: Kind, dueAt: number): Promise<void> {
    const sentAt = wall();
    let ok = false;
    let cache: string | null = null;
    try {
      if (kind === 'user') {
        const id = this.userKeys.next();
        const r = await this.post(JSON.stringify({ query: QUERIES.user, variables: { id } }));
        cache = r.cache;
        const user = r.json.data?.user;
        ok = this.check(kind, r, r.status === 200 && !!user);
        if (user)
          this.reads.push({
            kind,
            sentAt,
            cache,
            observations: [{ entity: `User:${id}`, version: versionOf(user.name) }],
          });
      } else if (kind === 'post') {
        const id = this.postKeys.next();
        const r = await this.post(JSON.stringify({ query: QUERIES.post, variables: { id } }));
        cache = r.cache;
        const p = r.json.data?.post;
        ok = this.check(kind, r, r.status === 200 && !r.json.errors);
        if (p) {
          this.reads.push({
            kind,
            sentAt,
            cache,
            observations: [
              { entity: `Post:${p.id}`, version: versionOf(p.title) },
              { entity: `User:${p.author.id}`, version: versionOf(p.author.name) },
            ],
          });
        }
      } else if (kind === 'posts') {
        const author = this.userKeys.next();
        const r = await this.post(
          JSON.stringify({ query: QUERIES.posts, variables: { a: author } }),
        );
        cache = r.cache;
        const list: Array<{ id: string; title: string }> | undefined = r.json.data?.posts;
        ok = this.check(kind, r, r.status === 200 && !!list);
        if (list) {
          this.reads.push({
            kind,
            sentAt,
            cache,
            observations: list.map((p) => ({
              entity: `Post:${p.id}`,
              version: versionOf(p.title),
            })),
            list: { author, ids: list.map((p) => Number(p.id)), full: list.length === 20 },
          });
        }
      } else {
        ok = await this.write(kind);
      }
    } catch (error) {
      ok = false;
      this.noteError(kind, error instanceof Error ? error.message : String(error));
    }
    this.samples.push({ kind, dueAt, doneAt: wall(), ok, cache });
  }

  private async write(kind: Kind): Promise<boolean> {
    const version = ++this.version;
    if (kind === 'createPost') {
      const author = uniform(this.options.users);
      const r = await this.post(
        JSON.stringify({
          query: QUERIES.createPost,
          variables: { a: author, t: `new v${version}` },
        }),
      );
      const id = Number(r.json.data?.createPost?.post?.id);
      if (!this.check(kind, r, !!id)) return false;
      this.creates.push({ author, id, appliedAt: wall() });
      return true;
    }
    const isUser = kind === 'renameUser' || (kind === 'sql' && Math.random() < 0.5);
    const entity = this.claim(() =>
      isUser ? `User:${uniform(this.options.users)}` : `Post:${uniform(this.posts)}`,
    );
    if (!entity) return true;
    const id = Number(entity.split(':')[1]);
    const text = `${isUser ? 'u' : 'p'}${id}v${version}`;
    try {
      if (kind === 'sql') {
        const table = isUser ? 'demo.users set name' : 'demo.posts set title';
        // One round trip: the write and the seq of its audit entry, in one transaction.
        const results = (await this.sqlPool.query(
          `begin; update ${table} = '${text}' where id = ${id};
           select max(seq)::bigint as seq from pgcascade.audit where xid = pg_current_xact_id();
           commit;`,
        )) as unknown as pg.QueryResult[];
        this.writes.push({ entity, version, seq: Number(results[2].rows[0].seq) });
        return true;
      }
      const query = isUser ? QUERIES.renameUser : QUERIES.updatePost;
      const variables = isUser ? { id, n: text } : { id, t: text };
      const r = await this.post(JSON.stringify({ query, variables }));
      const status = r.json.data?.[isUser ? 'renameUser' : 'updatePost']?.status;
      if (!this.check(kind, r, status === 'success')) return false;
      // Guarantee 1: the response comes after the cascade is applied on this instance.
      this.writes.push({ entity, version, appliedAt: wall() });
      return true;
    } finally {
      this.busy.delete(entity);
    }
  }

  /** Offers `rate` operations a second for `seconds`, whatever the responses do. */
  async run(seconds: number, onSecond?: (second: number) => void): Promise<number> {
    const { rate } = this.options;
    const total = rate * seconds;
    const started = wall();
    const pending: Array<Promise<void>> = [];
    let sent = 0;
    let lastSecond = -1;
    while (sent < total) {
      const now = wall();
      const due = Math.min(total, Math.floor(((now - started) * rate) / 1000) + 1);
      for (; sent < due; sent++) {
        // More than this many in flight means the service cannot keep up: drop, count.
        if (this.inflight >= 4000) {
          this.dropped++;
          continue;
        }
        this.inflight++;
        const dueAt = started + (sent * 1000) / rate;
        pending.push(this.one(this.pickKind(), dueAt).finally(() => this.inflight--));
      }
      const second = Math.floor((now - started) / 1000);
      if (second !== lastSecond) {
        lastSecond = second;
        onSecond?.(second);
      }
      // Sleep until the next operation is due. Waiting with setImmediate instead kept the
      // generator spinning a whole core, and it shares the machine with the service.
      const nextDueAt = started + (sent * 1000) / rate;
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, nextDueAt - wall())));
    }
    await Promise.all(pending);
    return (wall() - started) / 1000;
  }

  /** Drops the samples taken so far (warm-up); reads and writes stay for staleness. */
  forgetSamples(): void {
    this.samples.length = 0;
    this.dropped = 0;
    this.errorReasons.clear();
  }

  /** Fills in applied times of SQL writes from the server's reports. */
  resolveSqlWrites(): number {
    let unresolved = 0;
    for (const w of this.writes) {
      if (w.seq === undefined) continue;
      const at = this.server.applied.get(w.seq);
      if (at === undefined) unresolved++;
      else w.appliedAt = at;
    }
    return unresolved;
  }

  close(): void {
    this.agent.destroy();
  }
}

// ---------------------------------------------------------------- summary

export interface RunSummary {
  label: string;
  offered: number;
  achieved: number;
  dropped: number;
  errors: number;
  /** The most frequent reasons for errors, most frequent first. */
  errorReasons: Array<{ reason: string; count: number }>;
  hitRate: number;
  /** Hit rate of each read: user, posts (a list), post (with its author). */
  hitRateByKind: Record<string, number>;
  latencyMs: { p50: number; p95: number; p99: number };
  readLatencyMs: { p50: number; p95: number; p99: number };
  writeLatencyMs: { p50: number; p95: number; p99: number };
  executions: number;
  executionsPerRequest: number;
  /** Every transaction the database committed meanwhile, the listener's reads included. */
  sqlTransactions: number;
  sqlTransactionsPerRequest: number;
  coalesced: number;
  staleFills: number;
  staleReads: number;
  staleExamples: string[];
  unresolvedSqlWrites: number;
  series: Array<{ second: number; rps: number; p99: number; hitRate: number; lagP99: number }>;
  /** What GET /health said right after the run. */
  health?: { status: string; recommendations: string[] };
}

function latency(samples: Sample[]) {
  const values = samples.map((s) => s.doneAt - s.dueAt);
  return { p50: percentile(values, 50), p95: percentile(values, 95), p99: percentile(values, 99) };
}

export function summarise(
  label: string,
  w: Workload,
  server: ServerHandle,
  counters: { before: ServerCounters; after: ServerCounters },
  xacts: number,
  elapsedSeconds: number,
  startedAt: number,
  options: LoadOptions,
): RunSummary {
  const isRead = (s: Sample) => s.kind === 'user' || s.kind === 'posts' || s.kind === 'post';
  const reads = w.samples.filter(isRead);
  const writes = w.samples.filter((s) => !isRead(s));
  const hitRateOf = (samples: Sample[]) =>
    samples.length ? samples.filter((s) => s.cache === 'hit').length / samples.length : 0;
  const hitRateByKind = Object.fromEntries(
    (['user', 'posts', 'post'] as const).map((kind) => [
      kind,
      hitRateOf(reads.filter((s) => s.kind === kind)),
    ]),
  );
  const executions = counters.after.executions - counters.before.executions;
  const unresolved = w.resolveSqlWrites();
  const { stale, examples } = findStaleReads(w);

  // Whole seconds only: the last few milliseconds of a run would chart as a drop to zero.
  const seconds = Math.max(1, Math.floor(elapsedSeconds));
  const series = Array.from({ length: seconds }, (_, second) => {
    const from = startedAt + second * 1000;
    const inSecond = w.samples.filter((s) => s.doneAt >= from && s.doneAt < from + 1000);
    const readsInSecond = inSecond.filter(isRead);
    const lags = server.lags.filter(([at]) => at >= from && at < from + 1000).map(([, lag]) => lag);
    return {
      second,
      rps: inSecond.length,
      p99: percentile(
        inSecond.map((s) => s.doneAt - s.dueAt),
        99,
      ),
      hitRate: hitRateOf(readsInSecond),
      lagP99: percentile(lags, 99),
    };
  });

  return {
    label,
    offered: options.rate,
    achieved: w.samples.length / elapsedSeconds,
    dropped: w.dropped,
    errors: w.samples.filter((s) => !s.ok).length,
    errorReasons: [...w.errorReasons]
      .map(([reason, count]) => ({ reason, count }))
      .sort((a, b) => b.count - a.count)
      .slice(0, 5),
    hitRate: hitRateOf(reads),
    hitRateByKind,
    latencyMs: latency(w.samples),
    readLatencyMs: latency(reads),
    writeLatencyMs: latency(writes),
    executions,
    executionsPerRequest: executions / Math.max(1, w.samples.length),
    sqlTransactions: xacts,
    sqlTransactionsPerRequest: xacts / Math.max(1, w.samples.length),
    coalesced: counters.after.coalesced - counters.before.coalesced,
    staleFills: counters.after.staleFills - counters.before.staleFills,
    staleReads: stale,
    staleExamples: examples,
    unresolvedSqlWrites: unresolved,
    series,
  };
}

/** The status and recommendations of the server's /health. */
async function readHealth(
  graphqlUrl: string,
): Promise<{ status: string; recommendations: string[] }> {
  try {
    const response = await fetch(graphqlUrl.replace(/\/graphql$/, '/health'));
    const body = (await response.json()) as {
      status: string;
      recommendations: Array<{ check: string; action: string }>;
    };
    return {
      status: body.status,
      recommendations: body.recommendations.map((r) => `${r.check}: ${r.action}`),
    };
  } catch (error) {
    return { status: `unreadable (${(error as Error).message})`, recommendations: [] };
  }
}

// ---------------------------------------------------------------- database

/** Creates, migrates and seeds a database of the script's own. Returns posts seeded. */
export async function prepareDatabase(
  admin: string,
  database: string,
  users: number,
): Promise<number> {
  const client = new pg.Client(admin);
  await client.connect();
  await client.query(`drop database if exists ${database} with (force)`);
  await client.query(`create database ${database}`);
  await client.end();
  const url = urlFor(admin, database);
  const setup = new pg.Client(url);
  await setup.connect();
  await migrate(setup, 'core', silentLogger);
  await migrate(setup, 'demo', silentLogger);
  await setup.end();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  const result = await seedDemo(pool, { users });
  await pool.end();
  return result.posts;
}

export async function transactions(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query(
    `select xact_commit + xact_rollback as n from pg_stat_database where datname = current_database()`,
  );
  return Number(rows[0].n);
}

/** Runs the workload once against a fresh server process and summarises it. */
export async function runOnce(
  label: string,
  url: string,
  posts: number,
  options: LoadOptions,
  env: Record<string, string>,
  during?: (server: ServerHandle, second: number) => void,
): Promise<{ summary: RunSummary; server: ServerHandle }> {
  const server = await startServer({ DATABASE_URL: url, ...options.serverEnv, ...env });
  const sqlPool = new pg.Pool({ connectionString: url, max: 8 });
  sqlPool.on('error', () => undefined);
  try {
    const workload = new Workload(server, sqlPool, options, posts, Date.now() % 1e9);
    if (options.warmup > 0) {
      await workload.run(options.warmup, (second) =>
        process.stderr.write(`\r${label}: warming up ${second}/${options.warmup} s   `),
      );
      // Its reads and writes still count for staleness; its samples do not for figures.
      workload.forgetSamples();
    }
    const before = await server.counters();
    const xactsBefore = await transactions(sqlPool);
    const startedAt = wall();
    const elapsed = await workload.run(options.seconds, (second) => {
      process.stderr.write(
        `\r${label}: ${second}/${options.seconds} s, ${workload.samples.length} done   `,
      );
      during?.(server, second);
    });
    process.stderr.write('\n');
    // Give the last SQL writes' invalidations time to be reported (IPC batches of 50 ms).
    await new Promise((resolve) => setTimeout(resolve, 300));
    const after = await server.counters();
    const health = await readHealth(server.url);
    const xacts = (await transactions(sqlPool)) - xactsBefore;
    workload.close();
    const summary = summarise(
      label,
      workload,
      server,
      { before, after },
      xacts,
      elapsed,
      startedAt,
      options,
    );
    summary.health = health;
    return { summary, server };
  } finally {
    await sqlPool.end();
    await server.stop();
  }
}

export function printSummary(s: RunSummary): void {
  const ms = (v: { p50: number; p95: number; p99: number }) =>
    `${v.p50.toFixed(1)} / ${v.p95.toFixed(1)} / ${v.p99.toFixed(1)} ms`;
  console.log(`\n${s.label}`);
  console.log(
    `  offered ${s.offered}/s, achieved ${s.achieved.toFixed(0)}/s, ` +
      `dropped ${s.dropped}, errors ${s.errors}`,
  );
  for (const { reason, count } of s.errorReasons) console.log(`    ${count} × ${reason}`);
  const listed = s.errorReasons.reduce((sum, r) => sum + r.count, 0);
  if (listed < s.errors) console.log(`    ${s.errors - listed} more, for rarer reasons`);
  const byKind = Object.entries(s.hitRateByKind)
    .map(([kind, rate]) => `${kind} ${(100 * rate).toFixed(1)}%`)
    .join(', ');
  console.log(`  hit rate ${(100 * s.hitRate).toFixed(1)}% (${byKind})`);
  console.log(
    `  latency p50/p95/p99: all ${ms(s.latencyMs)}; reads ${ms(s.readLatencyMs)}; ` +
      `writes ${ms(s.writeLatencyMs)}`,
  );
  console.log(
    `  executions ${s.executions} (${s.executionsPerRequest.toFixed(3)} per request), ` +
      `SQL transactions ${s.sqlTransactions} ` +
      `(${s.sqlTransactionsPerRequest.toFixed(3)} per request)`,
  );
  console.log(`  coalesced ${s.coalesced}, stale fills discarded ${s.staleFills}`);
  console.log(
    `  stale reads ${s.staleReads}` +
      (s.staleExamples.length ? ` (${s.staleExamples.join('; ')})` : ''),
  );
  if (s.unresolvedSqlWrites)
    console.log(`  SQL writes never reported applied: ${s.unresolvedSqlWrites}`);
  if (s.health) {
    console.log(`  /health after the run: ${s.health.status}`);
    for (const r of s.health.recommendations) console.log(`    - ${r}`);
  }
}

async function main(): Promise<void> {
  const options = parseLoadOptions(process.argv.slice(2));
  const admin = process.env.DATABASE_URL;
  if (!admin) throw new Error('set DATABASE_URL to an admin connection string');
  const database = 'pgcascade_load';
  process.stderr.write(`seeding ${options.users} users...\n`);
  const posts = await prepareDatabase(admin, database, options.users);
  const url = urlFor(admin, database);

  const on = await runOnce('cache on', url, posts, options, {});
  printSummary(on.summary);
  const runs = [on.summary];
  if (options.compareCacheOff) {
    const off = await runOnce('cache off', url, posts, options, {
      PGCASCADE_CACHE_TTL_SECONDS: '0',
    });
    printSummary(off.summary);
    runs.push(off.summary);
    const saved = 1 - on.summary.executionsPerRequest / off.summary.executionsPerRequest;
    console.log(
      `\nexecutions per request: ${on.summary.executionsPerRequest.toFixed(3)} with the cache, ` +
        `${off.summary.executionsPerRequest.toFixed(3)} without: ` +
        `${(100 * saved).toFixed(1)}% fewer`,
    );
    // Per request: when the cache is off the service completes fewer requests in the
    // same time. Counts every transaction in the database: the listener's reads and the
    // load's own SQL writes too, which do not depend on the cache.
    const [xOn, xOff] = [on.summary, off.summary].map((r) => r.sqlTransactionsPerRequest);
    console.log(
      `SQL transactions per request (all of the database's): ${xOn.toFixed(3)} vs ` +
        `${xOff.toFixed(3)}: ${(100 * (1 - xOn / xOff)).toFixed(1)}% fewer`,
    );
  }
  const result = { options, runs, machine: machineDescription() };
  if (options.json) writeJson(options.json, result);
  if (options.html) renderReport(options.html, 'pgcascade load', runs);
  const client = new pg.Client(admin);
  await client.connect();
  await client.query(`drop database if exists ${database} with (force)`);
  await client.end();
}

export function machineDescription(): string {
  const os = require('node:os') as typeof import('node:os');
  const gib = Math.round(os.totalmem() / 2 ** 30);
  const cpus = `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}`;
  return `${cpus}, ${gib} GiB, Node ${process.version}`;
}

if (require.main === module) {
  main().catch((error) => {
    console.error(`load: ${(error as Error).stack}`);
    process.exit(1);
  });
}
