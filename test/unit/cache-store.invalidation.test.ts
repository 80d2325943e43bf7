import { CacheStore, type EvictionEvent } from '../../src/cache/cache-store';

function storeWith(entries: Record<string, string[]>, maxBytes = 1_000_000) {
  const store = new CacheStore({ maxBytes, ttlSeconds: 60 });
  for (const [key, tags] of Object.entries(entries)) {
    store.fill(store.beginFill(), key, { body: Buffer.from(key), etag: '"e"', tags });
  }
  return store;
}

function liveKeys(store: CacheStore, keys: string[]): string[] {
  return keys.filter((key) => store.get(key) !== undefined);
}

const blog = {
  post42: ['Post:42', 'User:5', 'query:post'],
  post43: ['Post:43', 'query:post'],
  byAuthor: ['Post[author_id=5]', 'Post:42', 'query:posts'],
  allPosts: ['Post[]', 'Post:42', 'Post:43', 'query:posts'],
  postCount: ['query:postCount'],
  users: ['User[]', 'User:5', 'query:users'],
};
const keys = Object.keys(blog);

describe('invalidation removes exactly the entries that depend on a tag', () => {
  it('removes entries carrying an entity tag and returns how many', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['Post:43'])).toBe(2);
    expect(liveKeys(store, keys)).toEqual(['post42', 'byAuthor', 'postCount', 'users']);
  });

  it('reaches every entity of a type with Type:*', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['Post:*'])).toBe(4);
    expect(liveKeys(store, keys)).toEqual(['postCount', 'users']);
  });

  it('reaches filtered and unfiltered lists with Type[*], and only lists', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['Post[*]'])).toBe(2);
    expect(liveKeys(store, keys)).toEqual(['post42', 'post43', 'postCount', 'users']);
  });

  it('tells a filtered list from the unfiltered one', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['Post[author_id=5]'])).toBe(1);
    expect(store.invalidate(['Post[]'])).toBe(1);
    expect(liveKeys(store, keys)).toEqual(['post42', 'post43', 'postCount', 'users']);
  });

  it('reaches query tags by exact name or by prefix', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['query:post'])).toBe(2);
    expect(store.invalidate(['query:po*'])).toBe(3);
    expect(liveKeys(store, keys)).toEqual(['users']);
    expect(store.invalidate(['query:*'])).toBe(1);
  });

  it('removes everything with *', () => {
    const store = storeWith(blog);
    const evicted: EvictionEvent[] = [];
    store.on('cache:evicted', (event) => evicted.push(event));

    expect(store.invalidate(['User:5', '*'])).toBe(6);
    expect(store.stats()).toEqual({ entries: 0, bytes: 0, maxBytes: 1_000_000 });
    expect(store.indexSize()).toEqual({ tags: 0, references: 0, dangling: 0 });
    expect(new Set(evicted.map((event) => event.reason))).toEqual(new Set(['invalidation']));
  });

  it('counts an entry reached by several tags once', () => {
    const store = storeWith(blog);

    expect(store.invalidate(['Post:42', 'Post:*', 'User:5', 'query:post'])).toBe(5);
  });

  it('reports each removal as an eviction with reason invalidation', () => {
    const store = storeWith(blog);
    const evicted: EvictionEvent[] = [];
    store.on('cache:evicted', (event) => evicted.push(event));

    store.invalidate(['User:5']);

    expect(evicted.map((event) => [event.key, event.reason])).toEqual([
      ['post42', 'invalidation'],
      ['users', 'invalidation'],
    ]);
  });

  it('keeps serving when an eviction listener throws', () => {
    const store = storeWith(blog);
    store.on('cache:evicted', () => {
      throw new Error('observer bug');
    });

    expect(store.invalidate(['User:5'])).toBe(2);
  });
});

describe('the tag index has no dangling keys after any removal', () => {
  function expectConsistent(store: CacheStore): void {
    const { dangling, references } = store.indexSize();
    expect(dangling).toBe(0);
    expect(references).toBeLessThanOrEqual(store.stats().entries * 8);
  }

  it('after size evictions, overwrites, ttl, invalidations and clear', () => {
    const clock = { ms: 0 };
    const store = new CacheStore({ maxBytes: 60_000, ttlSeconds: 10, now: () => clock.ms });
    for (let i = 0; i < 2_000; i++) {
      const tags = [`Post:${i % 300}`, `Post[author_id=${i % 11}]`, `query:q${i % 5}`];
      const body = Buffer.alloc(i % 500);
      store.fill(store.beginFill(), `key-${i % 400}`, { body, etag: '"e"', tags });
      if (i % 97 === 0) store.invalidate([`Post:${i % 300}`, 'query:q1*']);
      if (i % 31 === 0) clock.ms += 1_000;
      store.get(`key-${(i * 7) % 400}`);
      expectConsistent(store);
    }

    const { references } = store.indexSize();
    expect(references).toBeGreaterThan(0);
    store.clear();
    expect(store.indexSize()).toEqual({ tags: 0, references: 0, dangling: 0 });
  });

  it('indexes an overwritten key under its new tags only', () => {
    const store = storeWith({ k: ['Post:1', 'query:post'] });
    store.fill(store.beginFill(), 'k', { body: Buffer.from('2'), etag: '"2"', tags: ['Post:2'] });

    expect(store.indexSize()).toEqual({ tags: 2, references: 2, dangling: 0 });
    expect(store.invalidate(['Post:1', 'query:*'])).toBe(0);
    expect(store.invalidate(['Post:2'])).toBe(1);
  });
});
