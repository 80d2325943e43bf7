/**
 * Starts delivery (listener, reconciliation, registry) against a test database with a
 * recording stand-in for the cache, and waits until the listener is idle, so that a
 * test's first write finds it listening.
 */
import pg from 'pg';
import { Delivery } from '../../src/delivery/delivery';
import type { ListenerOptions } from '../../src/delivery/listener';
import { EventBus } from '../../src/events';
import { silentLogger } from '../../src/logger';
import { RecordingCache } from './recording-cache';

export interface TestDelivery {
  cache: RecordingCache;
  bus: EventBus;
  delivery: Delivery;
  pool: pg.Pool;
  stop(): Promise<void>;
}

export async function startTestDelivery(
  url: string,
  options: {
    /** Where the listener connects, when not `url` (a proxy, say). */
    listenerUrl?: string;
    instanceId?: string;
    reconcileIntervalMs?: number;
    listener?: Partial<ListenerOptions>;
  } = {},
): Promise<TestDelivery> {
  const cache = new RecordingCache();
  const bus = new EventBus();
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  const delivery = new Delivery(
    {
      connectionString: options.listenerUrl ?? url,
      instanceId: options.instanceId ?? 'test',
      reconcileIntervalMs: options.reconcileIntervalMs ?? 60_000,
      auditRetentionSeconds: 0,
      listener: options.listener,
    },
    pool,
    cache,
    bus,
    silentLogger,
  );
  const idle = bus.next('listener:idle');
  await delivery.start();
  await idle;
  return {
    cache,
    bus,
    delivery,
    pool,
    stop: async () => {
      await delivery.stop();
      await pool.end();
    },
  };
}
