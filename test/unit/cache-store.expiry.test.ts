import { CacheStore, type EvictionEvent } from '../../src/cache/cache-store';

function entry(extra: { ttlSeconds?: number; createdAt?: number } = {}) {
  return { body: Buffer.from('{}'), etag: '"e"', tags: ['Post:1'], ...extra };
}

function storeAt(clock: { ms: number }, ttlSeconds = 10) {
  return new CacheStore({ maxBytes: 100_000, ttlSeconds, now: () => clock.ms });
}

describe('cache entries expire after their ttl', () => {
  it('returns an entry until ttlSeconds have passed, then removes it as ttl', () => {
    const clock = { ms: 1_000_000 };
    const store = storeAt(clock);
    const evicted: EvictionEvent[] = [];
    store.on('cache:evicted', (event) => evicted.push(event));
    store.fill(store.beginFill(), 'k', entry());

    clock.ms += 9_999;
    expect(store.get('k')?.createdAt).toBe(1_000_000);
    clock.ms += 1;
    expect(store.get('k')).toBeUndefined();

    expect(evicted).toEqual([{ key: 'k', reason: 'ttl', bytes: expect.any(Number), hits: 1 }]);
    expect(store.stats().entries).toBe(0);
    expect(store.indexSize()).toEqual({ tags: 0, references: 0, dangling: 0 });
  });

  it('counts the ttl from when the fill began, since the data is that old', () => {
    const clock = { ms: 0 };
    const store = storeAt(clock);
    const token = store.beginFill();
    clock.ms = 4_000;
    store.fill(token, 'k', entry());

    clock.ms = 10_000;
    expect(store.get('k')).toBeUndefined();
  });

  it('honours a per-entry ttl, shorter or longer than the default', () => {
    const clock = { ms: 0 };
    const store = storeAt(clock);
    store.fill(store.beginFill(), 'short', entry({ ttlSeconds: 2 }));
    store.fill(store.beginFill(), 'long', entry({ ttlSeconds: 60 }));
    store.fill(store.beginFill(), 'default', entry());

    clock.ms = 2_000;
    expect(store.get('short')).toBeUndefined();
    expect(store.get('default')).toBeDefined();
    clock.ms = 30_000;
    expect(store.get('default')).toBeUndefined();
    expect(store.get('long')?.ttlSeconds).toBe(60);
  });

  it('stores nothing when ttlSeconds is 0', () => {
    const store = new CacheStore({ maxBytes: 100_000, ttlSeconds: 0 });

    expect(store.fill(store.beginFill(), 'k', entry())).toBe('disabled');
    expect(store.fill(store.beginFill(), 'k', entry({ ttlSeconds: 60 }))).toBe('disabled');
    expect(store.get('k')).toBeUndefined();
    expect(store.fillState()).toEqual({ inFlight: 0, loggedInvalidations: 0 });
  });

  it('does not store an entry whose own ttl is 0', () => {
    const store = new CacheStore({ maxBytes: 100_000, ttlSeconds: 60 });

    expect(store.fill(store.beginFill(), 'k', entry({ ttlSeconds: 0 }))).toBe('disabled');
    expect(store.stats().entries).toBe(0);
  });
});
