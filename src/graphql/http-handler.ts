/**
 * The HTTP front of the service on raw node:http. A cacheable POST /graphql that hits
 * is answered here without parsing, validating or executing GraphQL and without the
 * Fetch API adapter; a miss is coalesced with identical misses and filled through Yoga;
 * everything else (GET, GraphiQL, mutations, introspection, malformed bodies) goes to
 * Yoga as a bypass. Every /graphql response says which in `x-cache`.
 */
import crypto from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { context, trace } from '@opentelemetry/api';
import type { YogaServerInstance } from 'graphql-yoga';
import type { CacheStore, FillResult } from '../cache/cache-store';
import { cacheKey } from '../cache/cache-key';
import { Coalescer } from '../cache/coalescing';
import { DocumentCache, type DocumentInfo } from '../cache/document-cache';
import { Refresher, type RefreshOutcome, type RefresherOptions } from '../cache/refresh';
import type { Logger } from '../logger';
import { inSpan, type Tracing } from '../observability/tracing';
import { INTERNAL_ERROR_CODE } from './mask-error';
import { BodyTooLarge, readBody } from './request-body';
import type { SchemaModule } from './schema-module';
import type { FillContext, ServerContext } from './yoga';

/** What the serving path reports; implemented by observability/metrics.ts. */
export interface ServingMetrics {
  request(result: 'hit' | 'miss' | 'bypass'): void;
  coalesced(): void;
  staleFill(): void;
}

/** Serving metrics that count nothing: for measuring what counting costs (bench-hits). */
export const UNCOUNTED: ServingMetrics = {
  request: () => undefined,
  coalesced: () => undefined,
  staleFill: () => undefined,
};

/** Routes other than /graphql, answered by their own modules. */
export type RouteHandler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

/** Everything the handler needs. */
export interface HandlerDeps {
  yoga: YogaServerInstance<ServerContext, object>;
  module: SchemaModule;
  store: CacheStore;
  documents: DocumentCache;
  /** PGCASCADE_CACHE_TTL_SECONDS; 0 bypasses the cache entirely. */
  ttlSeconds: number;
  metrics: ServingMetrics;
  routes: Record<string, RouteHandler>;
  log: Logger;
  /** Spans for requests, lookups and fills when tracing is enabled. */
  tracing?: Tracing;
  /** Refresh-ahead of invalidated hot results (cache/refresh.ts); off when absent. */
  refresh?: RefresherOptions;
  /** Told what became of each refresh. */
  onRefresh?: (outcome: RefreshOutcome, key: string) => void;
}

/** The parts of a request that running it through Yoga reads. */
type RequestHead = Pick<IncomingMessage, 'method' | 'url' | 'headers'>;

/**
 * How a refresh presents itself to Yoga. Only shared results are refreshed, and the
 * schema module's scope() said those do not depend on who asked, so no credentials.
 */
const REFRESH_HEAD: RequestHead = {
  method: 'POST',
  url: '/graphql',
  headers: { host: 'localhost', 'content-type': 'application/json' },
};

interface GraphQLParams {
  query: string;
  operationName?: string | null;
  variables?: Record<string, unknown> | null;
}

/** The outcome of one fill, shared by every coalesced waiter. */
interface FillOutcome {
  status: number;
  body: Buffer;
  contentType: string;
  etag?: string;
  /** What the store did with the result; absent when it was not offered (an error). */
  cached?: FillResult;
}

const JSON_TYPE = 'application/json; charset=utf-8';

/** A cacheable request body seen before: what it parsed to, and its key without a scope. */
interface KnownBody {
  params: GraphQLParams;
  info: DocumentInfo;
  /** Built once, so its hash is too: the store's lookup of a shared result hashes nothing. */
  sharedKey: string;
}

// Clients repeat the same few bodies byte for byte. Remembering them saves a hit JSON.parse,
// the document lookup and building and hashing the key. The map is emptied when full, so a
// flood of distinct bodies costs a reparse each, never memory; big bodies are not kept.
const KNOWN_BODIES = 1000;
const KNOWN_BODY_MAX_BYTES = 4096;

// With tracing on, the x-cache value is kept on the response for the request's span
// (headers given to writeHead cannot be read back).
const CACHE_RESULT = Symbol('pgcascade.cache');
type TracedResponse = ServerResponse & { [CACHE_RESULT]?: string };

function isPlainParams(value: unknown): value is GraphQLParams {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return false;
  const p = value as Record<string, unknown>;
  if (typeof p.query !== 'string') return false;
  if (p.operationName != null && typeof p.operationName !== 'string') return false;
  if (p.variables != null && (typeof p.variables !== 'object' || Array.isArray(p.variables))) {
    return false;
  }
  // Extensions (persisted queries, say) change what runs: leave those to Yoga.
  return p.extensions == null;
}

function etagMatches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((tag) => tag.trim().replace(/^W\//, '') === etag);
}

function graphqlError(message: string, code: string): Buffer {
  return Buffer.from(JSON.stringify({ errors: [{ message, extensions: { code } }] }));
}

/**
 * The status a GraphQL response deserves: a 200 whose body has errors and no data is a
 * request that never executed. Yoga answers those with 200 to clients that accept only
 * application/json. Mostly it did not parse or validate, the client's fault (400); when
 * an error is a masked internal one, the server failed (500).
 */
function statusOf(status: number, contentType: string | null, body: Buffer): number {
  if (status !== 200 || !contentType?.includes('json') || body[0] !== 0x7b) return status;
  if (!body.includes('"errors"')) return status;
  try {
    const parsed = JSON.parse(body.toString('utf8')) as {
      data?: unknown;
      errors?: Array<{ extensions?: { code?: unknown } }>;
    };
    if (!Array.isArray(parsed.errors) || 'data' in parsed) return status;
    const internal = parsed.errors.some((e) => e?.extensions?.code === INTERNAL_ERROR_CODE);
    return internal ? 500 : 400;
  } catch {
    return status;
  }
}

/** A fill's context before execution: the resolvers record tags and typenames into it. */
function emptyContext(prepared: FillContext['prepared']): FillContext {
  return { prepared, ok: false, tags: [], typenames: [] };
}

/** Shortest expiry of the types in a result, capped by the global one. */
function ttlFor(module: SchemaModule, typenames: string[], globalSeconds: number): number {
  let ttl = globalSeconds;
  const overrides = module.ttlSeconds;
  if (!overrides) return ttl;
  for (const name of typenames) {
    const own = overrides[name];
    if (own !== undefined && own < ttl) ttl = own;
  }
  return ttl;
}

/** Builds the request listener for node:http, and a gauge of fills in flight. */
export function createRequestHandler(deps: HandlerDeps) {
  const { store, documents, metrics, log, tracing } = deps;
  const fills = new Coalescer<FillOutcome>();
  const knownBodies = new Map<string, KnownBody>();
  // Counted apart from the coalescer, which forgets sealed runs that still execute.
  let executing = 0;

  async function toYoga(
    req: RequestHead,
    body: Buffer | undefined,
    serverContext: ServerContext = {},
  ): Promise<Response> {
    const headers = new Headers();
    for (const [name, value] of Object.entries(req.headers)) {
      if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
    }
    const init: RequestInit = {
      method: req.method,
      headers,
      body: body && body.length > 0 ? new Uint8Array(body) : undefined,
    };
    const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
    return deps.yoga.fetch(url, init, serverContext);
  }

  async function sendResponse(res: ServerResponse, response: Response, cache: string) {
    const body = Buffer.from(await response.arrayBuffer());
    const status = statusOf(response.status, response.headers.get('content-type'), body);
    const headers: Record<string, string> = {};
    response.headers.forEach((value, name) => {
      headers[name] = value;
    });
    headers['x-cache'] = cache;
    headers['content-length'] = String(body.length);
    if (tracing?.enabled) (res as TracedResponse)[CACHE_RESULT] = cache;
    res.writeHead(status, headers);
    res.end(body);
  }

  async function bypass(req: IncomingMessage, res: ServerResponse, body?: Buffer) {
    metrics.request('bypass');
    await sendResponse(res, await toYoga(req, body), 'bypass');
  }

  /**
   * Runs the request and stores its result; `replay` is kept for refresh-ahead, and a
   * refresh credits the new entry with `carriedHits`.
   */
  async function fill(
    req: RequestHead,
    body: Buffer,
    key: string,
    fillContext: FillContext,
    replay?: Buffer,
    carriedHits = 0,
  ): Promise<FillOutcome> {
    const token = store.beginFill();
    executing++;
    try {
      const response = tracing?.enabled
        ? await inSpan(tracing.tracer.startSpan('pgcascade.fill'), () =>
            toYoga(req, body, { fill: fillContext }),
          )
        : await toYoga(req, body, { fill: fillContext });
      const bytes = Buffer.from(await response.arrayBuffer());
      const contentType = response.headers.get('content-type') ?? JSON_TYPE;
      if (response.status !== 200 || !fillContext.ok) {
        store.cancelFill(token);
        return { status: statusOf(response.status, contentType, bytes), body: bytes, contentType };
      }
      const etag = `"${crypto.createHash('sha1').update(bytes).digest('base64url')}"`;
      const ttlSeconds = ttlFor(deps.module, fillContext.typenames, deps.ttlSeconds);
      const stored = store.fill(token, key, {
        body: bytes,
        etag,
        tags: fillContext.tags,
        ttlSeconds,
        replay,
        carriedHits,
      });
      if (stored === 'stale') metrics.staleFill();
      return { status: 200, body: bytes, contentType: JSON_TYPE, etag, cached: stored };
    } catch (error) {
      store.cancelFill(token);
      throw error;
    } finally {
      executing--;
    }
  }

  function sendBytes(
    req: IncomingMessage,
    res: ServerResponse,
    outcome: FillOutcome,
    cache: 'hit' | 'miss' | 'bypass',
  ) {
    if (tracing?.enabled) (res as TracedResponse)[CACHE_RESULT] = cache;
    if (outcome.etag && etagMatches(req.headers['if-none-match'] as string, outcome.etag)) {
      res.writeHead(304, { etag: outcome.etag, 'x-cache': cache });
      res.end();
      return;
    }
    // A flat array skips the per-key work Node does for a headers object: this is the
    // hit path's one write.
    const headers = [
      'content-type',
      outcome.contentType,
      'content-length',
      String(outcome.body.length),
      'x-cache',
      cache,
    ];
    if (outcome.etag) headers.push('etag', outcome.etag);
    res.writeHead(outcome.status, headers);
    res.end(outcome.body);
  }

  /**
   * What a body not seen before asks for: a cacheable operation (remembered when small),
   * 'bypass' for anything else Yoga should answer, or the SyntaxError of malformed JSON.
   */
  function parseBody(text: string, bytes: number): KnownBody | 'bypass' | SyntaxError {
    let params: unknown;
    try {
      params = JSON.parse(text);
    } catch (error) {
      return error as SyntaxError;
    }
    if (deps.ttlSeconds === 0 || !isPlainParams(params)) return 'bypass';
    const info = documents.lookup(params.query);
    if (!info || !DocumentCache.cacheable(info, params.operationName)) return 'bypass';

    const { operationName, variables, query } = params;
    const known = { params, info, sharedKey: cacheKey(null, operationName, variables, query) };
    if (bytes <= KNOWN_BODY_MAX_BYTES) {
      if (knownBodies.size >= KNOWN_BODIES) knownBodies.clear();
      knownBodies.set(text, known);
    }
    return known;
  }

  /** Runs a shared result's request again after its invalidation (cache/refresh.ts). */
  async function refresh(
    key: string,
    replay: Buffer,
    carriedHits: number,
  ): Promise<'stored' | 'stale' | 'failed'> {
    const text = replay.toString('utf8');
    const known = knownBodies.get(text) ?? parseBody(text, replay.length);
    if (known === 'bypass' || known instanceof SyntaxError || known.sharedKey !== key) {
      return 'failed';
    }
    const prepared = known.info.prepared!;
    const { result } = fills.run(key, () =>
      fill(REFRESH_HEAD, replay, key, emptyContext(prepared), replay, carriedHits),
    );
    try {
      const { cached } = await result;
      return cached === 'stored' || cached === 'stale' ? cached : 'failed';
    } catch (error) {
      log.warn({ err: error }, 'refresh failed; the next read of the result fills it');
      return 'failed';
    }
  }

  const refresher = new Refresher(
    deps.refresh ?? { minHits: 0, concurrency: 1, maxQueued: 0 },
    refresh,
    (key) => store.has(key) || fills.has(key),
    (outcome, key) => deps.onRefresh?.(outcome, key),
  );
  if (refresher.enabled) store.on('cache:evicted', (event) => refresher.offer(event));

  async function graphqlPost(req: IncomingMessage, res: ServerResponse) {
    let body: Buffer;
    try {
      body = await readBody(req);
    } catch (error) {
      if (!(error instanceof BodyTooLarge)) throw error;
      metrics.request('bypass');
      const payload = graphqlError(error.message, 'PAYLOAD_TOO_LARGE');
      res.writeHead(413, {
        'content-type': JSON_TYPE,
        'content-length': String(payload.length),
        'x-cache': 'bypass',
        connection: 'close',
      });
      res.end(payload);
      req.resume();
      return;
    }

    const text = body.toString('utf8');
    const known = knownBodies.get(text) ?? parseBody(text, body.length);
    if (known === 'bypass') return bypass(req, res, body);
    if (known instanceof SyntaxError) {
      metrics.request('bypass');
      const reason = known.message.slice(0, 200);
      return sendBytes(
        req,
        res,
        {
          status: 400,
          body: graphqlError(`request body is not valid JSON: ${reason}`, 'BAD_REQUEST'),
          contentType: JSON_TYPE,
        },
        'bypass',
      );
    }
    const { params, info } = known;

    const scope = deps.module.scope
      ? deps.module.scope({
          headers: req.headers,
          document: info.document,
          operationName: params.operationName,
        })
      : null;
    const key =
      scope === null
        ? known.sharedKey
        : cacheKey(scope, params.operationName, params.variables, params.query);
    const lookup = tracing?.enabled
      ? tracing.tracer.startSpan('pgcascade.cache.lookup')
      : undefined;
    const entry = store.get(key);
    lookup?.setAttribute('pgcascade.hit', Boolean(entry));
    lookup?.end();
    if (entry) {
      metrics.request('hit');
      sendBytes(
        req,
        res,
        { status: 200, body: entry.body, contentType: JSON_TYPE, etag: entry.etag },
        'hit',
      );
      return;
    }

    metrics.request('miss');
    const prepared = info.prepared!;
    const replay = scope === null && refresher.enabled ? body : undefined;
    const { result, coalesced } = fills.run(key, () =>
      fill(req, body, key, emptyContext(prepared), replay),
    );
    if (coalesced) metrics.coalesced();
    sendBytes(req, res, await result, 'miss');
  }

  async function route(req: IncomingMessage, res: ServerResponse) {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (path === '/graphql') {
      if (req.method === 'POST' && /json/i.test(req.headers['content-type'] ?? '')) {
        return graphqlPost(req, res);
      }
      return bypass(req, res, req.method === 'POST' ? await readBody(req) : undefined);
    }
    const handler = deps.routes[path];
    if (handler) return handler(req, res);
    const payload = Buffer.from(JSON.stringify({ error: `no route ${path}` }));
    res.writeHead(404, { 'content-type': JSON_TYPE, 'content-length': String(payload.length) });
    res.end(payload);
  }

  const traced = (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!tracing?.enabled) return route(req, res);
    const span = tracing.tracer.startSpan(`${req.method} ${(req.url ?? '/').split('?', 1)[0]}`);
    // The request's span is the parent of the lookup and fill spans started inside it.
    return context.with(trace.setSpan(context.active(), span), () =>
      inSpan(span, async () => {
        await route(req, res);
        span.setAttribute('http.response.status_code', res.statusCode);
        const cache = (res as TracedResponse)[CACHE_RESULT];
        if (cache) span.setAttribute('pgcascade.cache', cache);
      }),
    );
  };

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    traced(req, res).catch((error) => {
      log.error({ err: error, url: req.url }, 'request handling failed');
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = error instanceof BodyTooLarge ? 413 : 500;
      const payload = graphqlError(
        status === 413 ? error.message : 'Unexpected error.',
        status === 413 ? 'PAYLOAD_TOO_LARGE' : 'INTERNAL_SERVER_ERROR',
      );
      res.writeHead(status, {
        'content-type': JSON_TYPE,
        'content-length': String(payload.length),
        'x-cache': 'bypass',
      });
      res.end(payload);
    });
  };
  return {
    handle,
    inflightFills: () => executing,
    sealFills: () => fills.seal(),
    /** Stops refresh-ahead; resolves once no refresh runs, so the pool can close. */
    stopRefreshing: () => refresher.stop(),
  };
}
