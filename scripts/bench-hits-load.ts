/**
 * The load generator of scripts/bench-hits, in a process of its own so that it shares no
 * event loop with the orchestrator or the server under test. It runs autocannon once per
 * `run` command and answers with its own count of 2xx responses per second and exact
 * latency percentiles. autocannon's histogram keeps whole milliseconds; hits take less.
 */
import autocannon from 'autocannon';
import { percentile } from './bench-report';

/** What the parent asks for: one run of `seconds` against `url`. */
export interface LoadCommand {
  cmd: 'run';
  url: string;
  /** The POST body, sent as application/json on every request. */
  body: string;
  connections: number;
  seconds: number;
  /** Whether to keep per-response latencies (the warm-up does not). */
  record: boolean;
}

/** The answer to a run; latencies in milliseconds, of 2xx responses only. */
export interface LoadResult {
  type: 'result';
  seconds: number;
  responses: number;
  ok: number;
  okPerSecond: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  errors: number;
  timeouts: number;
  non2xx: number;
  /** autocannon's own figures, for comparison: its histogram rounds to whole milliseconds. */
  autocannon: { requestsPerSecond: number; p50Ms: number; p99Ms: number };
}

/** Latencies in a growable Float64Array: half a million hits cost 4 MB, not 16. */
class Samples {
  private values = new Float64Array(1 << 20);
  length = 0;

  push(value: number): void {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = value;
  }

  toArray(): number[] {
    return Array.from(this.values.subarray(0, this.length));
  }
}

async function run(command: LoadCommand): Promise<LoadResult> {
  const samples = new Samples();
  let responses = 0;
  let ok = 0;
  let started = process.hrtime.bigint();
  let finish!: (error: unknown, result: autocannon.Result) => void;
  const finished = new Promise<autocannon.Result>((resolve, reject) => {
    finish = (error, result) => (error ? reject(error) : resolve(result));
  });
  const options: autocannon.Options = {
    url: command.url,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: command.body,
    connections: command.connections,
    duration: command.seconds,
  };
  const instance = autocannon(options, (error, result) => finish(error, result));

  // Connections are open from here on; autocannon's own clock starts here too.
  instance.once('start', () => (started = process.hrtime.bigint()));
  // The typings omit the client that autocannon passes first.
  const onResponse = (_client: unknown, status: number, _bytes: number, ms: number) => {
    responses++;
    if (status < 200 || status > 299) return;
    ok++;
    if (command.record) samples.push(ms);
  };
  instance.on('response', onResponse as never);
  const result = await finished;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;

  const latencies = samples.toArray();
  return {
    type: 'result',
    seconds,
    responses,
    ok,
    okPerSecond: ok / seconds,
    p50Ms: percentile(latencies, 50),
    p99Ms: percentile(latencies, 99),
    maxMs: percentile(latencies, 100),
    errors: result.errors,
    timeouts: result.timeouts,
    non2xx: result.non2xx,
    autocannon: {
      requestsPerSecond: result.requests.average,
      p50Ms: result.latency.p50,
      p99Ms: result.latency.p99,
    },
  };
}

if (!process.send) {
  console.error('bench-hits-load: runs only as a child of bench-hits (it needs the IPC channel)');
  process.exit(2);
}
process.on('disconnect', () => process.exit(0));
process.on('message', (command: LoadCommand) => {
  run(command).then(
    (result) => process.send!(result),
    (error: Error) => process.send!({ type: 'error', message: error.stack ?? error.message }),
  );
});
process.send({ type: 'ready' });
