/**
 * The shape of a schema module: what `pgcascade serve --schema ./module.js` loads and
 * what the demo exports. Only `typeDefs`+`resolvers` or `schema` is required; the rest
 * tunes caching. A module that fails to load stops start-up with its path and cause.
 */
import path from 'node:path';
import type { DocumentNode, GraphQLSchema } from 'graphql';
import type pg from 'pg';
import { PgcascadeError } from '../errors';

/** Headers of the HTTP request being served, lower-cased as Node gives them. */
export type RequestHeaders = Record<string, string | string[] | undefined>;

/** Arguments of a list-tag function: the field's arguments and its parent's id. */
export type ListTagFunction = (args: Record<string, unknown>, parent: { id?: string }) => string[];

/** A GraphQL schema served by pgcascade, with hints for its cache. */
export interface SchemaModule {
  /** SDL of the schema (with `resolvers`), or give `schema` instead. */
  typeDefs?: string | DocumentNode;
  /** Resolver map in the graphql-tools shape: `{ Query: { field(parent, args, ctx) {} } }`. */
  resolvers?: Record<string, unknown>;
  /** A ready executable schema; wins over typeDefs/resolvers. */
  schema?: GraphQLSchema;
  /**
   * Builds the per-request context passed to resolvers. Default: `{ pool, headers }`.
   * Runs only on a cache miss.
   */
  context?(args: { pool: pg.Pool; headers: RequestHeaders }): object | Promise<object>;
  /**
   * The cache scope of an operation: `null` (default) shares the result between all
   * requests; a string keeps it private to requests with the same scope (for example the
   * caller's user id). Called for every cacheable request, so keep it cheap.
   */
  scope?(args: {
    headers: RequestHeaders;
    document: DocumentNode;
    operationName?: string | null;
  }): string | null;
  /**
   * Tags of the lists a field returns, keyed `Type.field`, in the capture vocabulary
   * (`Post[author_id=5]`). A list field without an entry depends on `T[]`, which any
   * insert or delete of a T invalidates.
   */
  listTags?: Record<string, ListTagFunction>;
  /** Per-type expiry overrides in seconds: a result lives as short as its shortest type. */
  ttlSeconds?: Record<string, number>;
}

type Loaded = { default?: SchemaModule } & SchemaModule;

// require() loads CommonJS (and, on Node 20.19+, most ES modules); import() covers
// the ES modules require() refuses, such as those with top-level await.
async function requireOrImport(file: string): Promise<Loaded> {
  try {
    return require(file) as Loaded;
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'ERR_REQUIRE_ESM' && code !== 'ERR_REQUIRE_ASYNC_MODULE') throw error;
    return (await import(file)) as Loaded;
  }
}

/** Loads a schema module from a file path (CommonJS or ES module; default export or named). */
export async function loadSchemaModule(file: string): Promise<SchemaModule> {
  const resolved = path.resolve(file);
  let loaded: Loaded;
  try {
    loaded = await requireOrImport(resolved);
  } catch (error) {
    throw new PgcascadeError(
      'PGCASCADE_SCHEMA_MODULE',
      `--schema ${file}: cannot load ${resolved}: ${(error as Error).message}`,
      { cause: error },
    );
  }
  const module = loaded.default && !loaded.typeDefs && !loaded.schema ? loaded.default : loaded;
  if (!module.schema && !module.typeDefs) {
    throw new PgcascadeError(
      'PGCASCADE_SCHEMA_MODULE',
      `--schema ${file}: expected an export named schema, or typeDefs with resolvers`,
    );
  }
  return module;
}
