/**
 * Applies audit entries to the local cache exactly once per instance, whichever path
 * finds them first: the listener (live) or reconciliation. Entries found late are kept
 * as missed records until reconciliation writes them to pgcascade.missed.
 */
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import type { AuditEntry } from './audit-cursor';

/** What the applier invalidates: the cache store, or a test double. */
export interface Invalidator {
  /** Removes every cached result indexed under any of `tags`; returns how many. */
  invalidate(tags: readonly string[]): number;
}

/** A late entry waiting to be recorded in pgcascade.missed. */
export interface MissedRecord {
  seq: number;
  createdAtMs: number;
  delayMs: number;
  foundBy: 'reconciliation' | 'catch-up';
}

// Each path remembers what it applied until the other path has seen the same entry
// (every entry is read by both cursors), which bounds both sets. The cap is a guard
// for a reconciler that stopped; re-applying an invalidation is harmless.
const MAX_REMEMBERED = 100_000;

function remember(set: Set<number>, seq: number): void {
  set.add(seq);
  if (set.size > MAX_REMEMBERED) set.delete(set.values().next().value as number);
}

/** The one place where audit entries turn into cache invalidations. */
export class Applier {
  private readonly byLive = new Set<number>();
  private readonly byReconciliation = new Set<number>();
  private missedRecords: MissedRecord[] = [];
  /** Entries applied since start. */
  appliedCount = 0;
  /** Entries applied late since start. */
  missedCount = 0;
  /** Highest seq applied. */
  highestSeq = 0;

  constructor(
    private readonly cache: Invalidator,
    private readonly bus: EventBus,
    private readonly log: Logger,
  ) {}

  /**
   * Applies an entry found by the listener's path. `late` marks entries found by the
   * catch-up read after a reconnect. Returns false when it was applied already.
   */
  applyLive(entry: AuditEntry, late = false): boolean {
    if (this.byReconciliation.delete(entry.seq) || this.byLive.has(entry.seq)) return false;
    remember(this.byLive, entry.seq);
    this.apply(entry, late ? 'catch-up' : 'listener');
    return true;
  }

  /** Whether the live path applied `seq`; forgets it, since reconciliation asks once. */
  takeLive(seq: number): boolean {
    return this.byLive.delete(seq);
  }

  /** Applies an entry that reconciliation found unapplied: always a miss. */
  applyReconciled(entry: AuditEntry): void {
    remember(this.byReconciliation, entry.seq);
    this.apply(entry, 'reconciliation');
  }

  /** Hands over the missed records gathered since the last call. */
  drainMissed(): MissedRecord[] {
    const records = this.missedRecords;
    this.missedRecords = [];
    return records;
  }

  /** Puts back a record that could not be written, for the next report. */
  requeueMissed(record: MissedRecord): void {
    this.missedRecords.push(record);
  }

  private apply(entry: AuditEntry, source: 'listener' | 'catch-up' | 'reconciliation'): void {
    const removed = this.cache.invalidate(entry.tags);
    const lagMs = Math.max(0, Date.now() - entry.createdAtMs);
    this.appliedCount++;
    if (entry.seq > this.highestSeq) this.highestSeq = entry.seq;
    this.bus.emit('invalidation:applied', { seq: entry.seq, source, lagMs, removed });
    if (source === 'listener') return;

    this.missedCount++;
    this.missedRecords.push({
      seq: entry.seq,
      createdAtMs: entry.createdAtMs,
      delayMs: lagMs,
      foundBy: source,
    });
    this.bus.emit('delivery:missed', { seq: entry.seq, delayMs: lagMs, foundBy: source });
    this.log.warn(
      { seq: entry.seq, delayMs: Math.round(lagMs), foundBy: source },
      'missed cascade recovered',
    );
  }
}
