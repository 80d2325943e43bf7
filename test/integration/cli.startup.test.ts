import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { createTestDatabase, type TestDatabase } from '../helpers/database';

// The compiled CLI, started exactly as the Dockerfile and `npm start` start it.
const CLI = path.join(__dirname, '..', '..', 'dist', 'src', 'cli.js');

function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME };
  return { ...env, ...extra };
}

interface Served {
  child: ChildProcess;
  url: string;
  /** Every log entry so far, and later ones as they come. */
  log: Array<{ level: number; msg: string }>;
}

/**
 * Starts `pgcascade serve` and resolves once it logs that it serves. `detached` puts it in
 * a process group of its own, as a terminal's shell does, so a test can signal the group.
 */
function serve(env: NodeJS.ProcessEnv, detached = false): Promise<Served> {
  const child = spawn(process.execPath, [CLI, 'serve'], {
    env,
    detached,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines = readline.createInterface({ input: child.stdout! });
  const log: Served['log'] = [];
  let stderr = '';
  child.stderr!.on('data', (chunk) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    lines.on('line', (line) => {
      const entry = JSON.parse(line);
      log.push(entry);
      if (entry.msg === 'pgcascade serving') resolve({ child, url: entry.url, log });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${stderr}`)));
  });
}

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function query(url: string, text: string) {
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ query: text }),
  });
  return { cache: response.headers.get('x-cache'), body: await response.json() };
}

describe('the pgcascade command', () => {
  let db: TestDatabase;

  beforeAll(async () => {
    db = await createTestDatabase();
  });

  afterAll(() => db.drop());

  it('stops on bad configuration with one line naming the variable (exit 2)', () => {
    const result = spawnSync(process.execPath, [CLI, 'serve'], {
      env: cleanEnv({ PORT: 'abc' }),
      encoding: 'utf8',
    });
    expect(result.status).toBe(2);
    expect(result.stderr).toBe(
      'pgcascade: PORT="abc" is invalid: expected an integer from 0 to 65535\n',
    );
  });

  it('stops quickly with one line when DATABASE_URL is unreachable (exit 1)', () => {
    const started = Date.now();
    const result = spawnSync(process.execPath, [CLI, 'serve'], {
      env: cleanEnv({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none' }),
      encoding: 'utf8',
    });
    expect(result.status).toBe(1);
    expect(result.stderr.trim().split('\n')).toHaveLength(1);
    expect(result.stderr).toMatch(
      /^pgcascade: DATABASE_URL: cannot connect .*expected a reachable/,
    );
    expect(Date.now() - started).toBeLessThan(10_000);
  });

  it('serves the demo on DATABASE_URL as Docker does, and exits 0 on SIGTERM', async () => {
    const { child, url } = await serve(
      cleanEnv({ DATABASE_URL: db.url, HOST: '0.0.0.0', PORT: '0', LOG_LEVEL: 'info' }),
    );
    try {
      const local = url.replace('0.0.0.0', '127.0.0.1');
      const first = await query(local, '{ user(id: 1) { name } }');
      expect(first.body.data.user.name).toEqual(expect.any(String));
      expect((await query(local, '{ user(id: 1) { name } }')).cache).toBe('hit');
    } finally {
      const code = exited(child);
      child.kill('SIGTERM');
      expect(await code).toBe(0);
    }
  }, 60_000);

  it('starts an embedded PostgreSQL and leaves none behind, quietly, on Ctrl-C', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgcascade-cli-'));
    fs.chmodSync(dir, 0o755);
    try {
      const { child, url, log } = await serve(
        cleanEnv({ PGCASCADE_DATA_DIR: dir, PORT: '0', LOG_LEVEL: 'info' }),
        true,
      );
      const answer = await query(url, '{ user(id: 1) { name posts { title comments { body } } } }');
      expect(answer.body.data.user.posts).toHaveLength(10);
      expect(answer.body.data.user.posts[0].comments).toHaveLength(3);

      // A terminal's Ctrl-C signals the whole group: the embedded server too, which then
      // closes the service's connections while it shuts down.
      const code = exited(child);
      process.kill(-child.pid!, 'SIGINT');
      expect(await code).toBe(0);
      const postgres = spawnSync('ps', ['-eo', 'args'], { encoding: 'utf8' }).stdout;
      expect(postgres.split('\n').filter((line) => line.includes(dir))).toEqual([]);
      expect(log.filter((entry) => entry.level >= 40).map((entry) => entry.msg)).toEqual([]);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 120_000);
});
