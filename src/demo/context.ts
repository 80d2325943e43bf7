/**
 * The per-request context of the demo schema: the pool, the request's headers and fresh
 * loaders. Built only on a cache miss; building it touches no database.
 */
import type { RequestHeaders } from '../graphql/schema-module';
import { createLoaders, type DemoLoaders, type Queryable } from './loaders';

/** What every demo resolver receives as its context. */
export interface DemoContext {
  /** Where reads and mutation functions run. */
  pool: Queryable;
  /** The HTTP request's headers, lower-cased; `authorization` names the viewer. */
  headers: RequestHeaders;
  /** This request's own loaders. */
  loaders: DemoLoaders;
}

/** Builds the context of one request. */
export function createDemoContext(args: { pool: Queryable; headers: RequestHeaders }): DemoContext {
  return { pool: args.pool, headers: args.headers, loaders: createLoaders(args.pool) };
}
