/**
 * Metrics through OpenTelemetry, exported as Prometheus text at GET /metrics. The hit
 * path only increments plain numbers; OpenTelemetry reads them through observable
 * instruments when scraped, so a cache hit never pays for attribute hashing.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { Histogram } from '@opentelemetry/api';
import { AggregationType, MeterProvider } from '@opentelemetry/sdk-metrics';
import type pg from 'pg';
import type { RefreshOutcome } from '../cache/refresh';
import type { ApplySource, EventBus } from '../events';
import type { ServingMetrics } from '../graphql/http-handler';

/** What the metrics read at scrape time. */
export interface MetricSources {
  bus: EventBus;
  cacheStats(): { entries: number; bytes: number; maxBytes: number };
  pool: pg.Pool;
  listenerReconnects(): number;
  /** Executions in flight now (misses being filled). */
  inflightFills(): number;
  /** Whether the listener's connection is up. */
  listenerConnected?(): boolean;
  /**
   * NOTIFY queue usage and this instance's audit backlog, read from the database at scrape
   * time (observability/health.ts caches the probe); undefined when it cannot be read.
   */
  databaseGauges?(): Promise<{ notifyQueueUsage: number; auditBacklog: number } | undefined>;
}

// Lag buckets in seconds: a connected listener applies within milliseconds, a repair by
// reconciliation takes up to an interval (1 s by default) or a few.
const LAG_BUCKETS = [0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30];

/** All of pgcascade's metrics, and the /metrics handler. */
export class Metrics implements ServingMetrics {
  /** Cache lookups by result; read by the health check for the hit rate too. */
  readonly requests = { hit: 0, miss: 0, bypass: 0 };
  coalescedCount = 0;
  staleFillCount = 0;
  executionCount = 0;
  missedCount = 0;
  // Known labels start at 0 so that a scrape shows every series before its first event.
  readonly evictions = new Map<string, number>([
    ['size', 0],
    ['ttl', 0],
    ['invalidation', 0],
  ]);
  readonly refreshes = new Map<RefreshOutcome, number>([
    ['stored', 0],
    ['stale', 0],
    ['skipped', 0],
    ['dropped', 0],
    ['failed', 0],
  ]);
  readonly invalidations = new Map<ApplySource, number>([
    ['listener', 0],
    ['catch-up', 0],
    ['reconciliation', 0],
  ]);
  private readonly exporter: PrometheusExporter;
  private readonly provider: MeterProvider;
  private readonly lag: Histogram;

  constructor(sources: MetricSources) {
    this.exporter = new PrometheusExporter({ preventServerStart: true });
    this.provider = new MeterProvider({
      readers: [this.exporter],
      views: [
        {
          instrumentName: 'pgcascade_invalidation_lag_seconds',
          aggregation: {
            type: AggregationType.EXPLICIT_BUCKET_HISTOGRAM,
            options: { boundaries: LAG_BUCKETS },
          },
        },
      ],
    });
    const meter = this.provider.getMeter('pgcascade');

    this.lag = meter.createHistogram('pgcascade_invalidation_lag_seconds', {
      description: 'Time from an audit entry being written to its invalidation being applied',
    });
    sources.bus.on('invalidation:applied', (e) => {
      this.invalidations.set(e.source, (this.invalidations.get(e.source) ?? 0) + 1);
      this.lag.record(e.lagMs / 1000, { source: e.source });
    });
    sources.bus.on('delivery:missed', () => this.missedCount++);
    sources.bus.on('cache:refreshed', (e) => {
      this.refreshes.set(e.outcome, (this.refreshes.get(e.outcome) ?? 0) + 1);
    });
    sources.bus.on('cache:evicted', (e) => {
      this.evictions.set(e.reason, (this.evictions.get(e.reason) ?? 0) + 1);
    });

    meter
      .createObservableCounter('pgcascade_cache_requests_total', {
        description: 'Cache lookups on /graphql by result (hit, miss, bypass)',
      })
      .addCallback((o) => {
        for (const [result, value] of Object.entries(this.requests)) o.observe(value, { result });
      });
    meter
      .createObservableGauge('pgcascade_cache_entries', { description: 'Entries in the cache' })
      .addCallback((o) => o.observe(sources.cacheStats().entries));
    meter
      .createObservableGauge('pgcascade_cache_bytes', { description: 'Bytes held by the cache' })
      .addCallback((o) => o.observe(sources.cacheStats().bytes));
    meter
      .createObservableGauge('pgcascade_cache_max_bytes', {
        description: 'PGCASCADE_CACHE_MAX_BYTES, the bound on pgcascade_cache_bytes',
      })
      .addCallback((o) => o.observe(sources.cacheStats().maxBytes));
    meter
      .createObservableCounter('pgcascade_cache_evictions_total', {
        description: 'Entries removed by reason (size, ttl, invalidation, ...)',
      })
      .addCallback((o) => {
        for (const [reason, value] of this.evictions) o.observe(value, { reason });
      });
    meter
      .createObservableCounter('pgcascade_refreshes_total', {
        description: 'Invalidated hot results run again ahead of their next read, by outcome',
      })
      .addCallback((o) => {
        for (const [outcome, value] of this.refreshes) o.observe(value, { outcome });
      });
    this.counter(
      meter,
      'pgcascade_executions_total',
      'Operations run against the database',
      () => this.executionCount,
    );
    this.counter(
      meter,
      'pgcascade_coalesced_total',
      'Misses that joined an identical execution in flight',
      () => this.coalescedCount,
    );
    meter
      .createObservableCounter('pgcascade_invalidations_total', {
        description: 'Audit entries applied, by how they arrived',
      })
      .addCallback((o) => {
        for (const [source, value] of this.invalidations) o.observe(value, { source });
      });
    this.counter(
      meter,
      'pgcascade_stale_fills_discarded_total',
      'Fills discarded because an invalidation ran during them',
      () => this.staleFillCount,
    );
    this.counter(
      meter,
      'pgcascade_missed_cascades_total',
      'Audit entries applied late (reconciliation or catch-up)',
      () => this.missedCount,
    );
    this.counter(
      meter,
      'pgcascade_listener_reconnects_total',
      'Times the listener reconnected',
      sources.listenerReconnects,
    );
    meter
      .createObservableGauge('pgcascade_inflight_executions', {
        description: 'Cache fills executing now',
      })
      .addCallback((o) => o.observe(sources.inflightFills()));
    meter
      .createObservableGauge('pgcascade_db_pool_waiting', {
        description: 'Requests waiting for a database connection',
      })
      .addCallback((o) => o.observe(sources.pool.waitingCount));
    const { listenerConnected, databaseGauges } = sources;
    if (listenerConnected) {
      meter
        .createObservableGauge('pgcascade_listener_connected', {
          description: 'Whether the listener is connected (1) or not (0)',
        })
        .addCallback((o) => o.observe(listenerConnected() ? 1 : 0));
    }
    if (databaseGauges) {
      const queue = meter.createObservableGauge('pgcascade_notify_queue_usage', {
        description: 'Fraction of the NOTIFY queue in use (pg_notification_queue_usage)',
      });
      const backlog = meter.createObservableGauge('pgcascade_audit_backlog', {
        description: 'Audit entries written that this instance has not applied yet',
      });
      // Nothing is observed when the database does not answer: a missing sample, not a 0.
      meter.addBatchObservableCallback(
        async (o) => {
          const gauges = await databaseGauges().catch(() => undefined);
          if (!gauges) return;
          o.observe(queue, gauges.notifyQueueUsage);
          o.observe(backlog, gauges.auditBacklog);
        },
        [queue, backlog],
      );
    }
  }

  private counter(
    meter: ReturnType<MeterProvider['getMeter']>,
    name: string,
    description: string,
    read: () => number,
  ): void {
    meter.createObservableCounter(name, { description }).addCallback((o) => o.observe(read()));
  }

  request(result: 'hit' | 'miss' | 'bypass'): void {
    this.requests[result]++;
  }

  coalesced(): void {
    this.coalescedCount++;
  }

  staleFill(): void {
    this.staleFillCount++;
  }

  /** Counts one operation executed against the database. */
  execution(): void {
    this.executionCount++;
  }

  /** Serves the Prometheus text. */
  handle(req: IncomingMessage, res: ServerResponse): void {
    this.exporter.getMetricsRequestHandler(req, res);
  }

  async shutdown(): Promise<void> {
    await this.provider.shutdown();
  }
}
