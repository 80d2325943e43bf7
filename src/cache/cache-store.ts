/**
 * The in-process store of serialized GraphQL responses: a byte-bounded LRU with expiry, a
 * tag index for invalidation, and the fill protocol that discards results read before an
 * invalidation that applied while they were computed. It never throws after construction;
 * an entry it cannot hold is refused and the fill reports why.
 */
import { EventEmitter } from 'node:events';
import { LRUCache } from 'lru-cache';
import { PgcascadeError } from '../errors';
import { ALL_TAG, TagIndex, invalidationHits } from './tag-index';

/**
 * Bytes charged to every entry besides its body and strings: the entry and record objects,
 * the Buffer and ArrayBuffer wrappers, the timestamps, and the LRU's map and list slots.
 * Measured with `node --expose-gc` on Node 20 (x64): 100,000 entries of empty tags cost
 * 430-450 heap and external bytes each beyond body and strings, rounded up.
 */
export const ENTRY_OVERHEAD_BYTES = 512;

/**
 * Bytes charged per tag besides its characters: the tags-array slot, the key's slot in the
 * tag's set and in its derived wildcard's set, and the set itself when the tag is unique to
 * the entry. Measured as for ENTRY_OVERHEAD_BYTES with distinct tags per entry: 230-250.
 */
export const TAG_OVERHEAD_BYTES = 256;

// Header of a V8 string plus the cons node left behind when a concatenated key is flattened.
const STRING_OVERHEAD_BYTES = 32;
const TWO_BYTE_CHARS = /[^\u0000-\u00ff]/;

/** Why an entry left the store. */
export type EvictionReason =
  /** Pushed out, least recently used first, to keep bytes under maxBytes. */
  | 'size'
  /** Older than its ttlSeconds when it was next read. */
  | 'ttl'
  /** Named by a tag passed to invalidate(). */
  | 'invalidation'
  /** Replaced by a newer fill of the same key. */
  | 'overwrite'
  /** Removed by clear(). */
  | 'clear';

/** Payload of `cache:evicted`. */
export interface EvictionEvent {
  key: string;
  reason: EvictionReason;
  /** The bytes the entry was charged, as counted against maxBytes. */
  bytes: number;
  /** Times get() returned the entry. */
  hits: number;
  /** The request that filled the entry, when its fill kept one (FillEntry.replay). */
  replay?: Buffer;
}

/** Events of a CacheStore; listeners run after the store has finished the operation. */
export interface CacheStoreEvents {
  'cache:evicted': [EvictionEvent];
}

/** A cached response, as get() returns it. Treat it as read-only: it is shared. */
export interface CacheEntry {
  /** The serialized response body. */
  readonly body: Buffer;
  /** The ETag sent with the body. */
  readonly etag: string;
  /** Tags the response depends on (`Post:42`, `Post[]`, `query:posts`). */
  readonly tags: readonly string[];
  /** Expiry of this entry, overriding the store's ttlSeconds (longer or shorter). */
  readonly ttlSeconds?: number;
  /** When the data was read, in milliseconds on the store's clock. */
  readonly createdAt: number;
}

/**
 * What fill() takes: an entry whose createdAt defaults to when the fill began, and the
 * request that produced it when it may be run again after an invalidation (cache/refresh.ts).
 * The request is charged to the entry's bytes and handed back in its eviction event.
 */
export type FillEntry = Omit<CacheEntry, 'createdAt'> & {
  readonly createdAt?: number;
  readonly replay?: Buffer;
  /** Hits the entry starts with (a refresh carries some over). Default 0. */
  readonly carriedHits?: number;
};

/** The outcome of fill(). */
export type FillResult =
  /** Cached. */
  | 'stored'
  /** Discarded: an invalidation applied during the fill matched one of its tags. */
  | 'stale'
  /** Refused: larger than maxEntryBytes. */
  | 'too-large'
  /** Refused: caching is off (ttlSeconds 0), for the store or for this entry. */
  | 'disabled';

/** Options of {@link CacheStore}. */
export interface CacheStoreOptions {
  /** Hard bound on the bytes charged for all entries (see entryBytes). Required, > 0. */
  maxBytes: number;
  /**
   * Largest single entry, in charged bytes; bigger ones are refused. Default maxBytes / 4,
   * so that one large response can push out at most a quarter of the cache.
   */
  maxEntryBytes?: number;
  /** Default expiry of an entry, in seconds; 0 disables caching (nothing is stored). */
  ttlSeconds: number;
  /**
   * Most invalidations remembered for fills in flight; past it they fold into one `*`,
   * which makes every older fill stale. Default 10,000.
   */
  maxLoggedInvalidations?: number;
  /** Clock in milliseconds. Default Date.now. */
  now?: () => number;
}

/** A fill in progress, from beginFill() until fill() or release(). */
export interface FillToken {
  /** The invalidation generation when the fill began. */
  readonly generation: number;
  /** When the fill began, in milliseconds on the store's clock. */
  readonly startedAt: number;
  /** Ends the fill without storing anything; idempotent. */
  release(): void;
}

interface StoredRecord {
  readonly entry: CacheEntry;
  readonly expiresAt: number;
  readonly bytes: number;
  readonly replay: Buffer | undefined;
  hits: number;
}

interface LoggedInvalidation {
  readonly generation: number;
  readonly tags: readonly string[];
}

/**
 * Bytes charged for an entry under `key`: body, key, ETag and tags, plus the measured
 * overheads. This is the unit of maxBytes.
 */
export function entryBytes(
  key: string,
  entry: Pick<FillEntry, 'body' | 'etag' | 'tags' | 'replay'>,
): number {
  let bytes = ENTRY_OVERHEAD_BYTES + entry.body.byteLength + stringBytes(key);
  bytes += entry.replay?.byteLength ?? 0;
  bytes += stringBytes(entry.etag);
  for (const tag of entry.tags) bytes += TAG_OVERHEAD_BYTES + stringBytes(tag);
  return bytes;
}

function stringBytes(text: string): number {
  return STRING_OVERHEAD_BYTES + (TWO_BYTE_CHARS.test(text) ? 2 : 1) * text.length;
}

/** The cache of serialized responses, with its tag index and fill protocol. */
export class CacheStore extends EventEmitter<CacheStoreEvents> {
  /** The bound on charged bytes, as configured. */
  readonly maxBytes: number;
  /** The largest entry stored, in charged bytes. */
  readonly maxEntryBytes: number;
  /** Default entry expiry in seconds; 0 means nothing is stored. */
  readonly ttlSeconds: number;

  private readonly now: () => number;
  private readonly maxLoggedInvalidations: number;
  private readonly lru: LRUCache<string, StoredRecord>;
  private readonly index = new TagIndex();
  private deleteReason: EvictionReason = 'invalidation';
  private clearing = false;
  private readonly pending: EvictionEvent[] = [];

  private generation = 0;
  // Fills in flight per starting generation; insertion order is generation order.
  private readonly inFlight = new Map<number, number>();
  private log: LoggedInvalidation[] = [];

  constructor(options: CacheStoreOptions) {
    super();
    const { maxBytes, ttlSeconds } = options;
    if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
      const message = `maxBytes=${maxBytes}: expected a positive integer`;
      throw new PgcascadeError('PGCASCADE_CACHE_OPTIONS', message);
    }
    if (!Number.isFinite(ttlSeconds) || ttlSeconds < 0) {
      const message = `ttlSeconds=${ttlSeconds}: expected a number >= 0`;
      throw new PgcascadeError('PGCASCADE_CACHE_OPTIONS', message);
    }
    this.maxBytes = maxBytes;
    this.maxEntryBytes = Math.min(options.maxEntryBytes ?? Math.floor(maxBytes / 4), maxBytes);
    this.ttlSeconds = ttlSeconds;
    this.now = options.now ?? Date.now;
    this.maxLoggedInvalidations = Math.max(1, options.maxLoggedInvalidations ?? 10_000);
    this.lru = new LRUCache<string, StoredRecord>({
      maxSize: maxBytes,
      maxEntrySize: Math.max(1, this.maxEntryBytes),
      dispose: (record, key, reason) => this.onRemoved(record, key, reason),
    });
  }

  /**
   * The live entry under `key`, or undefined. An expired entry is removed (reason `ttl`) and
   * not returned. A hit marks the entry most recently used.
   */
  get(key: string): CacheEntry | undefined {
    const record = this.lru.get(key);
    if (record === undefined) return undefined;
    if (record.expiresAt <= this.now()) {
      this.deleteReason = 'ttl';
      this.lru.delete(key);
      this.flushEvents();
      return undefined;
    }
    record.hits++;
    return record.entry;
  }

  /** Whether a live entry is stored under `key`; unlike get(), neither a hit nor a use. */
  has(key: string): boolean {
    const record = this.lru.peek(key);
    return record !== undefined && record.expiresAt > this.now();
  }

  /**
   * Starts a fill: call before reading the data, then pass the token to fill() or release
   * it. Invalidations applied from now on are remembered until the token ends.
   */
  beginFill(): FillToken {
    const generation = this.generation;
    const startedAt = this.now();
    if (this.ttlSeconds === 0) return { generation, startedAt, release: () => {} };

    this.inFlight.set(generation, (this.inFlight.get(generation) ?? 0) + 1);
    let released = false;
    return {
      generation,
      startedAt,
      release: () => {
        if (released) return;
        released = true;
        this.endFill(generation);
      },
    };
  }

  /** Ends a fill that will not store anything (the read failed, or was uncacheable). */
  cancelFill(token: FillToken): void {
    token.release();
  }

  /**
   * Stores `entry` under `key` unless an invalidation applied since `token` began matches
   * one of its tags, it exceeds maxEntryBytes, or caching is off. Ends the token either way.
   * A token already released can no longer prove freshness: its fill is stale if any
   * invalidation happened since it began.
   */
  fill(token: FillToken, key: string, entry: FillEntry): FillResult {
    const stale = this.invalidatedSince(token, entry.tags);
    token.release();

    const ttlSeconds = entry.ttlSeconds ?? this.ttlSeconds;
    if (this.ttlSeconds === 0 || ttlSeconds <= 0) return 'disabled';
    if (stale) return 'stale';
    const bytes = entryBytes(key, entry);
    if (bytes > this.maxEntryBytes) return 'too-large';

    const createdAt = entry.createdAt ?? token.startedAt;
    const stored: CacheEntry = {
      body: ownedBuffer(entry.body),
      etag: entry.etag,
      tags: Object.freeze([...entry.tags]),
      ttlSeconds: entry.ttlSeconds,
      createdAt,
    };
    const expiresAt = createdAt + ttlSeconds * 1000;
    const replay = entry.replay && ownedBuffer(entry.replay);
    this.lru.set(
      key,
      { entry: stored, expiresAt, bytes, replay, hits: entry.carriedHits ?? 0 },
      { size: bytes },
    );
    // After set: replacing a key disposes the old record, which unlinks the key's tags.
    this.index.add(key, stored.tags);
    this.flushEvents();
    return 'stored';
  }

  /**
   * Removes every entry that depends on any of `tags` (reason `invalidation`) and makes
   * fills in flight that depend on them stale. `*` removes everything. Returns how many
   * entries it removed.
   */
  invalidate(tags: readonly string[]): number {
    if (tags.length === 0) return 0;
    this.recordInvalidation(tags);
    if (tags.includes(ALL_TAG)) return this.removeAll('invalidation');

    let removed = 0;
    this.deleteReason = 'invalidation';
    const remove = (key: string): void => {
      if (this.lru.delete(key)) removed++;
    };
    for (const tag of tags) this.index.forEachKey(tag, remove);
    this.flushEvents();
    return removed;
  }

  /** Removes every entry (reason `clear`); fills in flight become stale, as after `*`. */
  clear(): void {
    this.recordInvalidation([ALL_TAG]);
    this.removeAll('clear');
  }

  /** Entry count, charged bytes (never above maxBytes) and the bound. */
  stats(): { entries: number; bytes: number; maxBytes: number } {
    return { entries: this.lru.size, bytes: this.lru.calculatedSize, maxBytes: this.maxBytes };
  }

  /**
   * Debug view of the tag index: distinct tags, tag-key references, and references to keys
   * no longer stored (always 0 unless the index is broken). Walks the whole index.
   */
  indexSize(): { tags: number; references: number; dangling: number } {
    return this.index.size((key) => this.lru.has(key));
  }

  /** Debug view of the fill protocol: fills in flight and invalidations remembered. */
  fillState(): { inFlight: number; loggedInvalidations: number } {
    let inFlight = 0;
    for (const count of this.inFlight.values()) inFlight += count;
    return { inFlight, loggedInvalidations: this.log.length };
  }

  private onRemoved(record: StoredRecord, key: string, reason: LRUCache.DisposeReason): void {
    if (!this.clearing) this.index.remove(key, record.entry.tags);
    if (this.listenerCount('cache:evicted') === 0) return;
    this.pending.push({
      key,
      reason: this.reasonOf(reason),
      bytes: record.bytes,
      hits: record.hits,
      replay: record.replay,
    });
  }

  private reasonOf(reason: LRUCache.DisposeReason): EvictionReason {
    if (reason === 'evict') return 'size';
    if (reason === 'set') return 'overwrite';
    if (reason === 'expire') return 'ttl';
    return this.deleteReason;
  }

  private flushEvents(): void {
    if (this.pending.length === 0) return;
    const events = this.pending.splice(0);
    for (const event of events) {
      // A listener that throws must not break the hit, fill or invalidation that emitted.
      try {
        this.emit('cache:evicted', event);
      } catch {
        // deliberately ignored: see above
      }
    }
  }

  private removeAll(reason: EvictionReason): number {
    const removed = this.lru.size;
    this.deleteReason = reason;
    this.clearing = true;
    try {
      this.lru.clear();
    } finally {
      this.clearing = false;
      this.index.clear();
    }
    this.flushEvents();
    return removed;
  }

  private recordInvalidation(tags: readonly string[]): void {
    this.generation++;
    if (this.inFlight.size === 0) return;
    if (this.log.length >= this.maxLoggedInvalidations) {
      // A fill stuck in flight must not grow the log forever: forget the details and
      // treat every fill older than now as stale, which is safe and only costs refills.
      this.log = [{ generation: this.generation, tags: [ALL_TAG] }];
      return;
    }
    this.log.push({ generation: this.generation, tags: [...tags] });
  }

  private invalidatedSince(token: FillToken, tags: readonly string[]): boolean {
    if (token.generation === this.generation) return false;
    // The log covers only invalidations after the oldest fill still in flight.
    const oldest = this.inFlight.keys().next();
    if (oldest.done || oldest.value > token.generation) return true;
    for (const logged of this.log) {
      if (logged.generation <= token.generation) continue;
      for (const tag of logged.tags) if (invalidationHits(tag, tags)) return true;
    }
    return false;
  }

  private endFill(generation: number): void {
    const count = this.inFlight.get(generation) ?? 0;
    if (count > 1) {
      this.inFlight.set(generation, count - 1);
      return;
    }
    this.inFlight.delete(generation);

    const oldest = this.inFlight.keys().next();
    if (oldest.done) {
      this.log = [];
      return;
    }
    const keepFrom = this.log.findIndex((logged) => logged.generation > oldest.value);
    this.log = keepFrom === -1 ? [] : this.log.slice(keepFrom);
  }
}

// A small Buffer made from a string is a view into Node's shared 8 KiB pool; keeping it
// would keep the whole slab alive while maxBytes counts only the view.
function ownedBuffer(body: Buffer): Buffer {
  if (body.byteOffset === 0 && body.buffer.byteLength === body.byteLength) return body;
  const copy = Buffer.allocUnsafeSlow(body.byteLength);
  body.copy(copy);
  return copy;
}
