import { CacheStore } from '../../src/cache/cache-store';

function entry(tags: string[]) {
  return { body: Buffer.from('{"data":{}}'), etag: '"e"', tags };
}

function newStore(options: { maxLoggedInvalidations?: number } = {}) {
  return new CacheStore({ maxBytes: 1_000_000, ttlSeconds: 60, ...options });
}

describe('a fill that read data older than an invalidation is discarded', () => {
  it('discards a fill when a matching tag is invalidated after it began', () => {
    const store = newStore();
    const token = store.beginFill();

    store.invalidate(['Post:42']);

    expect(store.fill(token, 'k', entry(['Post:42', 'query:post']))).toBe('stale');
    expect(store.get('k')).toBeUndefined();
  });

  it('stores a fill when only unrelated tags were invalidated', () => {
    const store = newStore();
    const token = store.beginFill();

    store.invalidate(['Post:43', 'User[]', 'query:users']);

    expect(store.fill(token, 'k', entry(['Post:42', 'Post[author_id=5]', 'query:post']))).toBe(
      'stored',
    );
  });

  it('stores a fill that began after the invalidation', () => {
    const store = newStore();
    store.invalidate(['Post:42']);

    expect(store.fill(store.beginFill(), 'k', entry(['Post:42']))).toBe('stored');
  });

  it.each([['Post:*'], ['Post[*]'], ['*'], ['query:po*']])(
    'applies wildcard %s to fills in flight',
    (wildcard) => {
      const store = newStore();
      const token = store.beginFill();

      store.invalidate([wildcard]);

      expect(store.fill(token, 'k', entry(['Post:42', 'Post[author_id=5]', 'query:posts']))).toBe(
        'stale',
      );
    },
  );

  it('does not apply a wildcard to fills of other types', () => {
    const store = newStore();
    const token = store.beginFill();

    store.invalidate(['User:*', 'User[*]', 'query:u*']);

    expect(store.fill(token, 'k', entry(['Post:42', 'Post[]', 'query:posts']))).toBe('stored');
  });

  it('treats clear() as an invalidation of everything for fills in flight', () => {
    const store = newStore();
    const token = store.beginFill();

    store.clear();

    expect(store.fill(token, 'k', entry([]))).toBe('stale');
  });

  it('judges each of several overlapping fills by the invalidations after its own start', () => {
    const store = newStore();
    const early = store.beginFill();
    store.invalidate(['Post:1']);
    const late = store.beginFill();
    store.invalidate(['Post:2']);

    expect(store.fill(late, 'a', entry(['Post:1']))).toBe('stored');
    expect(store.fill(early, 'b', entry(['Post:1']))).toBe('stale');
  });

  it('treats a fill whose token was already released as stale once anything changed', () => {
    const store = newStore();
    const token = store.beginFill();
    store.cancelFill(token);
    store.invalidate(['Unrelated:1']);

    expect(store.fill(token, 'k', entry(['Post:42']))).toBe('stale');
  });
});

describe('the invalidation log stays bounded', () => {
  it('keeps nothing when no fill is in flight', () => {
    const store = newStore();

    store.invalidate(['Post:1']);

    expect(store.fillState()).toEqual({ inFlight: 0, loggedInvalidations: 0 });
  });

  it('is empty again once every fill has finished, stored, stale or cancelled', () => {
    const store = newStore();
    const first = store.beginFill();
    const second = store.beginFill();
    store.invalidate(['Post:1']);
    const third = store.beginFill();
    store.invalidate(['Post:2']);
    const abandoned = store.beginFill();
    store.invalidate(['Post:3']);
    expect(store.fillState()).toEqual({ inFlight: 4, loggedInvalidations: 3 });

    store.fill(first, 'a', entry(['Post:9']));
    expect(store.fillState().loggedInvalidations).toBe(3);
    store.fill(second, 'b', entry(['Post:1']));
    expect(store.fillState()).toEqual({ inFlight: 2, loggedInvalidations: 2 });
    third.release();
    expect(store.fillState()).toEqual({ inFlight: 1, loggedInvalidations: 1 });
    store.cancelFill(abandoned);
    store.cancelFill(abandoned);

    expect(store.fillState()).toEqual({ inFlight: 0, loggedInvalidations: 0 });
  });

  it('folds into one * when a fill stays in flight through too many invalidations', () => {
    const store = newStore({ maxLoggedInvalidations: 100 });
    const stuck = store.beginFill();
    for (let i = 0; i < 1_000; i++) store.invalidate([`Post:${i}`]);

    expect(store.fillState().loggedInvalidations).toBeLessThanOrEqual(100);
    expect(store.fill(stuck, 'k', entry(['User:1']))).toBe('stale');
    expect(store.fillState()).toEqual({ inFlight: 0, loggedInvalidations: 0 });
  });
});
