/**
 * Cache-hit throughput benchmark (issue 4; not a test): the same ~400-byte cached answer from
 * a bare node:http floor, from Yoga with its response-cache plugin, and from pgcascade, each
 * in its own process and one at a time, loaded by autocannon in a third process. Prints req/s,
 * latency and the ratios against the targets. Creates database pgcascade_bench_hits on the
 * server of DATABASE_URL and drops it, and stops every child, on exit and on Ctrl-C.
 */
import { fork, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { migrate } from '../src/db/migrate';
import { seedDemo } from '../src/demo';
import { silentLogger } from '../src/logger';
import type { LoadCommand, LoadResult } from './bench-hits-load';
import type { ReadyMessage, ServerCommand, ServerKind } from './bench-hits-server';
import { writeJson } from './bench-report';

const DATABASE = 'pgcascade_bench_hits';
const DEFAULT_ADMIN_URL = 'postgres://root@127.0.0.1:5432/postgres';
const TARGETS: readonly ServerKind[] = ['floor', 'plugin', 'pgcascade', 'uncounted'];

// Issue 4: hits at >= 0.7 x the floor and >= 4 x the response-cache plugin.
const FLOOR_TARGET = 0.7;
const PLUGIN_TARGET = 4;

// A named operation with a variable, as clients send it; its answer is about 400 bytes.
const QUERY =
  'query AuthorPosts($authorId: ID!) { posts(authorId: $authorId, first: 4) ' +
  '{ id title published author { name } } }';
const REQUEST_BODY = JSON.stringify({
  operationName: 'AuthorPosts',
  query: QUERY,
  variables: { authorId: '1' },
});

interface Options {
  /** Measured seconds per target. Default 10. */
  seconds: number;
  /** Warm-up seconds per target, not counted. Default 2. */
  warmup: number;
  /** Concurrent autocannon connections. Default 50. */
  connections: number;
  /**
   * Times every target is measured, in turn; the table shows each target's best round, as
   * other processes only ever slow a round down. Default 1.
   */
  rounds: number;
  /** Demo users to seed (10 posts each, 3 comments a post). Default 1000. */
  users: number;
  /** Targets to measure, in this order. Default floor, plugin, pgcascade. */
  targets: ServerKind[];
  /** Where to write the results as JSON; none by default. */
  json?: string;
  /** Where to write a CPU profile of each server's measured phase; none by default. */
  cpuProf?: string;
}

/** CPU used during a measured phase, in percent of one core (200 = both cores of two). */
interface CpuShare {
  server: number;
  load: number;
  /** Everything else: other processes (PostgreSQL among them) and hypervisor steal. */
  others: number;
}

// Other processes using more than this share of a core during a measured run disturb it.
const OTHERS_WARNING_PERCENT = 20;

interface TargetResult extends Omit<LoadResult, 'type'> {
  target: ServerKind;
  cpu: CpuShare | null;
}

const USAGE = `usage: scripts/bench-hits [--seconds 10] [--warmup 2] [--connections 50] [--rounds 1]
       [--users 1000] [--targets floor,plugin,pgcascade] [--json FILE] [--cpu-prof DIR]
DATABASE_URL (default ${DEFAULT_ADMIN_URL}) names the PostgreSQL server and an admin database;
the benchmark creates and drops database ${DATABASE} there.`;

const NUMERIC_OPTIONS = ['seconds', 'warmup', 'connections', 'rounds', 'users'] as const;

function isNumeric(key: string): key is (typeof NUMERIC_OPTIONS)[number] {
  return (NUMERIC_OPTIONS as readonly string[]).includes(key);
}

function parseOptions(argv: string[]): Options {
  const options: Options = {
    seconds: 10,
    warmup: 2,
    connections: 50,
    rounds: 1,
    users: 1000,
    targets: [...TARGETS],
  };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    const key = flag.replace(/^--/, '');
    if (flag === '--help' || flag === '-h') {
      console.log(USAGE);
      process.exit(0);
    }
    if (value === undefined) fail(`${flag} wants a value\n${USAGE}`);
    if (isNumeric(key)) {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) fail(`${flag} wants a positive integer, got ${value}`);
      options[key] = n;
    } else if (key === 'targets') {
      const names = value.split(',');
      const unknown = names.filter((n) => !TARGETS.includes(n as ServerKind));
      if (unknown.length > 0) fail(`--targets: unknown ${unknown.join(', ')}; known: ${TARGETS}`);
      options.targets = TARGETS.filter((t) => names.includes(t));
    } else if (key === 'json') {
      options.json = value;
    } else if (key === 'cpu-prof') {
      options.cpuProf = value;
    } else {
      fail(`unknown option ${flag}\n${USAGE}`);
    }
  }
  return options;
}

function fail(message: string): never {
  console.error(`bench-hits: ${message}`);
  process.exit(2);
}

/** What runs on stderr while the benchmark does: the phase, and seconds left in it. */
class Progress {
  private timer: NodeJS.Timeout | undefined;
  private readonly tty = process.stderr.isTTY;

  /** Starts a phase; with `seconds`, counts down (each second on a terminal, else each 5). */
  phase(label: string, seconds?: number): void {
    this.end();
    if (seconds === undefined) {
      process.stderr.write(`bench-hits: ${label}\n`);
      return;
    }
    const until = Date.now() + seconds * 1000;
    let shown = -1;
    const show = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      if (this.tty) process.stderr.write(`\r\x1b[Kbench-hits: ${label}, ${left} s left`);
      else if (left !== shown && (left === seconds || left % 5 === 0)) {
        process.stderr.write(`bench-hits: ${label}, ${left} s left\n`);
      }
      shown = left;
    };
    show();
    this.timer = setInterval(show, 1000);
  }

  /** Ends the countdown line, if any. */
  end(): void {
    if (this.timer === undefined) return;
    clearInterval(this.timer);
    this.timer = undefined;
    if (this.tty) process.stderr.write('\n');
  }
}

const progress = new Progress();
const children = new Set<ChildProcess>();
let interrupted = false;

/** Forks a script of dist/scripts with IPC, its output prefixed on stderr. */
function forkChild(script: string, args: string[], env: NodeJS.ProcessEnv): ChildProcess {
  const child = fork(path.join(__dirname, script), args, {
    env,
    stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  const prefix = `[${args[0] ?? path.basename(script, '.js')}] `;
  for (const stream of [child.stdout!, child.stderr!]) {
    stream.setEncoding('utf8');
    stream.on('data', (text: string) => {
      const lines = text.replace(/\n$/, '').split('\n');
      process.stderr.write(lines.map((l) => prefix + l).join('\n') + '\n');
    });
  }
  return child;
}

/** The next message of `child` with this `type`; rejects if it exits or takes too long. */
function nextMessage<T>(child: ChildProcess, type: string, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const done = (error?: Error, message?: T) => {
      clearTimeout(timer);
      child.off('message', onMessage);
      child.off('exit', onExit);
      if (error) reject(error);
      else resolve(message!);
    };
    const onMessage = (message: { type: string; message?: string }) => {
      if (message.type === 'error') done(new Error(message.message));
      else if (message.type === type) done(undefined, message as T);
    };
    const onExit = (code: number | null, signal: string | null) =>
      done(new Error(`child process exited (${signal ?? `code ${code}`}) before '${type}'`));
    const timer = setTimeout(
      () => done(new Error(`no '${type}' from the child process in ${timeoutMs / 1000} s`)),
      timeoutMs,
    );
    child.on('message', onMessage);
    child.once('exit', onExit);
  });
}

/** Ends a child by its pid: SIGTERM, then SIGKILL if it is still there after 3 s. */
async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

interface Server {
  kind: ServerKind;
  child: ChildProcess;
  url: string;
  command(command: ServerCommand): Promise<void>;
  stop(): Promise<void>;
}

async function startServer(kind: ServerKind, env: NodeJS.ProcessEnv): Promise<Server> {
  const child = forkChild('bench-hits-server.js', [kind], env);
  const ready = await nextMessage<ReadyMessage>(child, 'ready', 60_000);
  return {
    kind,
    child,
    url: `http://127.0.0.1:${ready.port}/graphql`,
    command: async (command) => {
      const answered = nextMessage(child, 'done', 30_000);
      child.send(command);
      await answered;
    },
    stop: async () => {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.send({ cmd: 'stop' } satisfies ServerCommand);
      const timer = setTimeout(() => void stopChild(child), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}

interface Probe {
  status: number;
  cache: string | null;
  body: Buffer;
}

async function probe(url: string): Promise<Probe> {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: REQUEST_BODY,
  });
  const body = Buffer.from(await response.arrayBuffer());
  return { status: response.status, cache: response.headers.get('x-cache'), body };
}

function preview(bytes: Buffer, from = 0): string {
  const text = bytes.subarray(from, from + 120).toString('utf8');
  return `${from > 0 ? '…' : ''}${text}${bytes.length > from + 120 ? '…' : ''}`;
}

/** Both bodies from a little before the first byte where they differ. */
function difference(got: Buffer, expected: Buffer): string {
  let at = 0;
  while (at < got.length && at < expected.length && got[at] === expected[at]) at++;
  const from = Math.max(0, at - 40);
  return (
    `body differs from byte ${at} (${got.length} bytes, expected ${expected.length}):\n` +
    `  got:      ${preview(got, from)}\n  expected: ${preview(expected, from)}`
  );
}

/**
 * Checks that `server` answers the benchmarked query with exactly `expected`, and that
 * pgcascade says it was a hit. Throws with both bodies when it does not.
 */
async function verify(server: Server, expected: Buffer, when: string): Promise<void> {
  const got = await probe(server.url);
  const problems: string[] = [];
  if (got.status !== 200) problems.push(`status ${got.status}`);
  if ((server.kind === 'pgcascade' || server.kind === 'uncounted') && got.cache !== 'hit') {
    problems.push(`x-cache: ${got.cache ?? '(absent)'}, expected hit`);
  }
  if (!got.body.equals(expected)) problems.push(difference(got.body, expected));
  if (problems.length > 0) {
    throw new Error(`${server.kind} ${when}: ${problems.join('; ')}`);
  }
}

/** The bytes pgcascade answers a hit with; the floor serves exactly these. */
async function referenceBody(env: NodeJS.ProcessEnv): Promise<Buffer> {
  const server = await startServer('pgcascade', env);
  try {
    const first = await probe(server.url);
    const second = await probe(server.url);
    const parsed = JSON.parse(second.body.toString('utf8')) as { data?: unknown; errors?: unknown };
    if (second.status !== 200 || !parsed.data || parsed.errors) {
      throw new Error(
        `pgcascade cannot answer the query: ${second.status} ${preview(second.body)}`,
      );
    }
    if (first.cache !== 'miss' || second.cache !== 'hit') {
      throw new Error(
        `pgcascade answered x-cache ${first.cache} then ${second.cache}: ` +
          'expected miss then hit',
      );
    }
    return second.body;
  } finally {
    await server.stop();
  }
}

// Clock ticks per second of /proc/<pid>/stat; 100 on every common Linux.
const CLOCK_TICKS = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;

/** CPU milliseconds a process has used (user + system), or NaN where /proc is missing. */
function processCpuMs(pid: number | undefined): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which may hold spaces: state is the first, utime the 12th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return Number.NaN;
  }
}

/**
 * CPU milliseconds the whole machine has been busy, over all cores, counting the time a
 * hypervisor stole from this VM as busy: its neighbours slow a run down as other processes do.
 */
function machineBusyMs(): number {
  try {
    // cpu  user nice system idle iowait irq softirq steal ...
    const total = fs.readFileSync('/proc/stat', 'utf8').split('\n', 1)[0].split(/\s+/);
    const [user, nice, system, , , irq, , steal] = total.slice(1).map(Number);
    return ((user + nice + system + irq + steal) * 1000) / CLOCK_TICKS;
  } catch {
    let busy = 0;
    for (const { times } of os.cpus()) busy += times.user + times.nice + times.sys + times.irq;
    return busy;
  }
}

/** Starts a CPU meter over the server, the load generator and the whole machine. */
function cpuMeter(serverPid: number | undefined, loadPid: number | undefined) {
  const start = {
    server: processCpuMs(serverPid),
    load: processCpuMs(loadPid),
    machine: machineBusyMs(),
    at: performance.now(),
  };
  return (): CpuShare | null => {
    const wallMs = performance.now() - start.at;
    const server = ((processCpuMs(serverPid) - start.server) / wallMs) * 100;
    const load = ((processCpuMs(loadPid) - start.load) / wallMs) * 100;
    const busy = machineBusyMs() - start.machine;
    // Machine time is summed over cores, as a process's time is over its threads.
    const others = Math.max(0, (busy / wallMs) * 100 - server - load);
    return Number.isNaN(server + load) ? null : { server, load, others };
  };
}

interface Run {
  options: Options;
  reference: Buffer;
  serverEnv: NodeJS.ProcessEnv;
  load: ChildProcess;
}

async function runLoad(load: ChildProcess, command: Omit<LoadCommand, 'cmd'>) {
  const result = nextMessage<LoadResult>(load, 'result', (command.seconds + 60) * 1000);
  load.send({ cmd: 'run', ...command } satisfies LoadCommand);
  return result;
}

async function measure(run: Run, kind: ServerKind, label: string): Promise<TargetResult> {
  const { options } = run;
  progress.phase(`${label} starting the server`);
  const server = await startServer(kind, run.serverEnv);
  try {
    await probe(server.url);
    const load = { url: server.url, body: REQUEST_BODY, connections: options.connections };
    progress.phase(`${label} warm-up`, options.warmup);
    await runLoad(run.load, { ...load, seconds: options.warmup, record: false });
    progress.end();
    await verify(server, run.reference, 'after warm-up');

    if (options.cpuProf) await server.command({ cmd: 'profile-start' });
    const cpu = cpuMeter(server.child.pid, run.load.pid);
    progress.phase(`${label} measuring`, options.seconds);
    const result = await runLoad(run.load, { ...load, seconds: options.seconds, record: true });
    const share = cpu();
    progress.end();
    if (options.cpuProf) {
      const file = path.resolve(options.cpuProf, `${kind}.cpuprofile`);
      await server.command({ cmd: 'profile-stop', file });
    }
    await verify(server, run.reference, 'after the measured run');
    const { type: _type, ...figures } = result;
    return { target: kind, ...figures, cpu: share };
  } finally {
    await server.stop();
  }
}

/** Pads each value to its width: negative widths align left, positive ones right. */
function columns(values: (string | number)[], widths: number[]): string {
  return values
    .map((v, i) => (widths[i] < 0 ? String(v).padEnd(-widths[i]) : String(v).padStart(widths[i])))
    .join('  ');
}

interface Ratio {
  of: string;
  value: number | null;
  target: number;
  pass: boolean | null;
}

function ratios(results: TargetResult[]): Ratio[] {
  const rps = (t: ServerKind) => results.find((r) => r.target === t)?.okPerSecond;
  const own = rps('pgcascade');
  return [
    { of: 'floor', target: FLOOR_TARGET },
    { of: 'plugin', target: PLUGIN_TARGET },
  ].map(({ of, target }) => {
    const other = rps(of as ServerKind);
    const value = own !== undefined && other ? own / other : null;
    return { of, value, target, pass: value === null ? null : value >= target };
  });
}

function printResults(results: TargetResult[], computed: Ratio[]): void {
  const widths = [-10, 8, 7, 7, 14, 10, 10, 8, 10];
  const percent = (n: number | undefined) => (n === undefined ? '-' : `${n.toFixed(0)}%`);
  const heads = ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors/non-2xx', 'CPU us/req'];
  console.log(columns([...heads, 'CPU server', 'CPU load', 'CPU others'], widths));
  for (const r of results) {
    const failures = `${r.errors + r.timeouts}/${r.non2xx}`;
    const cells = [r.target, r.okPerSecond.toFixed(0), r.p50Ms.toFixed(2), r.p99Ms.toFixed(2)];
    const perRequest = r.cpu ? ((r.cpu.server * 10_000) / r.okPerSecond).toFixed(1) : '-';
    const cpu = [percent(r.cpu?.server), percent(r.cpu?.load), percent(r.cpu?.others)];
    console.log(columns([...cells, failures, perRequest, ...cpu], widths));
  }
  const busiest = Math.max(...results.map((r) => r.cpu?.others ?? 0));
  if (busiest > OTHERS_WARNING_PERCENT) {
    console.log(
      `WARNING: other processes used up to ${busiest.toFixed(0)}% of a core during a measured ` +
        'run:\n  req/s and latency suffer (CPU us/req less so); re-run on a quiet machine ' +
        'or with --rounds 3',
    );
  }
  console.log('');
  for (const ratio of computed) {
    const value = ratio.value === null ? '-' : ratio.value.toFixed(2);
    const verdict = ratio.pass === null ? 'not measured' : ratio.pass ? 'PASS' : 'MISS';
    const label = `pgcascade/${ratio.of}`;
    console.log(columns([label, value, `(target >= ${ratio.target})`, verdict], [-16, 6, -16, 4]));
  }
  // Metrics cost a hit what the counters cost: compare with the same service counting nothing.
  const counted = results.find((r) => r.target === 'pgcascade');
  const uncounted = results.find((r) => r.target === 'uncounted');
  if (counted && uncounted) {
    const cost = 1 - counted.okPerSecond / uncounted.okPerSecond;
    const verdict = cost < 0.05 ? 'PASS' : 'MISS';
    console.log(
      `metrics cost on the hit path: ${(100 * cost).toFixed(1)}% (target < 5%)   ${verdict}`,
    );
  }
}

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}

/** The functions with the most self time in a .cpuprofile, as printable lines. */
function topSelfTime(file: string, count: number): string[] {
  const profile = JSON.parse(fs.readFileSync(file, 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const frameOf = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<string, number>();
  let totalUs = 0;
  profile.samples.forEach((id, i) => {
    const frame = frameOf.get(id)!;
    const where = frame.url
      ? `${frame.url.replace(/^.*node_modules\//, '')}:${frame.lineNumber + 1}`
      : '';
    const name = `${frame.functionName || '(anonymous)'} ${where}`.trim();
    const delta = profile.timeDeltas[i] ?? 0;
    selfUs.set(name, (selfUs.get(name) ?? 0) + delta);
    totalUs += delta;
  });
  return [...selfUs.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, count)
    .map(([name, us]) => columns([`${((us / totalUs) * 100).toFixed(1)}%`, name], [6, -1]));
}

/** Creates the database, migrates and seeds it; returns its URL. */
async function setUpDatabase(admin: pg.Client, adminUrl: string, users: number): Promise<string> {
  await admin.query(`drop database if exists ${DATABASE} with (force)`);
  await admin.query(`create database ${DATABASE}`);
  const url = new URL(adminUrl);
  url.pathname = `/${DATABASE}`;
  // Ctrl-C drops the database with (force), which ends these sessions under their feet.
  const ignore = () => undefined;
  const client = new pg.Client(url.toString());
  client.on('error', ignore);
  await client.connect();
  try {
    await migrate(client, 'core', silentLogger);
    await migrate(client, 'demo', silentLogger);
  } finally {
    await client.end();
  }
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  pool.on('error', ignore);
  pool.on('connect', (pooled) => pooled.on('error', ignore));
  try {
    await seedDemo(pool, { users });
  } finally {
    await pool.end();
  }
  return url.toString();
}

function autocannonVersion(): string {
  const file = require.resolve('autocannon/package.json');
  return (JSON.parse(fs.readFileSync(file, 'utf8')) as { version: string }).version;
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const adminUrl = process.env.DATABASE_URL || DEFAULT_ADMIN_URL;
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'bench-hits-'));
  if (options.cpuProf) fs.mkdirSync(options.cpuProf, { recursive: true });
  let admin: pg.Client | undefined;
  let created = false;

  const cleanup = async () => {
    progress.end();
    await Promise.all([...children].map(stopChild));
    if (created) {
      await admin
        ?.query(`drop database if exists ${DATABASE} with (force)`)
        .catch((error: Error) =>
          console.error(`bench-hits: dropping ${DATABASE}: ${error.message}`),
        );
    }
    await admin?.end().catch(() => undefined);
    fs.rmSync(scratch, { recursive: true, force: true });
  };
  let cleaning: Promise<void> | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (cleaning) process.exit(130);
    interrupted = true;
    process.stderr.write(`\nbench-hits: ${signal}: stopping children, dropping ${DATABASE}\n`);
    cleaning = cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    admin = new pg.Client(adminUrl);
    await admin.connect().catch((error: Error) => {
      throw new Error(`cannot connect to ${adminUrl} (DATABASE_URL): ${error.message}`);
    });
    progress.phase(`creating ${DATABASE}, seeding ${options.users} users`);
    created = true;
    const databaseUrl = await setUpDatabase(admin, adminUrl, options.users);
    const bodyFile = path.join(scratch, 'body.json');
    // Both Yoga servers run as deployed: production mode, no development extras.
    const serverEnv = {
      ...process.env,
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_BODY_FILE: bodyFile,
      NODE_ENV: 'production',
    };

    progress.phase('verifying: every target must answer the same bytes, pgcascade from its cache');
    const reference = await referenceBody(serverEnv);
    fs.writeFileSync(bodyFile, reference);
    for (const kind of options.targets.filter((t) => t !== 'pgcascade' && t !== 'uncounted')) {
      const server = await startServer(kind, serverEnv);
      try {
        await probe(server.url);
        await verify(server, reference, 'before the benchmark');
      } finally {
        await server.stop();
      }
    }

    const load = forkChild('bench-hits-load.js', ['load'], process.env);
    await nextMessage(load, 'ready', 30_000);
    const run: Run = { options, reference, serverEnv, load };
    const rounds: TargetResult[][] = [];
    const steps = options.rounds * options.targets.length;
    for (let round = 0; round < options.rounds; round++) {
      const measured: TargetResult[] = [];
      for (const [index, kind] of options.targets.entries()) {
        const step = round * options.targets.length + index + 1;
        measured.push(await measure(run, kind, `[${step}/${steps} ${kind}]`));
      }
      rounds.push(measured);
    }
    progress.phase('done');
    const results = options.targets.map((kind) =>
      rounds
        .map((measured) => measured.find((r) => r.target === kind)!)
        .reduce((best, r) => (r.okPerSecond > best.okPerSecond ? r : best)),
    );

    const cpu = os.cpus();
    console.log(
      `machine: ${cpu.length} x ${cpu[0]?.model.trim()}, Node ${process.version}, ` +
        `autocannon ${autocannonVersion()}`,
    );
    console.log(
      `load: ${options.connections} connections, ${options.warmup} s warm-up (not counted) ` +
        `then ${options.seconds} s per target, one target at a time` +
        (options.rounds > 1 ? `; best of ${options.rounds} rounds by req/s` : ''),
    );
    console.log(
      'isolation: each server in its own node process; autocannon in another (child) process',
    );
    console.log(`query: ${REQUEST_BODY}`);
    console.log(
      `response: ${reference.length} bytes, identical from every target; pgcascade x-cache: hit`,
    );
    console.log('req/s: 2xx responses a second; p50/p99: exact, over every 2xx response');
    console.log('CPU us/req: server CPU time a response; CPU server/load/others: % of one core');
    console.log('  used by the server, by autocannon, and by every other process on the machine');
    if (options.cpuProf) console.log('NOTE: profiling was on; the figures are slower than usual');
    console.log('');
    const computed = ratios(results);
    printResults(results, computed);

    if (options.cpuProf) {
      for (const kind of options.targets) {
        const file = path.resolve(options.cpuProf, `${kind}.cpuprofile`);
        console.log(`\n${kind}: top self time during the measured run (${file})`);
        for (const line of topSelfTime(file, 15)) console.log(`  ${line}`);
      }
    }
    if (options.json) {
      writeJson(options.json, {
        at: new Date().toISOString(),
        machine: { cpus: cpu.length, model: cpu[0]?.model.trim(), node: process.version },
        autocannon: autocannonVersion(),
        loadGenerator: 'autocannon in a child process; each server in its own process',
        options: { ...options },
        query: JSON.parse(REQUEST_BODY),
        responseBytes: reference.length,
        results,
        ratios: computed,
        rounds,
      });
      console.log(`\nwrote ${options.json}`);
    }
  } finally {
    if (!cleaning) await cleanup();
  }
}

main().catch((error: Error) => {
  progress.end();
  if (!interrupted) console.error(`bench-hits: ${error.message}`);
  process.exitCode = 1;
});
