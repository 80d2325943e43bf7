/**
 * Reconciliation: every interval, reads the audit trail with a cursor of its own and
 * applies what the listener has not, counting each such entry as missed; then records
 * misses and progress in pgcascade.missed and pgcascade.instances. An entry committed
 * since the previous run gets one interval of grace while the listener is connected,
 * so a notification still in flight is not mistaken for a miss.
 */
import type pg from 'pg';
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import type { Applier } from './applier';
import { AuditCursor, type AuditEntry } from './audit-cursor';
import type { InstanceRegistry } from './instance-registry';

/** Options of {@link Reconciler}. */
export interface ReconcilerOptions {
  /** Period of the loop in milliseconds (PGCASCADE_RECONCILE_INTERVAL_MS). */
  intervalMs: number;
  /** Prune applied audit entries older than this, in seconds; 0 keeps everything. */
  auditRetentionSeconds: number;
}

/** The loop that proves nothing was missed, and repairs what was. */
export class Reconciler {
  private readonly cursor = new AuditCursor(5000);
  private readonly suspects = new Map<number, AuditEntry>();
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private lastPruneMs = 0;
  /** When the last run finished (epoch ms), 0 before the first. */
  lastRunAtMs = 0;
  /** Whether the last run failed. */
  lastRunFailed = false;

  constructor(
    private readonly options: ReconcilerOptions,
    private readonly pool: pg.Pool,
    private readonly applier: Applier,
    private readonly registry: InstanceRegistry,
    private readonly listenerConnected: () => boolean,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /** Starts at the listener's position and schedules the loop. */
  start(listenerCursor: AuditCursor): void {
    this.cursor.startFrom(listenerCursor);
    this.schedule();
  }

  /** Stops the loop after the run in progress, if any. */
  async stop(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  /** Runs once now (tests and the health check may ask); concurrent calls share a run. */
  runOnce(): Promise<void> {
    this.running ??= this.run().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.runOnce().finally(() => {
        if (this.timer) this.schedule();
      });
    }, this.options.intervalMs);
    this.timer.unref();
  }

  private async run(): Promise<void> {
    const started = Date.now();
    let checked = 0;
    const missedBefore = this.applier.missedCount;
    try {
      // Suspects from the last run had their grace: still unapplied now means missed.
      for (const [seq, entry] of this.suspects) {
        if (!this.applier.takeLive(seq)) this.applier.applyReconciled(entry);
        this.suspects.delete(seq);
      }
      for (;;) {
        const previousHighest = this.cursor.highestSeq;
        const pendingBefore = new Set(this.cursor.pendingXids);
        const xmaxBefore = BigInt(this.cursor.lastSnapshot!.xmax);
        const { entries, more } = await this.cursor.read(this.pool);
        checked += entries.length;
        for (const entry of entries) {
          if (this.applier.takeLive(entry.seq)) continue;
          // Committed since the last run: the listener may simply not have read it yet.
          const recent =
            entry.seq > previousHighest ||
            pendingBefore.has(entry.xid) ||
            BigInt(entry.xid) >= xmaxBefore;
          if (recent && this.listenerConnected()) {
            this.suspects.set(entry.seq, entry);
          } else {
            this.applier.applyReconciled(entry);
          }
        }
        if (!more) break;
      }
      await this.registry.report(this.applier, this.appliedXmin(), this.listenerConnected());
      await this.pruneNow();
      this.lastRunFailed = false;
    } catch (error) {
      this.lastRunFailed = true;
      this.log.warn({ err: error }, 'reconciliation failed');
    }
    this.lastRunAtMs = Date.now();
    const missed = this.applier.missedCount - missedBefore;
    const durationMs = Date.now() - started;
    this.log.debug({ checked, missed, durationMs }, 'reconciliation done');
    this.bus.emit('reconciliation:done', { checked, missed, durationMs });
  }

  // Every transaction below the cursor's xmin is read and applied, except suspects.
  private appliedXmin(): string | undefined {
    let xmin = this.cursor.lastSnapshot?.xmin;
    for (const entry of this.suspects.values()) {
      if (xmin === undefined || BigInt(entry.xid) < BigInt(xmin)) xmin = entry.xid;
    }
    return xmin;
  }

  private async pruneNow(): Promise<void> {
    const retention = this.options.auditRetentionSeconds;
    if (retention <= 0 || Date.now() - this.lastPruneMs < 60_000) return;
    this.lastPruneMs = Date.now();
    const { rows } = await this.pool.query(
      'select pgcascade.prune(make_interval(secs => $1)) as pruned',
      [retention],
    );
    this.log.debug({ pruned: Number(rows[0].pruned) }, 'audit pruned');
  }
}
