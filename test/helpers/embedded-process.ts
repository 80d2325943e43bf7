/**
 * Starts a private embedded PostgreSQL in a child process (see embedded-server.js), for
 * tests that stop and start the server itself. Needs the compiled dist/ (npm test
 * builds it first).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

export interface EmbeddedProcess {
  url: string;
  /** Stops the server (fast shutdown) and starts it again on the same port and data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function spawnEmbedded(): Promise<EmbeddedProcess> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgcascade-restart-'));
  fs.chmodSync(dir, 0o755);
  const child = spawn(process.execPath, [path.join(__dirname, 'embedded-server.js'), dir], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const events = readline.createInterface({ input: child.stdout! });
  const next = (name: string) =>
    new Promise<{ url?: string }>((resolve, reject) => {
      const onLine = (line: string) => {
        const event = JSON.parse(line);
        if (event.event !== name) return;
        events.off('line', onLine);
        resolve(event);
      };
      events.on('line', onLine);
      child.once('exit', (code) => reject(new Error(`embedded server exited with ${code}`)));
    });

  const ready = await next('ready');
  return {
    url: ready.url!,
    restart: async () => {
      const restarted = next('restarted');
      child.stdin!.write('restart\n');
      await restarted;
    },
    stop: async () => {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.stdin!.write('stop\n');
      await exited;
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
