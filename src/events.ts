/**
 * Lifecycle facts as typed events, so that tests and metrics observe exactly what the
 * logs say. A listener that throws is isolated: the emitter logs nothing and moves on.
 */
import { EventEmitter } from 'node:events';
import type { RefreshOutcome } from './cache/refresh';

/** How an audit entry reached this instance. */
export type ApplySource = 'listener' | 'catch-up' | 'reconciliation';

/** Every event pgcascade emits, with its payload. */
export interface PgcascadeEvents {
  'listener:connected': { reconnect: boolean };
  'listener:disconnected': { reason: string };
  'listener:draining': Record<string, never>;
  'listener:idle': Record<string, never>;
  'listener:garbage': { payload: string };
  /** An audit entry was applied to the local cache. */
  'invalidation:applied': {
    seq: number;
    source: ApplySource;
    lagMs: number;
    removed: number;
  };
  /** An entry applied late: reconciliation or a reconnect found it, not a notification. */
  'delivery:missed': { seq: number; delayMs: number; foundBy: 'reconciliation' | 'catch-up' };
  'reconciliation:done': { checked: number; missed: number; durationMs: number };
  'cache:evicted': { reason: string; bytes: number };
  'cache:stale-fill': Record<string, never>;
  /** What became of a refresh of an invalidated hot result (cache/refresh.ts). */
  'cache:refreshed': { key: string; outcome: RefreshOutcome };
}

/** A typed facade over EventEmitter. */
export class EventBus {
  private readonly emitter = new EventEmitter();

  constructor() {
    this.emitter.setMaxListeners(100);
  }

  on<K extends keyof PgcascadeEvents>(event: K, fn: (payload: PgcascadeEvents[K]) => void): this {
    this.emitter.on(event, fn);
    return this;
  }

  off<K extends keyof PgcascadeEvents>(event: K, fn: (payload: PgcascadeEvents[K]) => void): this {
    this.emitter.off(event, fn);
    return this;
  }

  /** Resolves with the next payload of `event` that satisfies `match`. */
  next<K extends keyof PgcascadeEvents>(
    event: K,
    match: (payload: PgcascadeEvents[K]) => boolean = () => true,
  ): Promise<PgcascadeEvents[K]> {
    return new Promise((resolve) => {
      const fn = (payload: PgcascadeEvents[K]) => {
        if (!match(payload)) return;
        this.off(event, fn);
        resolve(payload);
      };
      this.on(event, fn);
    });
  }

  emit<K extends keyof PgcascadeEvents>(event: K, payload: PgcascadeEvents[K]): void {
    // Observers must never break the path that emits (a cache hit, an invalidation).
    try {
      this.emitter.emit(event, payload);
    } catch {
      // deliberately ignored: see above
    }
  }
}
