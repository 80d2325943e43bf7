/**
 * Refresh-ahead: a cached result that was read often and then invalidated is run again
 * at once, in the background, so that the next read of it hits instead of waiting for
 * the database. Only results whose fill kept its request (shared, not viewer-scoped
 * ones: see graphql/http-handler.ts) and that served at least `minHits` hits are run
 * again. A refreshed result carries half the hits of the one it replaces, so a result
 * stays refreshed while it is read and stops within a few writes once it is not: one
 * written more often than it is read stops being refreshed by itself.
 *
 * A refresh is an ordinary fill that begins after the invalidation was applied: the
 * fill protocol (cache-store.ts) discards it if another invalidation of its tags applies
 * while it runs, exactly as for a request's fill.
 */
import type { EvictionEvent } from './cache-store';

/** What became of one offered refresh. */
export type RefreshOutcome =
  /** Run, and its result stored. */
  | 'stored'
  /** Run, and discarded: another invalidation of its tags applied while it ran. */
  | 'stale'
  /** Not run: the key was filled again, or a fill of it was running, by the time its turn came. */
  | 'skipped'
  /** Not run: the queue was full. */
  | 'dropped'
  /** Run, and it failed (the error was logged), or its result was not cacheable. */
  | 'failed';

/**
 * Runs the request `replay` again and stores its result under `key`, crediting it with
 * `carriedHits` hits from the start.
 */
export type RefreshRun = (
  key: string,
  replay: Buffer,
  carriedHits: number,
) => Promise<'stored' | 'stale' | 'failed'>;

/** Options of {@link Refresher}. */
export interface RefresherOptions {
  /** Hits an entry must have served to be refreshed after an invalidation; 0 disables. */
  minHits: number;
  /** Refreshes running at once, so that a burst of invalidations cannot take the pool. */
  concurrency: number;
  /** Refreshes waiting at most; more are dropped (the next read misses). */
  maxQueued: number;
}

/** Queues and runs refreshes of invalidated hot entries. */
export class Refresher {
  // Insertion order is queue order; a key queued twice runs once.
  private readonly queue = new Map<string, { replay: Buffer; hits: number }>();
  private running = 0;
  private stopped = false;
  private drained: (() => void) | undefined;

  constructor(
    private readonly options: RefresherOptions,
    private readonly run: RefreshRun,
    /** Whether `key` needs no refresh now: cached again, or being filled. */
    private readonly isFresh: (key: string) => boolean,
    private readonly onOutcome: (outcome: RefreshOutcome, key: string) => void,
  ) {}

  /** Whether refreshes are on. */
  get enabled(): boolean {
    return this.options.minHits > 0 && !this.stopped;
  }

  /** Refreshes waiting and running. */
  get backlog(): number {
    return this.queue.size + this.running;
  }

  /** Takes an eviction; queues a refresh if it was an invalidation of a hot, replayable entry. */
  offer(event: EvictionEvent): void {
    if (!this.enabled || event.reason !== 'invalidation' || !event.replay) return;
    if (event.hits < this.options.minHits) return;
    if (this.queue.has(event.key)) return;
    if (this.queue.size >= this.options.maxQueued) {
      this.onOutcome('dropped', event.key);
      return;
    }
    this.queue.set(event.key, { replay: event.replay, hits: event.hits });
    // After the invalidation that evicted it has finished applying: the store emits
    // evictions before invalidate() returns, and the fill coalescer is sealed after it.
    setImmediate(() => this.pump());
  }

  /** Takes no more refreshes, forgets the queued ones, and resolves when none runs. */
  stop(): Promise<void> {
    this.stopped = true;
    this.queue.clear();
    if (this.running === 0) return Promise.resolve();
    return new Promise((resolve) => (this.drained = resolve));
  }

  private pump(): void {
    if (this.running === 0 && this.stopped) this.drained?.();
    while (this.running < this.options.concurrency && this.queue.size > 0) {
      const [key, { replay, hits }] = this.queue.entries().next().value!;
      this.queue.delete(key);
      if (this.isFresh(key)) {
        this.onOutcome('skipped', key);
        continue;
      }
      this.running++;
      this.run(key, replay, Math.floor(hits / 2))
        .catch(() => 'failed' as const)
        .then((outcome) => {
          this.running--;
          this.onOutcome(outcome, key);
          this.pump();
        });
    }
  }
}
