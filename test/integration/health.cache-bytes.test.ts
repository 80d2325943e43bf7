import { suggestedMaxBytes, type HealthReport } from '../../src/observability/health';
import { startTestService, type TestService } from '../helpers/service';

describe('a cache filled past PGCASCADE_CACHE_MAX_BYTES=16384', () => {
  let t: TestService;
  let evictedBytes = 0;

  beforeAll(async () => {
    t = await startTestService({ users: 20, env: { PGCASCADE_CACHE_MAX_BYTES: '16384' } });
    t.service.bus.on('cache:evicted', (e) => {
      if (e.reason === 'size') evictedBytes += e.bytes;
    });
    for (let n = 0; n < 100; n++) {
      const response = await t.gql(`{ a${n}: user(id: ${(n % 20) + 1}) { id } }`);
      expect(response.cache).toBe('miss');
    }
  });

  afterAll(() => t.stop());

  it('counts evictions for size in /metrics and keeps its bytes within the bound', async () => {
    const text = await (await fetch(`${t.service.url}/metrics`)).text();

    const evictions = /^pgcascade_cache_evictions_total\{reason="size"[^}]*\} (\d+)/m.exec(text);
    expect(Number(evictions?.[1])).toBe(t.service.metrics.evictions.get('size'));
    expect(Number(evictions?.[1])).toBeGreaterThan(50);
    const bytes = Number(/^pgcascade_cache_bytes\{[^}]*\} (\d+)/m.exec(text)?.[1]);
    expect(bytes).toBe(t.service.store.stats().bytes);
    expect(bytes).toBeLessThanOrEqual(16384);
    expect(text).toMatch(/^pgcascade_cache_max_bytes\{[^}]*\} 16384$/m);
  });

  it('reports the cache full in /health and says how far to raise the bound', async () => {
    const report = (await (await fetch(`${t.service.url}/health`)).json()) as HealthReport;
    const { bytes, entries } = t.service.store.stats();
    const sizeEvictions = t.service.metrics.evictions.get('size')!;
    expect(bytes / 16384).toBeGreaterThanOrEqual(0.9);

    expect(report.checks.find((c) => c.name === 'cache-bytes')).toEqual({
      name: 'cache-bytes',
      status: 'degraded',
      value: Math.round((bytes / 16384) * 1000) / 1000,
      threshold: 0.9,
      message: expect.stringMatching(
        new RegExp(
          `^${bytes} of 16384 bytes \\(\\d+%\\) in ${entries} entries; ` +
            `${sizeEvictions} evicted for size`,
        ),
      ),
    });
    const target = suggestedMaxBytes(16384, evictedBytes);
    expect(target).toBe(65536);
    expect(report.recommendations).toContainEqual({
      check: 'cache-bytes',
      action: expect.stringMatching(
        new RegExp(
          `^Raise PGCASCADE_CACHE_MAX_BYTES from 16384 \\(16 KiB\\) to 65536 \\(64 KiB\\): ` +
            `${sizeEvictions} entries \\(.* KiB\\) were evicted for size .* ` +
            'about 48 KiB more memory\\.$',
        ),
      ),
    });
  });
});

describe('suggestedMaxBytes', () => {
  it('adds what was evicted: at least a quarter more, at most four times the bound', () => {
    expect(suggestedMaxBytes(16384, 1000)).toBe(20480);
    expect(suggestedMaxBytes(16384, 10_000)).toBe(28672);
    expect(suggestedMaxBytes(16384, 10_000_000)).toBe(65536);
    expect(suggestedMaxBytes(268435456, 100 * 1024 * 1024)).toBe(373293056);
  });
});
