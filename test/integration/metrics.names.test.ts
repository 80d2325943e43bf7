import pg from 'pg';
import { adminUrl } from '../helpers/database';
import { startTestService, type TestService } from '../helpers/service';

/** One metric family of the Prometheus text format. */
interface Family {
  type: string;
  samples: Array<{ name: string; labels: Record<string, string>; value: number }>;
}

function parsePrometheus(text: string): Map<string, Family> {
  const families = new Map<string, Family>();
  // Histogram samples carry a suffix on their family's name.
  const familyOf = (sample: string) =>
    families.get(sample) ?? families.get(sample.replace(/_(bucket|sum|count)$/, ''));
  for (const line of text.split('\n')) {
    const type = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (type) {
      families.set(type[1], { type: type[2], samples: [] });
      continue;
    }
    if (line === '' || line.startsWith('#')) continue;
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)(?: \d+)?$/.exec(line);
    if (!sample) throw new Error(`not a Prometheus sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const [, key, value] of (sample[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) {
      labels[key] = value;
    }
    const family = familyOf(sample[1]);
    if (!family) throw new Error(`sample ${sample[1]} has no # TYPE line`);
    family.samples.push({ name: sample[1], labels, value: Number(sample[3]) });
  }
  return families;
}

// The names of PRODUCT.md's metrics section, which operators' dashboards rely on.
const PRODUCT_METRICS: Record<string, { type: string; label?: string }> = {
  pgcascade_cache_requests_total: { type: 'counter', label: 'result' },
  pgcascade_cache_entries: { type: 'gauge' },
  pgcascade_cache_bytes: { type: 'gauge' },
  pgcascade_cache_evictions_total: { type: 'counter', label: 'reason' },
  pgcascade_executions_total: { type: 'counter' },
  pgcascade_coalesced_total: { type: 'counter' },
  pgcascade_invalidations_total: { type: 'counter', label: 'source' },
  pgcascade_invalidation_lag_seconds: { type: 'histogram' },
  pgcascade_stale_fills_discarded_total: { type: 'counter' },
  pgcascade_missed_cascades_total: { type: 'counter' },
  pgcascade_listener_reconnects_total: { type: 'counter' },
};

describe('GET /metrics', () => {
  let t: TestService;
  let admin: pg.Client;

  beforeAll(async () => {
    t = await startTestService({
      // The database gauges come from the health check's probe: read it at every scrape.
      service: { health: { cacheMs: 0 } },
    });
    admin = new pg.Client(adminUrl());
    await admin.connect();
  });

  afterAll(async () => {
    await admin.query(`alter database ${t.db.name} allow_connections true`);
    await admin.end();
    await t.stop();
  });

  async function scrape(): Promise<Map<string, Family>> {
    const response = await fetch(`${t.service.url}/metrics`);
    expect(response.status).toBe(200);
    return parsePrometheus(await response.text());
  }

  function value(families: Map<string, Family>, name: string, labels: Record<string, string> = {}) {
    const sample = families
      .get(name)
      ?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v));
    return sample?.value;
  }

  it('exports every metric of the product contract, counters ending in _total', async () => {
    await t.gql('{ user(id: 1) { name } }');
    await t.gql('{ user(id: 1) { name } }');
    const renamed = await t.gql('mutation { renameUser(id: 1, name: "Metered") { status } }');
    expect(renamed.body.data.renameUser.status).toBe('success');

    const families = await scrape();
    for (const [name, expected] of Object.entries(PRODUCT_METRICS)) {
      const family = families.get(name);
      expect({ name, type: family?.type }).toEqual({ name, type: expected.type });
      expect(family!.samples.length).toBeGreaterThan(0);
      if (expected.label) {
        for (const s of family!.samples) expect(Object.keys(s.labels)).toContain(expected.label);
      }
    }
    for (const [name, family] of families) {
      if (family.type === 'counter') expect(name).toMatch(/_total$/);
    }

    expect(value(families, 'pgcascade_cache_requests_total', { result: 'miss' })).toBe(1);
    expect(value(families, 'pgcascade_cache_requests_total', { result: 'hit' })).toBe(1);
    expect(value(families, 'pgcascade_cache_requests_total', { result: 'bypass' })).toBe(1);
    expect(value(families, 'pgcascade_cache_evictions_total', { reason: 'invalidation' })).toBe(1);
    const lag = families.get('pgcascade_invalidation_lag_seconds')!.samples;
    expect(lag.map((s) => s.name)).toEqual(
      expect.arrayContaining([
        'pgcascade_invalidation_lag_seconds_bucket',
        'pgcascade_invalidation_lag_seconds_sum',
        'pgcascade_invalidation_lag_seconds_count',
      ]),
    );
    expect(lag.find((s) => s.labels.le === '+Inf')?.value).toBeGreaterThan(0);
  });

  it('exports the listener, NOTIFY queue and audit backlog gauges', async () => {
    const families = await scrape();
    expect(families.get('pgcascade_listener_connected')?.type).toBe('gauge');
    expect(value(families, 'pgcascade_listener_connected')).toBe(1);
    // The queue is the whole server's, shared with other test files' databases.
    expect(value(families, 'pgcascade_notify_queue_usage')).toBeGreaterThanOrEqual(0);
    expect(value(families, 'pgcascade_notify_queue_usage')).toBeLessThan(0.5);
    expect(value(families, 'pgcascade_audit_backlog')).toBe(0);
  });

  it('shows the listener down and the backlog growing until reconciliation', async () => {
    const lost = t.service.bus.next('listener:disconnected');
    await admin.query(`alter database ${t.db.name} allow_connections false`);
    await admin.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
       where datname = $1 and application_name = 'pgcascade-listener'`,
      [t.db.name],
    );
    await lost;
    await t.db.pool.query(`update demo.users set name = 'Unseen' where id in (2, 3)`);
    await t.db.pool.query(`select pgcascade.invalidate('Post', '1')`);

    const down = await scrape();
    expect(value(down, 'pgcascade_listener_connected')).toBe(0);
    expect(value(down, 'pgcascade_audit_backlog')).toBe(2);

    await t.service.delivery.reconciler.runOnce();
    const repaired = await scrape();
    expect(value(repaired, 'pgcascade_audit_backlog')).toBe(0);
    expect(value(repaired, 'pgcascade_missed_cascades_total')).toBe(2);
  });
});
