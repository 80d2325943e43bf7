import { HitRateTracker, hitRate, type CacheCounts } from '../../src/observability/hit-rate';
import type { HealthCheck, HealthReport } from '../../src/observability/health';
import { startTestService, type TestService } from '../helpers/service';

describe('the hit-rate tracker', () => {
  const BUCKET_MS = 10_000;
  let counts: CacheCounts;
  let clock: number;

  beforeEach(() => {
    counts = {
      hit: 0,
      miss: 0,
      bypass: 0,
      sizeEvictions: 0,
      sizeEvictedBytes: 0,
      invalidationEvictions: 0,
    };
    clock = 1_700_000_000_000;
  });

  function tracker() {
    return new HitRateTracker(() => counts, {
      windowMs: 300_000,
      bucketMs: BUCKET_MS,
      now: () => clock,
    });
  }

  it('ignores what the counters held before it started', () => {
    counts.hit = 500;
    counts.miss = 20;
    const t = tracker();
    counts.hit += 3;
    counts.miss += 1;
    expect(t.totals()).toMatchObject({ hit: 3, miss: 1, spanMs: 0, windowMs: 300_000 });
    expect(hitRate(t.totals())).toBe(0.75);
  });

  it('sums every bucket of the last five minutes and drops older ones', () => {
    const t = tracker();
    counts.hit += 30;
    counts.miss += 10;
    t.sample();
    clock += 60_000;
    counts.hit += 60;
    counts.bypass += 7;
    t.sample();
    clock += 200_000;
    counts.miss += 20;
    counts.sizeEvictions += 2;
    counts.sizeEvictedBytes += 3000;

    expect(t.totals()).toEqual({
      hit: 90,
      miss: 30,
      bypass: 7,
      sizeEvictions: 2,
      sizeEvictedBytes: 3000,
      invalidationEvictions: 0,
      windowMs: 300_000,
      spanMs: 260_000,
    });
    expect(hitRate(t.totals())).toBe(0.75);

    // Five minutes after the first bucket it leaves the window; the others stay.
    clock += 40_000;
    expect(t.totals()).toMatchObject({ hit: 60, miss: 20, spanMs: 300_000 });
    clock += 60_000;
    expect(t.totals()).toMatchObject({ hit: 0, miss: 20, sizeEvictions: 2 });
    clock += 300_000;
    expect(t.totals()).toMatchObject({ hit: 0, miss: 0, sizeEvictions: 0 });
    expect(hitRate(t.totals())).toBeNull();
  });

  it('reuses a ring slot for a new bucket without keeping its old counts', () => {
    const t = tracker();
    counts.hit += 5;
    t.sample();
    clock += 300_000;
    counts.miss += 1;
    expect(t.totals()).toMatchObject({ hit: 0, miss: 1 });
  });

  it('treats a counter that went down as reset', () => {
    const t = tracker();
    counts.hit = 10;
    t.sample();
    counts.hit = 4;
    expect(t.totals().hit).toBe(14);
  });
});

describe('the hit-rate check of GET /health', () => {
  let t: TestService;
  let clock = 1_700_000_000_000;

  beforeAll(async () => {
    t = await startTestService({
      users: 5,
      env: { PGCASCADE_RECONCILE_INTERVAL_MS: '600000' },
      service: { health: { now: () => clock } },
    });
  });

  afterAll(() => t.stop());

  // Each call steps the clock past the report cache (one second), inside the window.
  async function hitRateCheck(): Promise<{ check: HealthCheck; report: HealthReport }> {
    clock += 1001;
    const report = (await (await fetch(`${t.service.url}/health`)).json()) as HealthReport;
    return { check: report.checks.find((c) => c.name === 'hit-rate')!, report };
  }

  async function ask(query: string, expected: string) {
    const response = await t.gql(query);
    expect(response.cache).toBe(expected);
  }

  it('computes the rate of the last five minutes from hits and misses, not bypasses', async () => {
    for (let n = 0; n < 20; n++) await ask(`{ q${n}: user(id: 1) { id name } }`, 'miss');
    for (let round = 0; round < 4; round++) {
      for (let n = 0; n < 20; n++) await ask(`{ q${n}: user(id: 1) { id name } }`, 'hit');
    }
    for (let n = 0; n < 5; n++) await ask('{ __typename }', 'bypass');

    const good = await hitRateCheck();
    expect(good.check).toEqual({
      name: 'hit-rate',
      status: 'ok',
      value: 0.8,
      threshold: 0.75,
      message: expect.stringMatching(
        /^hit rate 80% over 100 cacheable requests in the .* since start$/,
      ),
    });

    for (let n = 20; n < 80; n++) await ask(`{ q${n}: user(id: 1) { id name } }`, 'miss');
    const bad = await hitRateCheck();
    expect(bad.check).toMatchObject({ status: 'degraded', value: 0.5 });
    expect(bad.check.message).toMatch(
      /^hit rate 50% over 160 cacheable requests .* \(below 75%\)$/,
    );
    expect(bad.report.status).toBe('degraded');
    // No evictions and no invalidations: the misses are queries asked once.
    expect(bad.report.recommendations).toEqual([
      {
        check: 'hit-rate',
        action: expect.stringMatching(
          new RegExp(
            '^The hit rate is 50% but only 0 evictions for size and 0 invalidations explain ' +
              '80 misses: .*GraphQL variables',
          ),
        ),
      },
    ]);
  });

  it('reuses a report for a second instead of probing the database again', async () => {
    const first = t.service.health.check();
    clock += 999;
    expect(t.service.health.check()).toBe(first);
    clock += 1;
    expect(t.service.health.check()).not.toBe(first);
    await first;
  });

  it('forgets requests older than the window', async () => {
    clock += 300_000;
    const later = await hitRateCheck();
    expect(later.check).toMatchObject({ status: 'ok', value: null });
    expect(later.check.message).toBe(
      '0 cacheable requests in the last 5 min: too few to judge (100 needed)',
    );
    expect(later.report.status).toBe('ok');
  });
});
