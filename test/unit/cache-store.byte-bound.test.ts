import { CacheStore, type EvictionEvent, entryBytes } from '../../src/cache/cache-store';

function entry(body: string, tags: string[] = []) {
  return { body: Buffer.from(body), etag: `"${body.length}"`, tags };
}

describe('the cache store never holds more than maxBytes', () => {
  it('stays within maxBytes at every step of a flood of 10,000 distinct entries', () => {
    const maxBytes = 200_000;
    const store = new CacheStore({ maxBytes, ttlSeconds: 60 });
    const evicted: EvictionEvent[] = [];
    store.on('cache:evicted', (event) => evicted.push(event));

    let storedBytes = 0;
    for (let i = 0; i < 10_000; i++) {
      const body = 'x'.repeat(i % 2000);
      const e = entry(body, [`Post:${i}`, `Post[author_id=${i % 7}]`, 'query:posts']);
      expect(store.fill(store.beginFill(), `key-${i}`, e)).toBe('stored');
      storedBytes += entryBytes(`key-${i}`, e);
      expect(store.stats().bytes).toBeLessThanOrEqual(maxBytes);
    }

    const stats = store.stats();
    expect(stats.maxBytes).toBe(maxBytes);
    expect(stats.entries).toBeGreaterThan(10);
    expect(evicted.every((event) => event.reason === 'size')).toBe(true);
    const evictedBytes = evicted.reduce((sum, event) => sum + event.bytes, 0);
    expect(storedBytes - evictedBytes).toBe(stats.bytes);
    expect(store.indexSize().dangling).toBe(0);
  });

  it('evicts the least recently used entry first', () => {
    const one = entryBytes('a', entry('x'.repeat(100)));
    const store = new CacheStore({ maxBytes: one * 3, maxEntryBytes: one, ttlSeconds: 60 });
    for (const key of ['a', 'b', 'c']) store.fill(store.beginFill(), key, entry('x'.repeat(100)));

    store.get('a');
    store.fill(store.beginFill(), 'd', entry('x'.repeat(100)));

    expect(store.get('b')).toBeUndefined();
    expect(store.get('a')).toBeDefined();
    expect(store.get('c')).toBeDefined();
  });

  it('refuses an entry larger than maxEntryBytes, a quarter of maxBytes by default', () => {
    const store = new CacheStore({ maxBytes: 40_000, ttlSeconds: 60 });
    store.fill(store.beginFill(), 'small', entry('x'));

    expect(store.maxEntryBytes).toBe(10_000);
    expect(store.fill(store.beginFill(), 'big', entry('x'.repeat(10_000)))).toBe('too-large');
    expect(store.get('big')).toBeUndefined();
    expect(store.get('small')).toBeDefined();
  });

  it('charges body, key, etag and tags plus the fixed overheads', () => {
    const store = new CacheStore({ maxBytes: 1_000_000, ttlSeconds: 60 });
    const e = entry('{"data":{}}', ['Post:1', 'query:posts']);

    store.fill(store.beginFill(), 'k', e);

    expect(store.stats().bytes).toBe(entryBytes('k', e));
    expect(entryBytes('k', e)).toBeGreaterThan(11 + 1 + 4 + 6 + 11);
    expect(entryBytes('ключ', e) - entryBytes('abcd', e)).toBe(4);
  });

  it('copies a body that is a view into a larger buffer, so the slab is not kept alive', () => {
    const store = new CacheStore({ maxBytes: 1_000_000, ttlSeconds: 60 });
    const pooled = Buffer.from('{"data":{"small":true}}');
    expect(pooled.buffer.byteLength).toBeGreaterThan(pooled.byteLength);

    store.fill(store.beginFill(), 'k', { body: pooled, etag: '"1"', tags: [] });

    const body = store.get('k')!.body;
    expect(body.equals(pooled)).toBe(true);
    expect(body.buffer.byteLength).toBe(body.byteLength);
  });

  it('rejects a maxBytes that is not a positive integer', () => {
    expect(() => new CacheStore({ maxBytes: 0, ttlSeconds: 1 })).toThrow('maxBytes=0');
    expect(() => new CacheStore({ maxBytes: 10, ttlSeconds: -1 })).toThrow('ttlSeconds=-1');
  });
});
