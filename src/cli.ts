#!/usr/bin/env node
/**
 * The `pgcascade` command: serve, migrate, seed. Failures print one line and exit
 * non-zero (2 for bad configuration or usage, 1 otherwise); SIGINT and SIGTERM shut
 * the service down gracefully, including an embedded PostgreSQL.
 */
import pg from 'pg';
import { ConfigError, loadConfig, type Config } from './config';
import { migrate } from './db/migrate';
import { seedDemo } from './demo';
import { createLogger, type Logger } from './logger';
import { loadSchemaModule } from './graphql/schema-module';
import { resolveDatabase, startService } from './service';

const USAGE = `usage: pgcascade <command> [flags]

commands:
  serve [--schema ./module.js]   serve GraphQL at http://HOST:PORT/graphql (default: the demo)
  migrate [--demo]               apply pgcascade's migrations (and the demo's)
  seed [--users N]               reset and fill the demo schema (default 1000 users,
       [--posts-per-user N]      10 posts each, 3 comments a post)
       [--comments-per-post N]

flags mirror the environment: --database-url, --port, --host, --cache-max-bytes,
--cache-ttl-seconds, --reconcile-interval-ms, --instance-id, --log-level, ...`;

class UsageError extends Error {}

interface Parsed {
  command: string;
  options: Record<string, string>;
}

function parseArgs(argv: string[]): Parsed {
  const [command = 'help', ...rest] = argv;
  const options: Record<string, string> = {};
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (!arg.startsWith('--')) throw new UsageError(`unexpected argument ${JSON.stringify(arg)}`);
    const eq = arg.indexOf('=');
    if (eq > 0) {
      options[arg.slice(2, eq)] = arg.slice(eq + 1);
    } else if (rest[i + 1] !== undefined && !rest[i + 1].startsWith('--')) {
      options[arg.slice(2)] = rest[++i];
    } else {
      options[arg.slice(2)] = 'true';
    }
  }
  return { command, options };
}

/** Splits command-specific flags from the configuration flags. */
function take(options: Record<string, string>, names: string[]): Record<string, string> {
  const taken: Record<string, string> = {};
  for (const name of names) {
    if (name in options) {
      taken[name] = options[name];
      delete options[name];
    }
  }
  return taken;
}

function count(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new UsageError(`--${name}=${JSON.stringify(value)} is invalid: expected a whole number`);
  }
  return n;
}

async function serve(config: Config, log: Logger, schemaPath: string | undefined): Promise<void> {
  const module = schemaPath ? await loadSchemaModule(schemaPath) : undefined;
  const service = await startService({ config, log, module });
  let signals = 0;
  const shutdown = (signal: string) => {
    signals++;
    if (signals > 1) {
      log.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    log.info({ signal }, 'shutting down');
    service.stop().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', () => shutdown('SIGINT'));
  process.on('SIGTERM', () => shutdown('SIGTERM'));
}

/** Runs `fn` with a client on the configured or embedded database, then stops it. */
async function withDatabase(
  config: Config,
  log: Logger,
  fn: (client: pg.Client, url: string) => Promise<void>,
): Promise<void> {
  const database = await resolveDatabase(config, log);
  try {
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await fn(client, database.url);
    } finally {
      await client.end();
    }
  } finally {
    await database.embedded?.stop();
  }
}

function progress(done: number, total: number, phase: string): void {
  const percent = total === 0 ? 100 : Math.floor((100 * done) / total);
  process.stderr.write(`\rseeding ${phase}: ${done}/${total} (${percent}%)   `);
  if (done === total) process.stderr.write('\n');
}

async function main(argv: string[]): Promise<void> {
  const { command, options } = parseArgs(argv);
  if (command === 'help' || command === '--help' || options.help) {
    console.log(USAGE);
    return;
  }
  const own = take(options, ['schema', 'demo', 'users', 'posts-per-user', 'comments-per-post']);
  const config = loadConfig(process.env, options);
  const log = createLogger(config.logLevel);

  if (command === 'serve') return serve(config, log, own.schema);
  if (command === 'migrate') {
    return withDatabase(config, log, async (client) => {
      const applied = await migrate(client, 'core', log);
      if (own.demo) applied.push(...(await migrate(client, 'demo', log)));
      console.log(applied.length ? `applied ${applied.join(', ')}` : 'up to date');
    });
  }
  if (command === 'seed') {
    const users = count(own.users, 'users', 1000);
    const postsPerUser = count(own['posts-per-user'], 'posts-per-user', 10);
    const commentsPerPost = count(own['comments-per-post'], 'comments-per-post', 3);
    return withDatabase(config, log, async (client, url) => {
      await migrate(client, 'core', log);
      await migrate(client, 'demo', log);
      const pool = new pg.Pool({ connectionString: url, max: 2 });
      const started = Date.now();
      try {
        await seedDemo(pool, { users, postsPerUser, commentsPerPost, onProgress: progress });
      } finally {
        await pool.end();
      }
      console.log(`seeded ${users} users in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    });
  }
  throw new UsageError(`unknown command ${JSON.stringify(command)}\n${USAGE}`);
}

main(process.argv.slice(2)).catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof UsageError) {
    console.error(`pgcascade: ${error.message}`);
    process.exit(2);
  }
  console.error(`pgcascade: ${(error as Error).message ?? String(error)}`);
  process.exit(1);
});
