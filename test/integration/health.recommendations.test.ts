import {
  CAPTURE_CAPACITY_PER_SECOND,
  evaluateHealth,
  type DatabaseFigures,
  type HealthReadings,
  type HealthReport,
  type HealthThresholds,
} from '../../src/observability/health';

// The checks as pure functions of their readings: each threshold and recommendation is
// exercised here without producing the load it describes.
const THRESHOLDS: HealthThresholds = {
  timeoutMs: 1000,
  listenerQuietMs: 10_000,
  reconcileIntervals: 3,
  minCacheableRequests: 100,
  minHitRate: 0.75,
  cacheFullRatio: 0.9,
  poolWaitingShare: 0.5,
  minPoolSamples: 5,
  notifyQueueUsage: 0.5,
  captureCapacityPerSecond: CAPTURE_CAPACITY_PER_SECOND,
  captureUsage: 0.7,
};

const NOW = 1_700_000_000_000;

function healthy(figures: Partial<DatabaseFigures> = {}): HealthReadings {
  return {
    nowMs: NOW,
    instanceId: 'web-1',
    database: {
      reachable: true,
      latencyMs: 2,
      figures: {
        notifyQueueUsage: 0,
        newestSeq: 1000,
        entriesLastMinute: 600,
        missedLastHour: 0,
        largestDelayMsLastHour: null,
        listenerQuietMs: 1500,
        ...figures,
      },
    },
    listener: { connected: true, reconnects: 0 },
    reconciliation: {
      intervalMs: 1000,
      lastRunAtMs: NOW - 400,
      lastRunFailed: false,
      startedAtMs: NOW - 3_600_000,
    },
    window: {
      hit: 9000,
      miss: 1000,
      bypass: 50,
      sizeEvictions: 0,
      sizeEvictedBytes: 0,
      invalidationEvictions: 900,
      windowMs: 300_000,
      spanMs: 300_000,
    },
    cache: { entries: 5000, bytes: 100 * 1024 * 1024, maxBytes: 256 * 1024 * 1024 },
    pool: pool(0, 0, 3),
  };
}

function pool(waitingShare: number, peakWaiting: number, peakInflight: number) {
  return { windowMs: 60_000, samples: 60, waitingShare, peakWaiting, peakInflight, max: 10 };
}

function statuses(report: HealthReport): Record<string, string> {
  return Object.fromEntries(report.checks.map((c) => [c.name, c.status]));
}

function degradedOnly(report: HealthReport): string[] {
  return report.checks.filter((c) => c.status !== 'ok').map((c) => c.name);
}

describe('health recommendations', () => {
  it('reports ok with no recommendation when every reading is within its threshold', () => {
    const report = evaluateHealth(healthy(), THRESHOLDS);
    expect(report.status).toBe('ok');
    expect(report.recommendations).toEqual([]);
    expect(report.checks.find((c) => c.name === 'hit-rate')).toMatchObject({ value: 0.9 });
    expect(report.checks.find((c) => c.name === 'write-rate')).toMatchObject({
      value: 10,
      threshold: 0.7 * CAPTURE_CAPACITY_PER_SECOND,
    });
  });

  it('degrades on a half-full NOTIFY queue and says how to find the session holding it', () => {
    const report = evaluateHealth(healthy({ notifyQueueUsage: 0.63 }), THRESHOLDS);
    expect(report.status).toBe('degraded');
    expect(degradedOnly(report)).toEqual(['notify-queue']);
    expect(report.checks.find((c) => c.name === 'notify-queue')).toEqual({
      name: 'notify-queue',
      status: 'degraded',
      value: 0.63,
      threshold: 0.5,
      message: 'the NOTIFY queue is 63% full',
    });
    expect(report.recommendations).toEqual([
      {
        check: 'notify-queue',
        action: expect.stringMatching(
          /^The NOTIFY queue is 63% full: .*pg_terminate_backend\(pid\)/,
        ),
      },
    ]);
  });

  it('degrades at 70% of the capture capacity and recommends batching or another transport', () => {
    const entries = Math.ceil(0.78 * CAPTURE_CAPACITY_PER_SECOND * 60);
    const report = evaluateHealth(healthy({ entriesLastMinute: entries }), THRESHOLDS);
    expect(degradedOnly(report)).toEqual(['write-rate']);
    const perSecond = Math.round(entries / 60);
    expect(report.recommendations).toEqual([
      {
        check: 'write-rate',
        action: expect.stringMatching(
          new RegExp(
            `^Capture runs at 78% of its measured capacity \\(${perSecond} of ` +
              `${CAPTURE_CAPACITY_PER_SECOND} audit entries/s over the last minute\\): ` +
              'batch writes ' +
              '.*another transport',
          ),
        ),
      },
    ]);
  });

  it('sizes the pool from the peak when fewer requests wait than the pool holds', () => {
    const readings = healthy();
    readings.pool = pool(0.8, 4, 12);
    const [recommendation] = evaluateHealth(readings, THRESHOLDS).recommendations;
    expect(recommendation.action).toMatch(/\): set PGCASCADE_POOL_MAX=14 if PostgreSQL/);
  });

  it('calls a queue longer than the pool saturation and caps the pool it suggests', () => {
    const readings = healthy();
    readings.pool = pool(0.8, 14, 24);
    const report = evaluateHealth(readings, THRESHOLDS);
    expect(degradedOnly(report)).toEqual(['pool']);
    expect(report.recommendations).toEqual([
      {
        check: 'pool',
        action: expect.stringMatching(
          new RegExp(
            '^Requests queue for the 10-connection database pool \\(waiting in 80% of 60 ' +
              'samples over the last 60 s, peak 14 waiting, 24 fills in flight\\): more ' +
              'requests wait than the pool holds.*at most PGCASCADE_POOL_MAX=20',
          ),
        ),
      },
    ]);
  });

  it('does not call a short burst of waiting sustained', () => {
    const readings = healthy();
    readings.pool = pool(0.1, 30, 40);
    expect(evaluateHealth(readings, THRESHOLDS).status).toBe('ok');
  });

  it('recommends a read replica when a low hit rate meets a saturated pool', () => {
    const readings = healthy();
    readings.window = { ...readings.window, hit: 3000, miss: 7000, invalidationEvictions: 6000 };
    readings.pool = pool(0.9, 20, 30);
    const report = evaluateHealth(readings, THRESHOLDS);
    expect(degradedOnly(report)).toEqual(['hit-rate', 'pool']);
    expect(report.recommendations.map((r) => r.check)).toEqual(['hit-rate', 'pool', 'pool']);
    expect(report.recommendations[0].action).toMatch(
      new RegExp(
        '^The hit rate is 30% because writes invalidate much of the cache: 6000 cached ' +
          'results were invalidated against 7000 misses in the last 5 min\\. Find the types ' +
          'that invalidate most with select \\* from pgcascade\\.invalidations_by_type',
      ),
    );
    expect(report.recommendations[2].action).toMatch(
      /^Reads outrun the primary: 23\.3 misses\/s reach PostgreSQL at a 30% hit rate .*replica/,
    );
  });

  it('names the cause that explains most misses, not one that explains a tenth', () => {
    const readings = healthy();
    readings.window = { ...readings.window, hit: 5000, miss: 5000, invalidationEvictions: 600 };
    const [recommendation] = evaluateHealth(readings, THRESHOLDS).recommendations;
    expect(recommendation.action).toMatch(
      new RegExp(
        '^The hit rate is 50% but only 0 evictions for size and 600 invalidations explain ' +
          '5000 misses: most queries are asked only once\\. ',
      ),
    );
  });

  it('says that a cache younger than the window may still be filling', () => {
    const readings = healthy();
    readings.window = {
      ...readings.window,
      hit: 300,
      miss: 700,
      invalidationEvictions: 70,
      spanMs: 7_300,
    };
    const [recommendation] = evaluateHealth(readings, THRESHOLDS).recommendations;
    expect(recommendation.action).toMatch(
      new RegExp(
        'explain 700 misses: the cache is still filling in the 7\\.3 s since start, ' +
          'or most queries are asked only once\\.',
      ),
    );
  });

  it('recommends a larger cache bound when size evictions explain a low hit rate', () => {
    const readings = healthy();
    readings.window = {
      ...readings.window,
      hit: 5000,
      miss: 5000,
      sizeEvictions: 4000,
      sizeEvictedBytes: 200 * 1024 * 1024,
      invalidationEvictions: 10,
    };
    // Evicted, but the cache is not near its bound now (say a burst of large entries).
    const report = evaluateHealth(readings, THRESHOLDS);
    expect(degradedOnly(report)).toEqual(['hit-rate']);
    expect(report.recommendations).toEqual([
      {
        check: 'hit-rate',
        action:
          'The hit rate is 50% and 4000 entries were evicted for size against 5000 misses. ' +
          'Raise PGCASCADE_CACHE_MAX_BYTES from 268435456 (256 MiB) to 478150656 (456 MiB): ' +
          '4000 entries (200 MiB) were evicted for size in the last 5 min and each is read from ' +
          'PostgreSQL again on its next request. Allow the process about 200 MiB more memory.',
      },
    ]);
  });

  it('degrades when reconciliation failed or stopped running', () => {
    const failed = healthy();
    failed.reconciliation.lastRunFailed = true;
    expect(statuses(evaluateHealth(failed, THRESHOLDS)).reconciliation).toBe('degraded');

    const stuck = healthy();
    stuck.reconciliation.lastRunAtMs = NOW - 3500;
    const report = evaluateHealth(stuck, THRESHOLDS);
    expect(report.checks.find((c) => c.name === 'reconciliation')).toEqual({
      name: 'reconciliation',
      status: 'degraded',
      value: 3500,
      threshold: 3000,
      message: 'no run finished for 3.5 s; expected every 1000 ms',
    });
  });

  it('calls a connected listener whose connection went quiet half-open', () => {
    const report = evaluateHealth(healthy({ listenerQuietMs: 25_000 }), THRESHOLDS);
    expect(report.checks.find((c) => c.name === 'listener')).toMatchObject({
      status: 'degraded',
      value: 25_000,
      message: 'connected, but its connection ran no query for 25 s: it is probably half-open',
    });
    const gone = evaluateHealth(healthy({ listenerQuietMs: null }), THRESHOLDS);
    expect(gone.checks.find((c) => c.name === 'listener')?.status).toBe('degraded');
  });

  it('is down only when the database is unreachable', () => {
    const readings = healthy();
    readings.database = { reachable: false, error: 'connect ECONNREFUSED 127.0.0.1:5432' };
    readings.listener = { connected: false, reconnects: 4, disconnectedAtMs: NOW - 5000 };
    const report = evaluateHealth(readings, THRESHOLDS);
    expect(report.status).toBe('down');
    expect(statuses(report)).toEqual({
      database: 'down',
      listener: 'degraded',
      reconciliation: 'ok',
      misses: 'degraded',
      'hit-rate': 'ok',
      'cache-bytes': 'ok',
      pool: 'ok',
      'notify-queue': 'degraded',
      'write-rate': 'degraded',
    });
    expect(report.recommendations.map((r) => r.check)).toEqual(['database', 'listener']);
  });
});
