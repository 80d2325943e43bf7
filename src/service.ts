/**
 * The service: resolves the database (DATABASE_URL or an embedded server), migrates,
 * wires cache, delivery, GraphQL and observability, serves HTTP, and shuts all of it
 * down in reverse order. A failure during start-up undoes what had started, so no
 * embedded server outlives a failed start.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { tracing } from '@opentelemetry/sdk-node';
import type { GraphQLSchema } from 'graphql';
import { createSchema } from 'graphql-yoga';
import pg from 'pg';
import { CacheStore } from './cache/cache-store';
import { DocumentCache } from './cache/document-cache';
import type { Config } from './config';
import { startEmbeddedPostgres, type EmbeddedServer } from './db/embedded';
import { migrate } from './db/migrate';
import { checkConnection, createPool } from './db/pool';
import { Delivery } from './delivery/delivery';
import type { ListenerOptions } from './delivery/listener';
import { demoSchemaModule, isDemoEmpty, seedDemo } from './demo';
import { PgcascadeError } from './errors';
import { EventBus } from './events';
import { createRequestHandler, UNCOUNTED } from './graphql/http-handler';
import type { SchemaModule } from './graphql/schema-module';
import { createYogaServer } from './graphql/yoga';
import type { Logger } from './logger';
import { HealthChecker, type HealthOptions } from './observability/health';
import { Metrics } from './observability/metrics';
import { startTracing } from './observability/tracing';

/** Refreshes that may wait; past it an invalidated hot result waits for its next read. */
const REFRESH_QUEUE = 1000;

/** Options of {@link startService}. */
export interface ServiceOptions {
  config: Config;
  log: Logger;
  /** The schema to serve. Default: the demo, whose tables are migrated and seeded. */
  module?: SchemaModule;
  /** Seed the demo when its tables are empty. Default true. */
  seedDemo?: boolean;
  /** Listener tuning, for tests. */
  listener?: Partial<ListenerOptions>;
  /** The cache's clock in milliseconds, for tests of expiry. Default Date.now. */
  now?: () => number;
  /** Count hits, misses and bypasses for /metrics and /health. Default true. */
  countRequests?: boolean;
  /** Records spans here instead of where the OTel environment says (tests). */
  spanProcessor?: tracing.SpanProcessor;
  /** Health check tuning (thresholds, clock), for tests. */
  health?: Partial<HealthOptions>;
}

/** A running service. */
export interface Service {
  /** http://host:port */
  url: string;
  port: number;
  databaseUrl: string;
  pool: pg.Pool;
  store: CacheStore;
  delivery: Delivery;
  metrics: Metrics;
  /** The checks behind GET /health. */
  health: HealthChecker;
  bus: EventBus;
  /** Stops accepting, finishes in-flight requests, closes connections, stops embedded. */
  stop(): Promise<void>;
}

/** Connects to DATABASE_URL, or starts the embedded server. */
export async function resolveDatabase(
  config: Config,
  log: Logger,
): Promise<{ url: string; embedded?: EmbeddedServer }> {
  if (config.databaseUrl) {
    try {
      await checkConnection(config.databaseUrl);
    } catch (error) {
      throw new PgcascadeError(
        'PGCASCADE_DATABASE_UNREACHABLE',
        `DATABASE_URL: cannot connect (${(error as Error).message}): expected a reachable PostgreSQL`,
        { cause: error },
      );
    }
    return { url: config.databaseUrl };
  }
  const embedded = await startEmbeddedPostgres(
    { dataDir: path.join(config.dataDir, 'data') },
    log.child({ component: 'embedded' }),
  );
  return { url: embedded.url, embedded };
}

function buildSchema(module: SchemaModule): GraphQLSchema {
  if (module.schema) return module.schema;
  return createSchema({
    typeDefs: module.typeDefs!,
    resolvers: (module.resolvers ?? {}) as never,
  });
}

/** Starts everything and listens on config.port/host. */
export async function startService(options: ServiceOptions): Promise<Service> {
  const { config, log } = options;
  const module = options.module ?? demoSchemaModule;
  const isDemo = module === demoSchemaModule;
  const cleanup: Array<() => Promise<void>> = [];
  let undoing = false;
  const undo = async () => {
    undoing = true;
    for (const step of cleanup.reverse()) await step().catch(() => undefined);
  };

  try {
    const database = await resolveDatabase(config, log);
    if (database.embedded) cleanup.push(() => database.embedded!.stop());

    const admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
    try {
      await migrate(admin, 'core', log.child({ component: 'migrate' }));
      if (isDemo) await migrate(admin, 'demo', log.child({ component: 'migrate' }));
    } finally {
      await admin.end();
    }

    const pool = createPool(
      { connectionString: database.url, max: config.poolMax, stopping: () => undoing },
      log,
    );
    cleanup.push(() => pool.end());
    if (isDemo && options.seedDemo !== false && (await isDemoEmpty(pool))) {
      log.info('seeding the demo schema');
      await seedDemo(pool, {});
    }

    const bus = new EventBus();
    const store = new CacheStore({
      maxBytes: config.cacheMaxBytes,
      ttlSeconds: config.cacheTtlSeconds,
      now: options.now,
    });
    store.on('cache:evicted', (e) =>
      bus.emit('cache:evicted', { reason: e.reason, bytes: e.bytes }),
    );
    const delivery = new Delivery(
      {
        connectionString: database.url,
        instanceId: config.instanceId,
        reconcileIntervalMs: config.reconcileIntervalMs,
        auditRetentionSeconds: config.auditRetentionSeconds,
        listener: options.listener,
      },
      pool,
      store,
      bus,
      log,
    );

    const schema = buildSchema(module);
    let inflightFills = () => 0;
    let health: HealthChecker | undefined;
    const metrics = new Metrics({
      bus,
      pool,
      cacheStats: () => store.stats(),
      listenerReconnects: () => delivery.listener.reconnectCount,
      inflightFills: () => inflightFills(),
      listenerConnected: () => delivery.listener.connected,
      databaseGauges: async () => health?.databaseGauges(),
    });
    cleanup.push(() => metrics.shutdown());
    const checker = new HealthChecker(
      {
        connectionString: database.url,
        instanceId: config.instanceId,
        reconcileIntervalMs: config.reconcileIntervalMs,
        bus,
        requests: metrics.requests,
        cacheStats: () => store.stats(),
        pool,
        inflightFills: () => inflightFills(),
        listener: delivery.listener,
        reconciler: delivery.reconciler,
        appliedSeq: () => delivery.applier.highestSeq,
      },
      options.health ?? {},
      log.child({ component: 'health' }),
    );
    health = checker;
    cleanup.push(() => checker.stop());
    const yoga = createYogaServer({
      schema,
      module,
      pool,
      sync: () => delivery.sync(),
      onExecution: () => metrics.execution(),
      log: log.child({ component: 'graphql' }),
    });
    const tracer = startTracing(log.child({ component: 'tracing' }), options.spanProcessor);
    cleanup.push(() => tracer.stop());
    const handler = createRequestHandler({
      yoga,
      module,
      store,
      documents: new DocumentCache(schema),
      ttlSeconds: config.cacheTtlSeconds,
      metrics: options.countRequests === false ? UNCOUNTED : metrics,
      routes: {
        '/metrics': (req, res) => metrics.handle(req, res),
        '/health': (req, res) => checker.handle(req, res),
      },
      log: log.child({ component: 'http' }),
      tracing: tracer,
      refresh: {
        minHits: config.refreshMinHits,
        // A quarter of the pool, so that requests keep the rest during a burst of writes.
        concurrency: Math.max(1, Math.floor(config.poolMax / 4)),
        maxQueued: REFRESH_QUEUE,
      },
      onRefresh: (outcome, key) => bus.emit('cache:refreshed', { key, outcome }),
    });

    inflightFills = handler.inflightFills;
    cleanup.push(() => handler.stopRefreshing());
    // A request that arrives after an invalidation must not join a fill begun before it.
    bus.on('invalidation:applied', handler.sealFills);

    await delivery.start();
    cleanup.push(() => delivery.stop());
    await checker.start();

    const server = http.createServer(handler.handle);
    server.keepAliveTimeout = 5000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.port, config.host, () => resolve());
    });
    cleanup.push(
      () =>
        new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        }),
    );
    const port = (server.address() as AddressInfo).port;
    const url = `http://${config.host}:${port}`;
    log.info({ url: `${url}/graphql`, embedded: Boolean(database.embedded) }, 'pgcascade serving');

    let stopping: Promise<void> | undefined;
    return {
      url,
      port,
      databaseUrl: database.url,
      pool,
      store,
      delivery,
      metrics,
      health: checker,
      bus,
      stop: () => (stopping ??= undo()),
    };
  } catch (error) {
    await undo();
    throw error;
  }
}
