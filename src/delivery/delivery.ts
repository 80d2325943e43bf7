/**
 * Delivery: the path from a committed change to this instance's cache. Owns the
 * listener, reconciliation and this instance's registry row, all applying through one
 * Applier. Start-up fails if the database cannot be reached; later losses are repaired.
 */
import type pg from 'pg';
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import { Applier, type Invalidator } from './applier';
import { AuditCursor } from './audit-cursor';
import { InstanceRegistry } from './instance-registry';
import { Listener, type ListenerOptions } from './listener';
import { Reconciler } from './reconciler';

/** Options of {@link Delivery}. */
export interface DeliveryOptions {
  connectionString: string;
  instanceId: string;
  /** PGCASCADE_RECONCILE_INTERVAL_MS. */
  reconcileIntervalMs: number;
  /** Prune applied audit entries older than this many seconds; 0 never prunes. */
  auditRetentionSeconds: number;
  /** Listener tuning (heartbeat, backoff, drain pacing). */
  listener?: Partial<ListenerOptions>;
}

/** Keeps one instance's cache in step with the audit trail. */
export class Delivery {
  readonly applier: Applier;
  readonly listener: Listener;
  readonly reconciler: Reconciler;
  readonly registry: InstanceRegistry;
  private readonly cursor = new AuditCursor();

  constructor(
    options: DeliveryOptions,
    pool: pg.Pool,
    cache: Invalidator,
    bus: EventBus,
    log: Logger,
  ) {
    this.applier = new Applier(cache, bus, log.child({ component: 'applier' }));
    this.registry = new InstanceRegistry(
      {
        instanceId: options.instanceId,
        staleAfterSeconds: Math.max(30, (10 * options.reconcileIntervalMs) / 1000),
      },
      pool,
      log.child({ component: 'registry' }),
    );
    this.listener = new Listener(
      { connectionString: options.connectionString, ...options.listener },
      this.cursor,
      this.applier,
      pool,
      bus,
      log.child({ component: 'listener' }),
    );
    this.reconciler = new Reconciler(
      {
        intervalMs: options.reconcileIntervalMs,
        auditRetentionSeconds: options.auditRetentionSeconds,
      },
      pool,
      this.applier,
      this.registry,
      () => this.listener.connected,
      bus,
      log.child({ component: 'reconciler' }),
    );
  }

  /** Registers, connects the listener and starts reconciliation. */
  async start(): Promise<void> {
    await this.registry.register();
    await this.listener.start();
    this.reconciler.start(this.cursor);
  }

  /** Resolves once every change committed before the call is applied locally. */
  sync(): Promise<void> {
    return this.listener.sync();
  }

  /** Stops reconciliation and the listener and marks the instance gone. */
  async stop(): Promise<void> {
    await this.reconciler.stop();
    await this.listener.stop();
    await this.registry.deregister().catch(() => undefined);
  }
}
