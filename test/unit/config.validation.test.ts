import { ConfigError, loadConfig } from '../../src/config';

function errorOf(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('uses the documented defaults when nothing is set', () => {
    const config = loadConfig({}, {});
    expect(config).toMatchObject({
      databaseUrl: undefined,
      port: 4000,
      host: '127.0.0.1',
      cacheMaxBytes: 268435456,
      cacheTtlSeconds: 86400,
      reconcileIntervalMs: 1000,
      logLevel: 'info',
      poolMax: 10,
      refreshMinHits: 1,
    });
    expect(config.instanceId).toBe(`${require('node:os').hostname()}-${process.pid}`);
  });

  it('rejects PORT=abc with one line naming the variable and what it expected', () => {
    const error = errorOf(() => loadConfig({ PORT: 'abc' }));
    expect(error).toBeInstanceOf(ConfigError);
    expect(error.message).toBe('PORT="abc" is invalid: expected an integer from 0 to 65535');
    expect(error.message).not.toContain('\n');
  });

  it('rejects a DATABASE_URL that is not a postgres URL', () => {
    expect(errorOf(() => loadConfig({ DATABASE_URL: 'mysql://x/y' })).variable).toBe(
      'DATABASE_URL',
    );
    expect(errorOf(() => loadConfig({ DATABASE_URL: 'not a url' })).message).toContain(
      'expected postgres://',
    );
  });

  it('rejects an unknown PGCASCADE_ variable so that typos are not silently ignored', () => {
    const error = errorOf(() => loadConfig({ PGCASCADE_CACHE_MAX_BYTE: '10' }));
    expect(error.variable).toBe('PGCASCADE_CACHE_MAX_BYTE');
    expect(error.message).toContain('PGCASCADE_CACHE_MAX_BYTES');
  });

  it('rejects negative and fractional numbers and unknown log levels', () => {
    expect(errorOf(() => loadConfig({ PGCASCADE_CACHE_TTL_SECONDS: '-1' })).variable).toBe(
      'PGCASCADE_CACHE_TTL_SECONDS',
    );
    expect(errorOf(() => loadConfig({ PGCASCADE_RECONCILE_INTERVAL_MS: '1.5' })).variable).toBe(
      'PGCASCADE_RECONCILE_INTERVAL_MS',
    );
    expect(errorOf(() => loadConfig({ LOG_LEVEL: 'loud' })).message).toContain('expected one of');
    expect(errorOf(() => loadConfig({ PGCASCADE_REFRESH_MIN_HITS: '-1' })).message).toBe(
      'PGCASCADE_REFRESH_MIN_HITS="-1" is invalid: expected an integer from 0 to 1000000',
    );
    expect(loadConfig({ PGCASCADE_REFRESH_MIN_HITS: '0' }).refreshMinHits).toBe(0);
  });

  it('lets flags override the environment and rejects unknown flags', () => {
    expect(loadConfig({ PORT: '5000' }, { port: '6000' }).port).toBe(6000);
    expect(loadConfig({}, { 'cache-max-bytes': '4096' }).cacheMaxBytes).toBe(4096);
    expect(errorOf(() => loadConfig({}, { prot: '1' })).message).toBe('--prot is not a known flag');
  });
});
