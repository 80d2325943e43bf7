/**
 * Starts the real service in-process on a test's own database (seeded small) and a
 * free port, with helpers to query it over HTTP the way a client would.
 */
import { loadConfig, type Config } from '../../src/config';
import { seedDemo } from '../../src/demo';
import { silentLogger } from '../../src/logger';
import { startService, type Service, type ServiceOptions } from '../../src/service';
import { createTestDatabase, type TestDatabase } from './database';

export interface TestService {
  db: TestDatabase;
  service: Service;
  /** POSTs a GraphQL request; returns status, x-cache, etag and parsed body. */
  gql(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<GqlResponse>;
  stop(): Promise<void>;
}

export interface GqlResponse {
  status: number;
  cache: string | null;
  etag: string | null;
  body: { data?: any; errors?: Array<{ message: string; extensions?: any }> };
}

export async function startTestService(
  options: {
    users?: number;
    env?: Record<string, string>;
    service?: Partial<ServiceOptions>;
    db?: TestDatabase;
  } = {},
): Promise<TestService> {
  const db = options.db ?? (await createTestDatabase());
  if (!options.db)
    await seedDemo(db.pool, { users: options.users ?? 10, postsPerUser: 3, commentsPerPost: 2 });
  const config: Config = loadConfig(
    {
      DATABASE_URL: db.url,
      PORT: '0',
      PGCASCADE_RECONCILE_INTERVAL_MS: '60000',
      // Off unless a test turns it on: a background refresh would make the miss that
      // follows a write a hit, or a coalesced miss, depending on timing.
      PGCASCADE_REFRESH_MIN_HITS: '0',
      ...options.env,
    },
    {},
  );
  const service = await startService({
    config,
    log: silentLogger,
    seedDemo: false,
    ...options.service,
  });
  const gql: TestService['gql'] = async (query, variables, headers = {}) => {
    const response = await fetch(`${service.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return {
      status: response.status,
      cache: response.headers.get('x-cache'),
      etag: response.headers.get('etag'),
      body: await response.json(),
    };
  };
  return {
    db,
    service,
    gql,
    stop: async () => {
      await service.stop();
      if (!options.db) await db.drop();
    },
  };
}
