/**
 * GET /health: each check compares one reading with a threshold and, when it is crossed,
 * says what to do about it, with numbers. Only an unreachable database makes the service
 * down (503): hits are still served and reconciliation repairs what the listener misses,
 * so every other problem is degraded. Reports are cached for cacheMs and the database is
 * read on one dedicated connection, so /health under load costs one probe a second.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { performance } from 'node:perf_hooks';
import pg from 'pg';
import type { EventBus } from '../events';
import type { Logger } from '../logger';
import { HitRateTracker, hitRate, type CacheCounts, type WindowTotals } from './hit-rate';

/**
 * Audit entries per second that capture sustains on one primary: single-row autocommit
 * updates on a tracked table with pgcascade's listener draining, as scripts/bench-capture
 * measured on the reference machine (2 vCPUs; 2,397 tx/s, the mean of three rounds).
 */
export const CAPTURE_CAPACITY_PER_SECOND = 2400;

/** How serious a check's finding is; only `database` can be down. */
export type HealthStatus = 'ok' | 'degraded' | 'down';

/** One check of the report. */
export interface HealthCheck {
  name: string;
  status: HealthStatus;
  /** The reading, in the unit the message names; null when it could not be measured. */
  value: number | null;
  /** The value at which the check stops being ok. */
  threshold: number;
  message: string;
}

/** Something to do about a degraded or down check. */
export interface Recommendation {
  /** The check that prompted it. */
  check: string;
  /** What to do, concretely, with numbers. */
  action: string;
}

/** The body of GET /health. */
export interface HealthReport {
  status: HealthStatus;
  checks: HealthCheck[];
  recommendations: Recommendation[];
}

/** Figures read from the database in one probe. */
export interface DatabaseFigures {
  /** pg_notification_queue_usage(): the fraction of the NOTIFY queue in use, 0 to 1. */
  notifyQueueUsage: number;
  /** The newest audit entry's seq (0 when the trail is empty). */
  newestSeq: number;
  /** Audit entries written in the last minute (by sequence span). */
  entriesLastMinute: number;
  /** This instance's rows in pgcascade.missed from the last hour. */
  missedLastHour: number;
  /** The largest delay among them, in milliseconds; null when there were none. */
  largestDelayMsLastHour: number | null;
  /** Time since the listener's backend last changed state (ran a query); null if not found. */
  listenerQuietMs: number | null;
}

/** What one probe of the database found. */
export type DatabaseReading =
  | { reachable: true; latencyMs: number; figures?: DatabaseFigures; error?: string }
  | { reachable: false; error: string };

/** The load on the connection pool over the pool window. */
export interface PoolPressure {
  /** The window the samples cover, in milliseconds. */
  windowMs: number;
  samples: number;
  /** Fraction of samples in which requests were waiting for a connection, 0 to 1. */
  waitingShare: number;
  peakWaiting: number;
  /** Most cache fills executing at once. */
  peakInflight: number;
  /** The pool's size. */
  max: number;
}

/** Everything a report is computed from; see {@link evaluateHealth}. */
export interface HealthReadings {
  nowMs: number;
  instanceId: string;
  database: DatabaseReading;
  listener: {
    connected: boolean;
    reconnects: number;
    /** When it last disconnected (epoch ms), if it is disconnected now. */
    disconnectedAtMs?: number;
  };
  reconciliation: {
    /** PGCASCADE_RECONCILE_INTERVAL_MS. */
    intervalMs: number;
    /** When the last run finished (epoch ms); 0 before the first. */
    lastRunAtMs: number;
    lastRunFailed: boolean;
    /** When the health check started, standing in for the last run before the first. */
    startedAtMs: number;
  };
  window: WindowTotals;
  cache: { entries: number; bytes: number; maxBytes: number };
  pool: PoolPressure;
}

/** Thresholds of the checks; every field has the default shown. */
export interface HealthThresholds {
  /** `database`: select 1 must answer within this, in milliseconds. Default 1000. */
  timeoutMs: number;
  /** `listener`: degraded when its connection ran no query for this long. Default 10,000. */
  listenerQuietMs: number;
  /** `reconciliation`: degraded when no run finished for this many intervals. Default 3. */
  reconcileIntervals: number;
  /** `hit-rate`: cacheable requests in the window before the rate is judged. Default 100. */
  minCacheableRequests: number;
  /** `hit-rate`: degraded below this fraction. Default 0.75. */
  minHitRate: number;
  /** `cache-bytes`: degraded at this fraction of the bound, with size evictions. Default 0.9. */
  cacheFullRatio: number;
  /** `pool`: degraded when requests waited in this fraction of samples. Default 0.5. */
  poolWaitingShare: number;
  /** `pool`: samples needed before judging. Default 5. */
  minPoolSamples: number;
  /** `notify-queue`: degraded at this fraction of the NOTIFY queue. Default 0.5. */
  notifyQueueUsage: number;
  /**
   * `write-rate`: audit entries per second that capture sustains.
   * Default CAPTURE_CAPACITY_PER_SECOND.
   */
  captureCapacityPerSecond: number;
  /** `write-rate`: degraded at this fraction of the capacity. Default 0.7. */
  captureUsage: number;
}

/** Options of {@link HealthChecker}. */
export interface HealthOptions extends HealthThresholds {
  /** Clock in epoch milliseconds, compared with the reconciler's Date.now. Default Date.now. */
  now: () => number;
  /** A report is reused for this long, in milliseconds. Default 1000. */
  cacheMs: number;
  /** Period of the pool and counter samples, in milliseconds. Default 1000. */
  sampleIntervalMs: number;
  /** Window of the hit rate and evictions, in milliseconds. Default 300,000. */
  hitRateWindowMs: number;
  /** Window of the pool samples, in milliseconds. Default 60,000. */
  poolWindowMs: number;
}

const DEFAULTS: Omit<HealthOptions, 'now'> = {
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
  cacheMs: 1000,
  sampleIntervalMs: 1000,
  hitRateWindowMs: 300_000,
  poolWindowMs: 60_000,
};

/** What the checker reads; each is the running service's own object or a closure over it. */
export interface HealthSources {
  /** DATABASE_URL: the checker opens one connection of its own (pgcascade-health). */
  connectionString: string;
  /** PGCASCADE_INSTANCE_ID, whose rows in pgcascade.missed are read. */
  instanceId: string;
  /** PGCASCADE_RECONCILE_INTERVAL_MS. */
  reconcileIntervalMs: number;
  bus: EventBus;
  /** Cumulative cache lookups by result (Metrics.requests). */
  requests: { hit: number; miss: number; bypass: number };
  cacheStats(): { entries: number; bytes: number; maxBytes: number };
  /** The service's pool; read for waitingCount and its size, never queried. */
  pool: pg.Pool;
  /** Cache fills executing now. */
  inflightFills(): number;
  listener: {
    readonly connected: boolean;
    readonly reconnectCount: number;
    readonly backendPid?: number;
  };
  reconciler: { readonly lastRunAtMs: number; readonly lastRunFailed: boolean };
  /** The highest audit seq this instance applied. */
  appliedSeq(): number;
}

/** Gauges that metrics.ts exports from the health check's database probe. */
export interface DatabaseGauges {
  notifyQueueUsage: number;
  /** Audit entries written that this instance has not applied yet. */
  auditBacklog: number;
}

// One statement, so the figures share a snapshot. Each part reads through an index: the
// audit's primary key and created_at index, pgcascade.missed's key or applied_at index.
// The minute's entries are counted by sequence span, which also counts writes that
// rolled back after capture: they paid for capture too.
const PROBE_SQL = `
  select
    pg_notification_queue_usage() as notify_queue_usage,
    coalesce((select max(seq) from pgcascade.audit), 0) as newest_seq,
    (select seq from pgcascade.audit where created_at >= now() - interval '1 minute'
      order by created_at limit 1) as minute_first_seq,
    m.missed, m.largest_delay_ms,
    (select extract(epoch from clock_timestamp() - state_change) * 1000
      from pg_stat_activity where pid = $2) as listener_quiet_ms
  from (
    select count(*) as missed, max(delay_ms) as largest_delay_ms
    from pgcascade.missed
    where instance_id = $1 and applied_at >= now() - interval '1 hour'
  ) m`;

/** Runs the checks, serves GET /health, and feeds the database gauges of /metrics. */
export class HealthChecker {
  private readonly options: HealthOptions;
  private readonly tracker: HitRateTracker;
  private readonly probePool: pg.Pool;
  private readonly evictions = { size: 0, sizeBytes: 0, invalidation: 0 };
  private readonly poolSamples: Array<{ atMs: number; waiting: number; inflight: number }> = [];
  private readonly startedAtMs: number;
  private disconnectedAtMs: number | undefined;
  private baselineSeq = 0;
  private timer: NodeJS.Timeout | undefined;
  private probe: { atMs: number; reading: Promise<DatabaseReading> } | undefined;
  private report: { atMs: number; report: Promise<HealthReport> } | undefined;
  private lastStatus: HealthStatus = 'ok';

  constructor(
    private readonly sources: HealthSources,
    options: Partial<HealthOptions>,
    private readonly log: Logger,
  ) {
    this.options = { ...DEFAULTS, now: Date.now, ...options };
    const { now, timeoutMs } = this.options;
    this.startedAtMs = now();
    this.tracker = new HitRateTracker(() => this.cacheCounts(), {
      windowMs: this.options.hitRateWindowMs,
      now,
    });
    this.probePool = new pg.Pool({
      connectionString: sources.connectionString,
      max: 1,
      application_name: 'pgcascade-health',
      connectionTimeoutMillis: timeoutMs,
      query_timeout: timeoutMs,
      statement_timeout: timeoutMs,
      idleTimeoutMillis: 60_000,
    });
    this.probePool.on('error', (error) => log.debug({ err: error }, 'health connection lost'));

    sources.bus.on('cache:evicted', (e) => {
      if (e.reason === 'size') {
        this.evictions.size++;
        this.evictions.sizeBytes += e.bytes;
      } else if (e.reason === 'invalidation') {
        this.evictions.invalidation++;
      }
    });
    sources.bus.on('listener:disconnected', () => {
      this.disconnectedAtMs = this.options.now();
    });
    sources.bus.on('listener:connected', () => {
      this.disconnectedAtMs = undefined;
    });
  }

  /**
   * Starts sampling and opens the probe connection. Never throws: a database that does
   * not answer now is reported by the next check.
   */
  async start(): Promise<void> {
    this.timer = setInterval(() => this.sample(), this.options.sampleIntervalMs);
    this.timer.unref();
    const reading = await this.readDatabaseCached();
    // Entries written before start are not this instance's backlog: its cache began empty.
    if (reading.reachable && reading.figures) this.baselineSeq = reading.figures.newestSeq;
  }

  /** Stops sampling and closes the probe connection. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.probePool.end().catch(() => undefined);
  }

  /** Records the pool's load and the cache counters now; the timer calls it every sample. */
  sample(): void {
    const nowMs = this.options.now();
    this.tracker.sample();
    this.poolSamples.push({
      atMs: nowMs,
      waiting: this.sources.pool.waitingCount,
      inflight: this.sources.inflightFills(),
    });
    const oldestMs = nowMs - this.options.poolWindowMs;
    while (this.poolSamples.length > 0 && this.poolSamples[0].atMs <= oldestMs) {
      this.poolSamples.shift();
    }
  }

  /** The current report; one computed less than cacheMs ago is reused. Never rejects. */
  check(): Promise<HealthReport> {
    const nowMs = this.options.now();
    if (this.report && nowMs - this.report.atMs < this.options.cacheMs) return this.report.report;
    const report = this.compute();
    this.report = { atMs: nowMs, report };
    return report;
  }

  /** The gauges /metrics reads from the database, from the same cached probe. */
  async databaseGauges(): Promise<DatabaseGauges | undefined> {
    const reading = await this.readDatabaseCached();
    if (!reading.reachable || !reading.figures) return undefined;
    const applied = Math.max(this.sources.appliedSeq(), this.baselineSeq);
    return {
      notifyQueueUsage: reading.figures.notifyQueueUsage,
      auditBacklog: Math.max(0, reading.figures.newestSeq - applied),
    };
  }

  /** The GET /health route: the report as JSON, 503 when down. */
  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'use GET /health' }));
      return;
    }
    const report = await this.check();
    const body = Buffer.from(JSON.stringify(report));
    res.writeHead(report.status === 'down' ? 503 : 200, {
      'content-type': 'application/json; charset=utf-8',
      'content-length': String(body.length),
      'cache-control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
  }

  private async compute(): Promise<HealthReport> {
    try {
      const report = evaluateHealth(await this.readings(), this.options);
      this.logTransition(report);
      return report;
    } catch (error) {
      this.log.error({ err: error }, 'health check failed');
      return {
        status: 'down',
        checks: [],
        recommendations: [
          {
            check: 'health',
            action: `The health check itself failed (${String(error)}): see the log.`,
          },
        ],
      };
    }
  }

  private async readings(): Promise<HealthReadings> {
    const database = await this.readDatabaseCached();
    const window = this.tracker.totals();
    const { listener, reconciler } = this.sources;
    return {
      nowMs: this.options.now(),
      instanceId: this.sources.instanceId,
      database,
      listener: {
        connected: listener.connected,
        reconnects: listener.reconnectCount,
        disconnectedAtMs: listener.connected
          ? undefined
          : (this.disconnectedAtMs ?? this.startedAtMs),
      },
      reconciliation: {
        intervalMs: this.sources.reconcileIntervalMs,
        lastRunAtMs: reconciler.lastRunAtMs,
        lastRunFailed: reconciler.lastRunFailed,
        startedAtMs: this.startedAtMs,
      },
      window,
      cache: this.sources.cacheStats(),
      pool: this.poolPressure(),
    };
  }

  private poolPressure(): PoolPressure {
    const since = this.options.now() - this.options.poolWindowMs;
    let samples = 0;
    let waitingSamples = 0;
    let peakWaiting = 0;
    let peakInflight = 0;
    for (const s of this.poolSamples) {
      if (s.atMs <= since) continue;
      samples++;
      if (s.waiting > 0) waitingSamples++;
      peakWaiting = Math.max(peakWaiting, s.waiting);
      peakInflight = Math.max(peakInflight, s.inflight);
    }
    // node-postgres's own default when max is not set
    const max = this.sources.pool.options.max ?? 10;
    return {
      windowMs: this.options.poolWindowMs,
      samples,
      waitingShare: samples === 0 ? 0 : waitingSamples / samples,
      peakWaiting,
      peakInflight,
      max,
    };
  }

  private cacheCounts(): CacheCounts {
    const { hit, miss, bypass } = this.sources.requests;
    return {
      hit,
      miss,
      bypass,
      sizeEvictions: this.evictions.size,
      sizeEvictedBytes: this.evictions.sizeBytes,
      invalidationEvictions: this.evictions.invalidation,
    };
  }

  private readDatabaseCached(): Promise<DatabaseReading> {
    const nowMs = this.options.now();
    if (this.probe && nowMs - this.probe.atMs < this.options.cacheMs) return this.probe.reading;
    const reading = this.readDatabase();
    this.probe = { atMs: nowMs, reading };
    return reading;
  }

  private async readDatabase(): Promise<DatabaseReading> {
    const started = performance.now();
    let client: pg.PoolClient;
    try {
      client = await this.probePool.connect();
    } catch (error) {
      return { reachable: false, error: (error as Error).message };
    }
    let failed: Error | undefined;
    try {
      await client.query('select 1');
      const latencyMs = performance.now() - started;
      try {
        const { rows } = await client.query(PROBE_SQL, [
          this.sources.instanceId,
          this.sources.listener.backendPid ?? null,
        ]);
        return { reachable: true, latencyMs, figures: parseFigures(rows[0]) };
      } catch (error) {
        failed = error as Error;
        this.log.warn({ err: error }, 'health probe failed');
        return { reachable: true, latencyMs, error: failed.message };
      }
    } catch (error) {
      failed = error as Error;
      return { reachable: false, error: failed.message };
    } finally {
      // A connection whose query failed or timed out may be stuck: never reuse it.
      client.release(failed);
    }
  }

  private logTransition(report: HealthReport): void {
    if (report.status === this.lastStatus) return;
    const failing = report.checks.filter((c) => c.status !== 'ok').map((c) => c.name);
    if (report.status === 'ok') this.log.info({ was: this.lastStatus }, 'health ok');
    else this.log.warn({ status: report.status, was: this.lastStatus, failing }, 'health changed');
    this.lastStatus = report.status;
  }
}

function parseFigures(row: Record<string, unknown>): DatabaseFigures {
  const newestSeq = Number(row.newest_seq);
  const first = row.minute_first_seq === null ? null : Number(row.minute_first_seq);
  return {
    notifyQueueUsage: Number(row.notify_queue_usage),
    newestSeq,
    entriesLastMinute: first === null ? 0 : Math.max(0, newestSeq - first + 1),
    missedLastHour: Number(row.missed),
    largestDelayMsLastHour: row.largest_delay_ms === null ? null : Number(row.largest_delay_ms),
    listenerQuietMs: row.listener_quiet_ms === null ? null : Number(row.listener_quiet_ms),
  };
}

// --- evaluation ---------------------------------------------------------------------

interface Finding {
  check: HealthCheck;
  actions: string[];
}

const KIB = 1024;
const MIB = 1024 * 1024;

/** 16384 → "16 KiB", 268435456 → "256 MiB". */
export function formatBytes(bytes: number): string {
  if (bytes >= MIB) return `${round(bytes / MIB, 1)} MiB`;
  if (bytes >= KIB) return `${round(bytes / KIB, 1)} KiB`;
  return `${Math.round(bytes)} B`;
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function percent(fraction: number): string {
  return `${Math.round(fraction * 100)}%`;
}

function seconds(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  return ms < 10_000 ? `${round(ms / 1000, 1)} s` : `${Math.round(ms / 1000)} s`;
}

/** "the last 5 min", or "the 42 s since start" while the window is not yet full. */
function lastWindow(w: WindowTotals): string {
  if (w.spanMs < w.windowMs) return `the ${seconds(w.spanMs)} since start`;
  const minutes = w.windowMs / 60_000;
  return Number.isInteger(minutes) ? `the last ${minutes} min` : `the last ${seconds(w.windowMs)}`;
}

/**
 * A new PGCASCADE_CACHE_MAX_BYTES that holds what was evicted for size besides what is
 * cached: the bound plus the evicted bytes, at least 25% and at most 4x more (repeated
 * refills count the same entry more than once), rounded up to 4 KiB or to 1 MiB.
 */
export function suggestedMaxBytes(maxBytes: number, evictedBytes: number): number {
  const target = Math.min(maxBytes * 4, Math.max(maxBytes * 1.25, maxBytes + evictedBytes));
  const unit = target >= MIB ? MIB : 4 * KIB;
  return Math.ceil(target / unit) * unit;
}

function raiseMaxBytesAction(r: HealthReadings): string {
  const { maxBytes } = r.cache;
  const { sizeEvictions, sizeEvictedBytes } = r.window;
  const target = suggestedMaxBytes(maxBytes, sizeEvictedBytes);
  return (
    `Raise PGCASCADE_CACHE_MAX_BYTES from ${maxBytes} (${formatBytes(maxBytes)}) to ${target} ` +
    `(${formatBytes(target)}): ${sizeEvictions} entries (${formatBytes(sizeEvictedBytes)}) were ` +
    `evicted for size in ${lastWindow(r.window)} and each is read from PostgreSQL again on ` +
    `its next request. Allow the process about ${formatBytes(target - maxBytes)} more memory.`
  );
}

function unknown(name: string, threshold: number, r: HealthReadings): Finding {
  const reason = r.database.error ?? 'no figures';
  return {
    check: {
      name,
      status: 'degraded',
      value: null,
      threshold,
      message: `not measured: the database probe failed (${reason})`,
    },
    actions: [],
  };
}

function databaseCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const db = r.database;
  if (db.reachable) {
    const latencyMs = round(db.latencyMs, 1);
    return {
      check: {
        name: 'database',
        status: 'ok',
        value: latencyMs,
        threshold: t.timeoutMs,
        message: `select 1 answered in ${latencyMs} ms`,
      },
      actions: [],
    };
  }
  return {
    check: {
      name: 'database',
      status: 'down',
      value: null,
      threshold: t.timeoutMs,
      message: `select 1 failed or took over ${t.timeoutMs} ms: ${db.error}`,
    },
    actions: [
      `PostgreSQL did not answer select 1 within ${t.timeoutMs} ms (${db.error}): check that it ` +
        'is running and accepts connections from this host (max_connections, pg_hba.conf). ' +
        'Until it answers, only cached results are served; misses and mutations fail.',
    ],
  };
}

function listenerCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const { connected, reconnects, disconnectedAtMs } = r.listener;
  const intervalMs = r.reconciliation.intervalMs;
  const name = 'listener';
  if (!connected) {
    const downMs = Math.max(0, r.nowMs - (disconnectedAtMs ?? r.nowMs));
    return {
      check: {
        name,
        status: 'degraded',
        value: Math.round(downMs),
        threshold: t.listenerQuietMs,
        message:
          `disconnected for ${seconds(downMs)} (${reconnects} reconnects since start): changes ` +
          `reach this instance only through reconciliation, every ${intervalMs} ms`,
      },
      actions: [
        `The listener has been disconnected for ${seconds(downMs)}, so cached results can stay ` +
          `stale for up to ${intervalMs} ms (PGCASCADE_RECONCILE_INTERVAL_MS). It reconnects by ` +
          'itself; if it stays down for more than a minute, check that PostgreSQL accepts new ' +
          'connections from this host (max_connections, pg_hba.conf, datallowconn).',
      ],
    };
  }

  const figures = r.database.reachable ? r.database.figures : undefined;
  if (!figures) {
    return {
      check: {
        name,
        status: 'ok',
        value: null,
        threshold: t.listenerQuietMs,
        message: `connected (${reconnects} reconnects since start); last activity not measured`,
      },
      actions: [],
    };
  }
  const quietMs = figures.listenerQuietMs;
  if (quietMs === null || quietMs > t.listenerQuietMs) {
    const what =
      quietMs === null
        ? 'connected, but PostgreSQL has no backend for its connection'
        : `connected, but its connection ran no query for ${seconds(quietMs)}`;
    return {
      check: {
        name,
        status: 'degraded',
        value: quietMs === null ? null : Math.round(quietMs),
        threshold: t.listenerQuietMs,
        message: `${what}: it is probably half-open`,
      },
      actions: [
        `The listener's connection looks half-open (${what}). It reconnects when its ` +
          'heartbeat times out; if this persists, look for a firewall or proxy that drops idle ' +
          'connections between this host and PostgreSQL.',
      ],
    };
  }
  return {
    check: {
      name,
      status: 'ok',
      value: Math.round(quietMs),
      threshold: t.listenerQuietMs,
      message:
        `connected; last query ${seconds(quietMs)} ago ` + `(${reconnects} reconnects since start)`,
    },
    actions: [],
  };
}

function reconciliationCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const { intervalMs, lastRunAtMs, lastRunFailed, startedAtMs } = r.reconciliation;
  const thresholdMs = t.reconcileIntervals * intervalMs;
  const ageMs = Math.max(0, r.nowMs - (lastRunAtMs || startedAtMs));
  const name = 'reconciliation';
  if (lastRunFailed) {
    return {
      check: {
        name,
        status: 'degraded',
        value: Math.round(ageMs),
        threshold: thresholdMs,
        message: `the last run, ${seconds(ageMs)} ago, failed`,
      },
      actions: [
        `Reconciliation failed ${seconds(ageMs)} ago: find 'reconciliation failed' in the log ` +
          '(component reconciler). Until a run succeeds, changes the listener misses are not ' +
          'repaired and pgcascade.instances shows no progress for this instance.',
      ],
    };
  }
  if (ageMs > thresholdMs) {
    return {
      check: {
        name,
        status: 'degraded',
        value: Math.round(ageMs),
        threshold: thresholdMs,
        message: `no run finished for ${seconds(ageMs)}; expected every ${intervalMs} ms`,
      },
      actions: [
        `Reconciliation has not finished a run for ${seconds(ageMs)} (expected every ` +
          `${intervalMs} ms): it is stuck behind the database pool or a blocked event loop. ` +
          "Check the pool check and pg_stat_activity for application_name 'pgcascade' " +
          'sessions waiting on locks.',
      ],
    };
  }
  const message = lastRunAtMs
    ? `last run ${seconds(ageMs)} ago (every ${intervalMs} ms)`
    : `no run yet; the first is due within ${intervalMs} ms`;
  return {
    check: { name, status: 'ok', value: Math.round(ageMs), threshold: thresholdMs, message },
    actions: [],
  };
}

function missesCheck(r: HealthReadings): Finding {
  const figures = r.database.reachable ? r.database.figures : undefined;
  if (!figures) return unknown('misses', 0, r);
  const count = figures.missedLastHour;
  if (count === 0) {
    return {
      check: {
        name: 'misses',
        status: 'ok',
        value: 0,
        threshold: 0,
        message: 'no audit entry reached this instance late in the last hour',
      },
      actions: [],
    };
  }
  const delayMs = Math.round(figures.largestDelayMsLastHour ?? 0);
  return {
    check: {
      name: 'misses',
      status: 'degraded',
      value: count,
      threshold: 0,
      message:
        `${count} audit ${count === 1 ? 'entry' : 'entries'} reached this instance late in the ` +
        'last hour (found by reconciliation or a reconnect, not notified); ' +
        `largest delay ${delayMs} ms`,
    },
    actions: [
      `${count} ${count === 1 ? 'change' : 'changes'} reached this instance up to ` +
        `${delayMs} ms late in the last hour, and cached results could be stale meanwhile. ` +
        'List them with select * from pgcascade.recent_misses ' +
        `where instance_id = '${r.instanceId}'. ` +
        `Misses at listener reconnects (${r.listener.reconnects} since start) point at the ` +
        'network between this host and PostgreSQL; misses while it stayed connected are a ' +
        'delivery bug worth reporting.',
    ],
  };
}

function hitRateCheck(r: HealthReadings, t: HealthThresholds, cacheFull: boolean): Finding {
  const w = r.window;
  const cacheable = w.hit + w.miss;
  const rate = hitRate(w);
  const span = lastWindow(w);
  const value = rate === null ? null : round(rate, 3);
  const name = 'hit-rate';
  if (cacheable < t.minCacheableRequests || rate === null) {
    return {
      check: {
        name,
        status: 'ok',
        value,
        threshold: t.minHitRate,
        message:
          `${cacheable} cacheable requests in ${span}: too few to judge ` +
          `(${t.minCacheableRequests} needed)`,
      },
      actions: [],
    };
  }
  const summary = `hit rate ${percent(rate)} over ${cacheable} cacheable requests in ${span}`;
  if (rate >= t.minHitRate) {
    return {
      check: { name, status: 'ok', value, threshold: t.minHitRate, message: summary },
      actions: [],
    };
  }

  // The cause named is the one that explains the most misses: each eviction for size or
  // invalidation explains at most one, and the rest are of results not cached before.
  const bySize = Math.min(w.sizeEvictions, w.miss);
  const byInvalidation = Math.min(w.invalidationEvictions, w.miss - bySize);
  const unexplained = w.miss - bySize - byInvalidation;
  let action: string;
  if (bySize > 0 && bySize >= byInvalidation && bySize >= unexplained) {
    action = cacheFull
      ? `The hit rate is ${percent(rate)} and the working set may not fit: ` +
        `${w.sizeEvictions} evictions for size against ${w.miss} misses. See the cache-bytes ` +
        'recommendation.'
      : `The hit rate is ${percent(rate)} and ${w.sizeEvictions} entries were evicted for size ` +
        `against ${w.miss} misses. ${raiseMaxBytesAction(r)}`;
  } else if (byInvalidation > 0 && byInvalidation >= unexplained) {
    action =
      `The hit rate is ${percent(rate)} because writes invalidate much of the cache: ` +
      `${w.invalidationEvictions} cached results were invalidated against ${w.miss} misses in ` +
      `${span}. Find the types that invalidate most with select * from ` +
      'pgcascade.invalidations_by_type, then narrow them: name entities in their cascades ' +
      'instead of whole lists or PREFIX/ALL query invalidations, and track their tables with ' +
      'filters so that an update invalidates only the lists it can move rows between.';
  } else {
    // While the window is younger than its length, first fills of a cache starting cold
    // look the same as queries asked once.
    const young = w.spanMs < w.windowMs;
    action =
      `The hit rate is ${percent(rate)} but only ${w.sizeEvictions} evictions for size and ` +
      `${w.invalidationEvictions} invalidations explain ${w.miss} misses: ` +
      (young ? `the cache is still filling in ${span}, or ` : '') +
      'most queries are asked only once. Check that clients pass values as GraphQL ' +
      'variables rather than writing them into the query text, and that they do not vary ' +
      'field order or aliases.';
  }
  return {
    check: {
      name,
      status: 'degraded',
      value,
      threshold: t.minHitRate,
      message: `${summary} (below ${percent(t.minHitRate)})`,
    },
    actions: [action],
  };
}

function cacheBytesCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const { bytes, maxBytes, entries } = r.cache;
  const ratio = maxBytes === 0 ? 0 : bytes / maxBytes;
  const { sizeEvictions, sizeEvictedBytes } = r.window;
  const held =
    `${bytes} of ${maxBytes} bytes (${percent(ratio)}) in ${entries} entries; ` +
    `${sizeEvictions} evicted for size (${formatBytes(sizeEvictedBytes)}) ` +
    `in ${lastWindow(r.window)}`;
  const full = ratio >= t.cacheFullRatio && sizeEvictions > 0;
  return {
    check: {
      name: 'cache-bytes',
      status: full ? 'degraded' : 'ok',
      value: round(ratio, 3),
      threshold: t.cacheFullRatio,
      message: held,
    },
    actions: full ? [raiseMaxBytesAction(r)] : [],
  };
}

function poolCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const p = r.pool;
  const windowText = `${p.samples} samples over the last ${seconds(p.windowMs)}`;
  const message =
    `requests waited for a connection in ${percent(p.waitingShare)} of ${windowText} ` +
    `(peak ${p.peakWaiting} waiting for ${p.max} connections; ` +
    `peak ${p.peakInflight} fills in flight)`;
  const sustained = p.samples >= t.minPoolSamples && p.waitingShare >= t.poolWaitingShare;
  if (!sustained) {
    return {
      check: {
        name: 'pool',
        status: 'ok',
        value: round(p.waitingShare, 3),
        threshold: t.poolWaitingShare,
        message,
      },
      actions: [],
    };
  }
  // A queue longer than the pool means saturation, not a small pool: more connections
  // would only move the queue into PostgreSQL. So suggest at most twice the pool.
  const needed = Math.min(p.max + p.peakWaiting, 2 * p.max);
  const saturated = p.peakWaiting > p.max;
  return {
    check: {
      name: 'pool',
      status: 'degraded',
      value: round(p.waitingShare, 3),
      threshold: t.poolWaitingShare,
      message,
    },
    actions: [
      `Requests queue for the ${p.max}-connection database pool (waiting in ` +
        `${percent(p.waitingShare)} of ${windowText}, peak ${p.peakWaiting} waiting, ` +
        `${p.peakInflight} fills in flight): ` +
        (saturated
          ? 'more requests wait than the pool holds, so this instance or PostgreSQL is ' +
            'saturated: run another instance (it brings its own pool and cache) or a read ' +
            'replica for fills; more connections help little ' +
            `(at most PGCASCADE_POOL_MAX=${needed}).`
          : `set PGCASCADE_POOL_MAX=${needed} if PostgreSQL's max_connections leaves room, or ` +
            'run another instance, which brings its own pool and cache.'),
    ],
  };
}

function notifyQueueCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const figures = r.database.reachable ? r.database.figures : undefined;
  if (!figures) return unknown('notify-queue', t.notifyQueueUsage, r);
  const usage = figures.notifyQueueUsage;
  const full = usage >= t.notifyQueueUsage;
  return {
    check: {
      name: 'notify-queue',
      status: full ? 'degraded' : 'ok',
      value: round(usage, 4),
      threshold: t.notifyQueueUsage,
      message: `the NOTIFY queue is ${percent(usage)} full`,
    },
    actions: full
      ? [
          `The NOTIFY queue is ${percent(usage)} full: a session that LISTENs is not reading ` +
            'it, usually because it sits in a long transaction. Find it with select pid, ' +
            'application_name, xact_start from pg_stat_activity where xact_start < now() - ' +
            "interval '1 minute' order by xact_start, and end it with pg_terminate_backend(pid). " +
            'At 100% every write that must notify fails.',
        ]
      : [],
  };
}

function writeRateCheck(r: HealthReadings, t: HealthThresholds): Finding {
  const threshold = t.captureUsage * t.captureCapacityPerSecond;
  const figures = r.database.reachable ? r.database.figures : undefined;
  if (!figures) return unknown('write-rate', threshold, r);
  const perSecond = figures.entriesLastMinute / 60;
  const share = perSecond / t.captureCapacityPerSecond;
  const busy = perSecond >= threshold;
  const capacity = t.captureCapacityPerSecond;
  return {
    check: {
      name: 'write-rate',
      status: busy ? 'degraded' : 'ok',
      value: round(perSecond, 1),
      threshold,
      message:
        `${round(perSecond, 1)} audit entries/s over the last minute, ${percent(share)} of the ` +
        `measured capture capacity (${capacity}/s)`,
    },
    actions: busy
      ? [
          `Capture runs at ${percent(share)} of its measured capacity ` +
            `(${Math.round(perSecond)} of ${capacity} audit entries/s over the last minute): ` +
            'batch writes into multi-row statements, which capture as one audit entry each ' +
            `instead of one a row; if the rate keeps growing towards ${capacity}/s, move ` +
            'capture to another transport (logical decoding) instead of triggers and NOTIFY.',
        ]
      : [],
  };
}

/**
 * Computes the report from readings. Pure, so each threshold and recommendation can be
 * checked without producing the load it describes.
 */
export function evaluateHealth(r: HealthReadings, t: HealthThresholds): HealthReport {
  const cacheBytes = cacheBytesCheck(r, t);
  const hitRateFinding = hitRateCheck(r, t, cacheBytes.check.status !== 'ok');
  const pool = poolCheck(r, t);
  const findings = [
    databaseCheck(r, t),
    listenerCheck(r, t),
    reconciliationCheck(r, t),
    missesCheck(r),
    hitRateFinding,
    cacheBytes,
    pool,
    notifyQueueCheck(r, t),
    writeRateCheck(r, t),
  ];

  const recommendations: Recommendation[] = [];
  for (const f of findings) {
    for (const action of f.actions) recommendations.push({ check: f.check.name, action });
  }
  // The cache cannot absorb the reads and the database cannot serve them: only more read
  // capacity on the database side helps, since more instances share the same primary.
  if (hitRateFinding.check.status === 'degraded' && pool.check.status === 'degraded') {
    const missesPerSecond = r.window.spanMs > 0 ? r.window.miss / (r.window.spanMs / 1000) : 0;
    recommendations.push({
      check: 'pool',
      action:
        `Reads outrun the primary: ${round(missesPerSecond, 1)} misses/s reach PostgreSQL at a ` +
        `${percent(hitRate(r.window) ?? 0)} hit rate while requests queue for connections. More ` +
        'instances would share the same primary: add a read replica for fills, and raise the ' +
        'hit rate (see hit-rate).',
    });
  }

  const checks = findings.map((f) => f.check);
  const status: HealthStatus = checks.some((c) => c.status === 'down')
    ? 'down'
    : checks.some((c) => c.status === 'degraded')
      ? 'degraded'
      : 'ok';
  return { status, checks, recommendations };
}
