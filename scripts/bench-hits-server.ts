/**
 * One server under test for scripts/bench-hits, run alone in its own process: `floor` (bare
 * node:http answering every POST with fixed bytes), `plugin` (Yoga with its response-cache
 * plugin over the demo) or `pgcascade` (startService). It reports its port over IPC, profiles
 * itself on request, and exits when told to or when its parent goes away.
 */
import fs from 'node:fs';
import http from 'node:http';
import { Session } from 'node:inspector/promises';
import type { AddressInfo } from 'node:net';
import { useResponseCache } from '@graphql-yoga/plugin-response-cache';
import { createSchema, createYoga } from 'graphql-yoga';
import pg from 'pg';
import { loadConfig } from '../src/config';
import { demoSchemaModule } from '../src/demo';
import type { RequestHeaders } from '../src/graphql/schema-module';
import { createLogger } from '../src/logger';
import { startService } from '../src/service';

const SERVER_KINDS = ['floor', 'plugin', 'pgcascade', 'uncounted'] as const;

/** One of {@link SERVER_KINDS}. */
export type ServerKind = (typeof SERVER_KINDS)[number];

/** Sent to the parent once the server listens. */
export interface ReadyMessage {
  type: 'ready';
  port: number;
}

/**
 * Commands the parent sends. Profiling commands are answered with `{ type: 'done', cmd }`;
 * `stop` closes the server and exits.
 */
export type ServerCommand =
  { cmd: 'profile-start' } | { cmd: 'profile-stop'; file: string } | { cmd: 'stop' };

interface Running {
  port: number;
  stop(): Promise<void>;
}

/** Environment of the child: where the data is and, for the floor, what to answer. */
const BENCH_DATABASE_URL = 'BENCH_DATABASE_URL';
const BENCH_BODY_FILE = 'BENCH_BODY_FILE';

function listen(server: http.Server): Promise<Running> {
  // node:http's default keep-alive is 5 s, as pgcascade sets it: all three match.
  server.keepAliveTimeout = 5000;
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const stop = () =>
        new Promise<void>((done) => {
          server.close(() => done());
          server.closeAllConnections();
        });
      resolve({ port: (server.address() as AddressInfo).port, stop });
    });
  });
}

async function startFloor(): Promise<Running> {
  const body = fs.readFileSync(required(BENCH_BODY_FILE));
  const headers = {
    'content-type': 'application/json; charset=utf-8',
    'content-length': String(body.length),
  };
  // The request is read to its end, as any real server must before answering.
  return listen(
    http.createServer((req, res) => {
      req.on('data', () => undefined);
      req.on('end', () => {
        res.writeHead(200, headers);
        res.end(body);
      });
    }),
  );
}

function headersOf(request: Request): RequestHeaders {
  const headers: RequestHeaders = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

async function startPlugin(): Promise<Running> {
  const pool = new pg.Pool({ connectionString: required(BENCH_DATABASE_URL), max: 10 });
  const module = demoSchemaModule;
  const yoga = createYoga({
    schema: createSchema({ typeDefs: module.typeDefs!, resolvers: module.resolvers as never }),
    graphqlEndpoint: '/graphql',
    landingPage: false,
    graphiql: false,
    logging: false,
    context: ({ request }) => module.context!({ pool, headers: headersOf(request) }),
    // One shared entry per operation, as pgcascade without a viewer; metadata off so that
    // the bytes match (the plugin adds it by default only when NODE_ENV=development).
    plugins: [useResponseCache({ session: () => null, includeExtensionMetadata: false })],
  });
  const running = await listen(http.createServer(yoga));
  return {
    port: running.port,
    stop: async () => {
      await running.stop();
      await pool.end();
    },
  };
}

async function startPgcascade(countRequests = true): Promise<Running> {
  const config = loadConfig(
    {
      ...process.env,
      DATABASE_URL: required(BENCH_DATABASE_URL),
      PORT: '0',
      HOST: '127.0.0.1',
      LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
    },
    {},
  );
  const service = await startService({
    config,
    log: createLogger(config.logLevel),
    seedDemo: false,
    countRequests,
  });
  return { port: service.port, stop: () => service.stop() };
}

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set: bench-hits-server runs under bench-hits`);
  return value;
}

function send(message: object): void {
  process.send?.(message);
}

async function main(): Promise<void> {
  const kind = process.argv[2] as ServerKind;
  if (!SERVER_KINDS.includes(kind) || !process.send) {
    console.error(`usage: (forked by bench-hits) bench-hits-server ${SERVER_KINDS.join('|')}`);
    process.exit(2);
  }
  const starters = {
    floor: startFloor,
    plugin: startPlugin,
    pgcascade: () => startPgcascade(),
    // pgcascade with the hit path's request counters off: what metrics cost a hit.
    uncounted: () => startPgcascade(false),
  };
  const running = await starters[kind]();
  const profiler = new Session();

  // A parent that dies without a word (SIGKILL) closes the channel: never outlive it.
  process.on('disconnect', () => process.exit(0));
  process.on('message', (command: ServerCommand) => {
    const answer = () => send({ type: 'done', cmd: command.cmd });
    if (command.cmd === 'profile-start') {
      profiler.connect();
      void profiler
        .post('Profiler.enable')
        .then(() => profiler.post('Profiler.start'))
        .then(answer);
    } else if (command.cmd === 'profile-stop') {
      void profiler.post('Profiler.stop').then(({ profile }) => {
        fs.writeFileSync(command.file, JSON.stringify(profile));
        profiler.disconnect();
        answer();
      });
    } else if (command.cmd === 'stop') {
      void running.stop().finally(() => process.exit(0));
    }
  });
  const ready: ReadyMessage = { type: 'ready', port: running.port };
  send(ready);
}

main().catch((error: Error) => {
  console.error(`bench-hits-server: ${error.stack ?? error.message}`);
  process.exit(1);
});
