import { CacheStore, type EvictionEvent } from '../../src/cache/cache-store';
import { Refresher, type RefreshOutcome, type RefresherOptions } from '../../src/cache/refresh';

const turn = () => new Promise((resolve) => setImmediate(resolve));

function invalidated(key: string, hits: number, replay = Buffer.from(key)): EvictionEvent {
  return { key, reason: 'invalidation', bytes: 600, hits, replay };
}

interface Run {
  key: string;
  carriedHits: number;
  finish(outcome: 'stored' | 'stale' | 'failed'): void;
  fail(error: Error): void;
}

function harness(options: Partial<RefresherOptions> = {}, fresh = new Set<string>()) {
  const runs: Run[] = [];
  const outcomes: Array<[RefreshOutcome, string]> = [];
  const refresher = new Refresher(
    { minHits: 1, concurrency: 2, maxQueued: 10, ...options },
    (key, _replay, carriedHits) =>
      new Promise((resolve, reject) =>
        runs.push({ key, carriedHits, finish: resolve, fail: reject }),
      ),
    (key) => fresh.has(key),
    (outcome, key) => outcomes.push([outcome, key]),
  );
  return { refresher, runs, outcomes };
}

describe('the refresh queue', () => {
  it('takes invalidations of replayable entries that served enough hits, nothing else', async () => {
    const { refresher, runs } = harness({ minHits: 2, concurrency: 10 });
    refresher.offer(invalidated('hot', 2));
    refresher.offer(invalidated('cool', 1));
    refresher.offer({ ...invalidated('no-replay', 5), replay: undefined });
    refresher.offer({ ...invalidated('pushed-out', 5), reason: 'size' });
    refresher.offer({ ...invalidated('expired', 5), reason: 'ttl' });
    await turn();
    expect(runs.map((r) => r.key)).toEqual(['hot']);
  });

  it('is off with minHits 0', async () => {
    const { refresher, runs } = harness({ minHits: 0 });
    expect(refresher.enabled).toBe(false);
    refresher.offer(invalidated('hot', 100));
    await turn();
    expect(runs).toEqual([]);
  });

  it('runs at most `concurrency` at once, in order, and a key queued twice once', async () => {
    const { refresher, runs, outcomes } = harness({ concurrency: 2 });
    for (const key of ['a', 'b', 'c', 'c', 'd']) refresher.offer(invalidated(key, 1));
    await turn();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
    expect(refresher.backlog).toBe(4);

    runs[1].finish('stored');
    await turn();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    runs[0].finish('stale');
    runs[2].finish('stored');
    await turn();
    runs[3].finish('stored');
    await turn();
    expect(runs.map((r) => r.key)).toEqual(['a', 'b', 'c', 'd']);
    expect(outcomes).toEqual([
      ['stored', 'b'],
      ['stale', 'a'],
      ['stored', 'c'],
      ['stored', 'd'],
    ]);
    expect(refresher.backlog).toBe(0);
  });

  it('credits a refresh with half the hits of the entry it replaces', async () => {
    const { refresher, runs } = harness({ concurrency: 3 });
    refresher.offer(invalidated('a', 1));
    refresher.offer(invalidated('b', 5));
    refresher.offer(invalidated('c', 40));
    await turn();
    expect(runs.map((r) => [r.key, r.carriedHits])).toEqual([
      ['a', 0],
      ['b', 2],
      ['c', 20],
    ]);
  });

  it('drops what does not fit in the queue, and says so', async () => {
    const { refresher, outcomes } = harness({ concurrency: 1, maxQueued: 2 });
    for (const key of ['a', 'b', 'c']) refresher.offer(invalidated(key, 1));
    expect(outcomes).toEqual([['dropped', 'c']]);
  });

  it('skips a key cached or being filled again by its turn', async () => {
    const fresh = new Set(['b']);
    const { refresher, runs, outcomes } = harness({}, fresh);
    refresher.offer(invalidated('a', 1));
    refresher.offer(invalidated('b', 1));
    await turn();
    expect(runs.map((r) => r.key)).toEqual(['a']);
    expect(outcomes).toEqual([['skipped', 'b']]);
  });

  it('stops: forgets the queue, takes nothing more, resolves when the last run ends', async () => {
    const { refresher, runs } = harness({ concurrency: 1 });
    refresher.offer(invalidated('a', 1));
    refresher.offer(invalidated('b', 1));
    await turn();
    let stopped = false;
    const stopping = refresher.stop().then(() => (stopped = true));
    refresher.offer(invalidated('c', 1));
    await turn();
    expect(stopped).toBe(false);
    runs[0].finish('stored');
    await stopping;
    expect(runs.map((r) => r.key)).toEqual(['a']);
    expect(refresher.backlog).toBe(0);
  });

  it('reports a run that throws as failed and goes on with the queue', async () => {
    const { refresher, runs, outcomes } = harness({ concurrency: 1 });
    refresher.offer(invalidated('a', 1));
    refresher.offer(invalidated('b', 1));
    await turn();
    runs[0].fail(new Error('connection refused'));
    await turn();
    expect(outcomes).toEqual([['failed', 'a']]);
    expect(runs.map((r) => r.key)).toEqual(['a', 'b']);
  });
});

describe('what the store tells the refresh queue', () => {
  const entry = (tags: string[]) => ({ body: Buffer.from('{"data":{}}'), etag: '"e"', tags });

  it('counts hits, not has(), and hands back the request with the eviction', () => {
    const store = new CacheStore({ maxBytes: 1 << 20, ttlSeconds: 60 });
    const events: EvictionEvent[] = [];
    store.on('cache:evicted', (e) => events.push(e));
    const replay = Buffer.from('{"query":"{ user(id: 1) { name } }"}');
    store.fill(store.beginFill(), 'k', { ...entry(['User:1']), replay });
    store.get('k');
    store.get('k');
    expect(store.has('k')).toBe(true);
    store.invalidate(['User:1']);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ key: 'k', reason: 'invalidation', hits: 2 });
    expect(events[0].replay?.toString()).toBe(replay.toString());
    expect(store.has('k')).toBe(false);
  });

  it('starts an entry with the hits its fill carries', () => {
    const store = new CacheStore({ maxBytes: 1 << 20, ttlSeconds: 60 });
    const events: EvictionEvent[] = [];
    store.on('cache:evicted', (e) => events.push(e));
    store.fill(store.beginFill(), 'k', { ...entry(['User:1']), carriedHits: 3 });
    store.get('k');
    store.invalidate(['User:1']);
    expect(events[0].hits).toBe(4);
  });

  it('charges the kept request to the entry', () => {
    const store = new CacheStore({ maxBytes: 1 << 20, ttlSeconds: 60 });
    store.fill(store.beginFill(), 'a', entry(['T:1']));
    const without = store.stats().bytes;
    store.fill(store.beginFill(), 'b', { ...entry(['T:1']), replay: Buffer.alloc(1000) });
    expect(store.stats().bytes - without).toBe(without + 1000);
  });
});
