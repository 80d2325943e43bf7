import pg from 'pg';
import type { HealthCheck, HealthReport } from '../../src/observability/health';
import { adminUrl } from '../helpers/database';
import { startTestService, type TestService } from '../helpers/service';

const CHECKS = [
  'database',
  'listener',
  'reconciliation',
  'misses',
  'hit-rate',
  'cache-bytes',
  'pool',
  'notify-queue',
  'write-rate',
];

describe('GET /health', () => {
  let t: TestService;
  let admin: pg.Client;
  let writer: pg.Client;

  beforeAll(async () => {
    t = await startTestService({
      env: { PGCASCADE_INSTANCE_ID: 'health-status' },
      service: {
        // Every request computes a new report; caching is checked in health.hit-rate.
        health: { cacheMs: 0 },
        listener: { backoffMinMs: 20, backoffMaxMs: 200 },
      },
    });
    admin = new pg.Client(adminUrl());
    writer = new pg.Client(t.db.url);
    await Promise.all([admin.connect(), writer.connect()]);
  });

  afterAll(async () => {
    await refuseConnections(false);
    await Promise.all([admin.end(), writer.end()]);
    await t.stop();
  });

  async function health(): Promise<{ status: number; report: HealthReport }> {
    const response = await fetch(`${t.service.url}/health`);
    return { status: response.status, report: (await response.json()) as HealthReport };
  }

  function check(report: HealthReport, name: string): HealthCheck {
    const found = report.checks.find((c) => c.name === name);
    if (!found) throw new Error(`no check ${name} in ${JSON.stringify(report)}`);
    return found;
  }

  // Existing connections (the service's pool, the listener's, the health probe's, the
  // writer) keep working; only new ones are refused, so nothing reconnects behind our back.
  async function refuseConnections(refuse: boolean) {
    await admin.query(`alter database ${t.db.name} allow_connections ${!refuse}`);
  }

  async function terminate(applicationName: string) {
    const { rows } = await admin.query(
      `select pg_terminate_backend(pid) as done from pg_stat_activity
       where datname = $1 and application_name = $2`,
      [t.db.name, applicationName],
    );
    expect(rows).toHaveLength(1);
  }

  it('is ok on a fresh service, with every check and no recommendation', async () => {
    const { status, report } = await health();

    expect(status).toBe(200);
    expect(report.status).toBe('ok');
    expect(report.checks.map((c) => c.name)).toEqual(CHECKS);
    for (const c of report.checks) {
      expect(c).toEqual({
        name: expect.any(String),
        status: 'ok',
        value: c.value === null ? null : expect.any(Number),
        threshold: expect.any(Number),
        message: expect.any(String),
      });
    }
    expect(report.recommendations).toEqual([]);
  });

  it('is degraded while the listener is down, then reports the miss it caused', async () => {
    const lost = t.service.bus.next('listener:disconnected');
    await refuseConnections(true);
    await terminate('pgcascade-listener');
    await lost;

    const down = await health();
    expect(down.status).toBe(200);
    expect(down.report.status).toBe('degraded');
    expect(check(down.report, 'listener')).toMatchObject({ status: 'degraded' });
    expect(check(down.report, 'listener').message).toMatch(
      /^disconnected for .* reconciliation, every 60000 ms$/,
    );
    expect(check(down.report, 'database').status).toBe('ok');
    expect(check(down.report, 'misses').status).toBe('ok');
    expect(down.report.recommendations).toEqual([
      { check: 'listener', action: expect.stringContaining('stale for up to 60000 ms') },
    ]);

    await writer.query(`update demo.users set name = 'Written while down' where id = 1`);
    await t.service.delivery.reconciler.runOnce();
    expect(t.service.delivery.applier.missedCount).toBe(1);
    const back = t.service.bus.next('listener:connected');
    await refuseConnections(false);
    await back;

    const { rows } = await t.db.pool.query(
      `select delay_ms from pgcascade.missed where instance_id = 'health-status'`,
    );
    expect(rows).toHaveLength(1);
    const delayMs = Math.round(rows[0].delay_ms);
    const after = await health();
    expect(after.status).toBe(200);
    expect(after.report.status).toBe('degraded');
    expect(check(after.report, 'listener').status).toBe('ok');
    expect(check(after.report, 'reconciliation').status).toBe('ok');
    expect(check(after.report, 'misses')).toEqual({
      name: 'misses',
      status: 'degraded',
      value: 1,
      threshold: 0,
      message: expect.stringMatching(
        new RegExp(`^1 audit entry reached this instance late .* largest delay ${delayMs} ms$`),
      ),
    });
    expect(after.report.recommendations).toEqual([
      {
        check: 'misses',
        action: expect.stringMatching(
          new RegExp(
            `^1 change reached this instance up to ${delayMs} ms late in the last hour.*` +
              "select \\* from pgcascade.recent_misses where instance_id = 'health-status'\\. " +
              'Misses at listener reconnects \\(\\d+ since start\\)',
          ),
        ),
      },
    ]);
  });

  it('is down with 503 only when the database does not answer, and recovers', async () => {
    await refuseConnections(true);
    await terminate('pgcascade-health');

    const down = await health();
    expect(down.status).toBe(503);
    expect(down.report.status).toBe('down');
    expect(down.report.checks.filter((c) => c.status === 'down').map((c) => c.name)).toEqual([
      'database',
    ]);
    expect(check(down.report, 'database').value).toBeNull();
    expect(check(down.report, 'notify-queue').message).toMatch(/^not measured/);
    expect(down.report.recommendations[0]).toEqual({
      check: 'database',
      action: expect.stringMatching(/^PostgreSQL did not answer select 1 within 1000 ms/),
    });

    await refuseConnections(false);
    const up = await health();
    expect(up.status).toBe(200);
    expect(check(up.report, 'database').status).toBe('ok');
  });
});
