/**
 * The service under load, in a process of its own: started by scripts/load and
 * scripts/chaos with a configuration in its environment. It reports over IPC when it
 * serves, every applied audit entry (seq, when, lag), listener losses and, on request,
 * its counters. Exits when its parent disconnects.
 */
import { loadConfig } from '../src/config';
import { createLogger } from '../src/logger';
import { startService } from '../src/service';
import { wall } from './bench-report';

/** Messages this process sends to its parent. */
export type ServerMessage =
  | { type: 'ready'; url: string }
  | { type: 'applied'; entries: Array<[seq: number, atMs: number, lagMs: number, source: string]> }
  | { type: 'listener'; event: 'connected' | 'disconnected'; atMs: number }
  | { type: 'counters'; counters: ServerCounters };

/** Counters read from the running service. */
export interface ServerCounters {
  hits: number;
  misses: number;
  bypasses: number;
  executions: number;
  coalesced: number;
  staleFills: number;
  missed: number;
  reconnects: number;
  cacheBytes: number;
  cacheEntries: number;
}

async function main(): Promise<void> {
  const config = loadConfig(process.env, {});
  const log = createLogger(config.logLevel);
  const service = await startService({ config, log, seedDemo: false });
  const send = (message: ServerMessage) => process.send?.(message);

  let batch: Array<[number, number, number, string]> = [];
  service.bus.on('invalidation:applied', (e) => {
    batch.push([e.seq, wall(), e.lagMs, e.source]);
  });
  const flush = setInterval(() => {
    if (batch.length === 0) return;
    send({ type: 'applied', entries: batch });
    batch = [];
  }, 50);
  service.bus.on('listener:connected', () =>
    send({ type: 'listener', event: 'connected', atMs: wall() }),
  );
  service.bus.on('listener:disconnected', () =>
    send({ type: 'listener', event: 'disconnected', atMs: wall() }),
  );

  process.on('message', (message: { type: string }) => {
    if (message.type !== 'counters') return;
    const m = service.metrics;
    const stats = service.store.stats();
    send({
      type: 'counters',
      counters: {
        hits: m.requests.hit,
        misses: m.requests.miss,
        bypasses: m.requests.bypass,
        executions: m.executionCount,
        coalesced: m.coalescedCount,
        staleFills: m.staleFillCount,
        missed: m.missedCount,
        reconnects: service.delivery.listener.reconnectCount,
        cacheBytes: stats.bytes,
        cacheEntries: stats.entries,
      },
    });
  });
  const stop = async () => {
    clearInterval(flush);
    await service.stop();
    process.exit(0);
  };
  process.on('disconnect', () => void stop());
  process.on('SIGTERM', () => void stop());
  send({ type: 'ready', url: `${service.url}/graphql` });
}

main().catch((error) => {
  process.stderr.write(`load-server: ${(error as Error).message}\n`);
  process.exit(1);
});
