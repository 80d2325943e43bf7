/**
 * The cache's recent history for the health check: cumulative counters (hits, misses,
 * evictions) sampled into a ring of fixed buckets, summed over a sliding window. It
 * only reads numbers it is given, so it cannot fail; counts between two samples land in
 * the bucket of the later sample, so sample at least once a bucket.
 */

/** Cumulative counts the tracker samples; each only grows. */
export interface CacheCounts {
  /** Cacheable requests answered from the cache. */
  hit: number;
  /** Cacheable requests that had to execute (fill). */
  miss: number;
  /** Requests the cache never considered (mutations, introspection, errors). */
  bypass: number;
  /** Entries pushed out to stay under PGCASCADE_CACHE_MAX_BYTES. */
  sizeEvictions: number;
  /** Bytes charged to those entries. */
  sizeEvictedBytes: number;
  /** Entries removed because an audit entry invalidated them. */
  invalidationEvictions: number;
}

/** The counts of the window, and how much of the window has been observed. */
export interface WindowTotals extends CacheCounts {
  /** The window's length. */
  windowMs: number;
  /** Time covered: the window, or less while the tracker is younger than it. */
  spanMs: number;
}

/** Options of {@link HitRateTracker}. */
export interface HitRateOptions {
  /** Length of the sliding window, in milliseconds. Default 300,000 (five minutes). */
  windowMs?: number;
  /** Granularity of the ring, in milliseconds. Default 10,000. */
  bucketMs?: number;
  /** Clock in epoch milliseconds. Default Date.now. */
  now?: () => number;
}

const KEYS = [
  'hit',
  'miss',
  'bypass',
  'sizeEvictions',
  'sizeEvictedBytes',
  'invalidationEvictions',
] as const;

function zero(): CacheCounts {
  return {
    hit: 0,
    miss: 0,
    bypass: 0,
    sizeEvictions: 0,
    sizeEvictedBytes: 0,
    invalidationEvictions: 0,
  };
}

interface Bucket {
  /** floor(time / bucketMs) of the counts it holds; -1 when unused. */
  index: number;
  counts: CacheCounts;
}

/** Hit rate and eviction counts over a sliding window, from sampled counters. */
export class HitRateTracker {
  readonly windowMs: number;
  readonly bucketMs: number;
  private readonly now: () => number;
  private readonly ring: Bucket[];
  private readonly startedAtMs: number;
  private last: CacheCounts;

  /**
   * @param read the current cumulative counts; read once now, so that counts from before
   * the tracker existed are not attributed to its first bucket
   */
  constructor(
    private readonly read: () => CacheCounts,
    options: HitRateOptions = {},
  ) {
    this.bucketMs = options.bucketMs ?? 10_000;
    const buckets = Math.max(1, Math.round((options.windowMs ?? 300_000) / this.bucketMs));
    this.windowMs = buckets * this.bucketMs;
    this.now = options.now ?? Date.now;
    this.ring = Array.from({ length: buckets }, () => ({ index: -1, counts: zero() }));
    this.startedAtMs = this.now();
    this.last = { ...read() };
  }

  /** Adds what the counters grew by since the previous sample to the current bucket. */
  sample(): void {
    const current = this.read();
    const index = Math.floor(this.now() / this.bucketMs);
    const bucket = this.ring[index % this.ring.length];
    if (bucket.index !== index) {
      bucket.index = index;
      bucket.counts = zero();
    }
    for (const key of KEYS) {
      // A counter that went down was reset; what it holds now is all new.
      const grown = current[key] >= this.last[key] ? current[key] - this.last[key] : current[key];
      bucket.counts[key] += grown;
    }
    this.last = { ...current };
  }

  /** Sums of the buckets inside the window that ends now (samples first). */
  totals(): WindowTotals {
    this.sample();
    const nowMs = this.now();
    const newest = Math.floor(nowMs / this.bucketMs);
    const oldest = newest - this.ring.length + 1;
    const sum = zero();
    for (const bucket of this.ring) {
      if (bucket.index < oldest || bucket.index > newest) continue;
      for (const key of KEYS) sum[key] += bucket.counts[key];
    }
    const spanMs = Math.max(0, Math.min(this.windowMs, nowMs - this.startedAtMs));
    return { ...sum, windowMs: this.windowMs, spanMs };
  }
}

/** hit / (hit + miss), or null when there were no cacheable requests. */
export function hitRate(counts: Pick<CacheCounts, 'hit' | 'miss'>): number | null {
  const cacheable = counts.hit + counts.miss;
  return cacheable === 0 ? null : counts.hit / cacheable;
}
