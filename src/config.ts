/**
 * Reads and validates the service's configuration from the environment and CLI flags.
 * Fails with a ConfigError whose one-line message names the variable and what it
 * expected; the CLI prints that line and exits with code 2.
 */
import os from 'node:os';

/** The validated configuration of one service instance. */
export interface Config {
  /** Primary database for reads, writes and LISTEN; undefined starts an embedded one. */
  databaseUrl: string | undefined;
  /** TCP port to serve on. Default 4000. */
  port: number;
  /** Interface to bind. Default 127.0.0.1 (compose sets 0.0.0.0). */
  host: string;
  /** Hard bound on cached response bytes. Default 268435456 (256 MiB). */
  cacheMaxBytes: number;
  /** Safety-net expiry of cached entries, in seconds; 0 disables caching. Default 86400. */
  cacheTtlSeconds: number;
  /** Period of the reconciliation loop, in milliseconds. Default 1000. */
  reconcileIntervalMs: number;
  /** This instance's row name in pgcascade.instances. Default `<hostname>-<pid>`. */
  instanceId: string;
  /** pino level. Default info. */
  logLevel: string;
  /** Audit entries older than this and applied by every live instance are pruned. Default 3600. */
  auditRetentionSeconds: number;
  /** Where the embedded PostgreSQL keeps its data. Default `.pgcascade` in the working dir. */
  dataDir: string;
  /** Connections in the service's pool (reads, writes, reconciliation). Default 10. */
  poolMax: number;
  /**
   * Refresh-ahead: a shared result invalidated after serving at least this many hits is run
   * again at once, so its next read hits. 0 turns it off. Default 1.
   */
  refreshMinHits: number;
}

/** A configuration value that start-up cannot accept; `message` is the one line to print. */
export class ConfigError extends Error {
  readonly code = 'PGCASCADE_BAD_CONFIG';
  constructor(
    readonly variable: string,
    message: string,
  ) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Parser<T> = (raw: string, name: string) => T;

interface Option<K extends keyof Config> {
  key: K;
  env: string;
  flag: string;
  parse: Parser<Config[K]>;
  fallback: () => Config[K];
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

function integer(min: number, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return (raw, name) => {
    const value = Number(raw);
    if (!/^\s*\d+\s*$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new ConfigError(
        name,
        `${name}=${JSON.stringify(raw)} is invalid: expected an integer from ${min} to ${max}`,
      );
    }
    return value;
  };
}

function text(raw: string, name: string): string {
  if (raw.trim() === '') {
    throw new ConfigError(name, `${name} is empty: expected a non-empty string`);
  }
  return raw;
}

function postgresUrl(raw: string, name: string): string {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new ConfigError(name, `${name} is invalid: expected postgres://user@host:port/database`);
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(
      name,
      `${name} has protocol ${JSON.stringify(url.protocol)}: expected postgres:// or postgresql://`,
    );
  }
  return raw;
}

function logLevel(raw: string, name: string): string {
  if (!LOG_LEVELS.includes(raw)) {
    throw new ConfigError(
      name,
      `${name}=${JSON.stringify(raw)} is invalid: expected one of ${LOG_LEVELS.join(', ')}`,
    );
  }
  return raw;
}

function option<K extends keyof Config>(
  key: K,
  env: string,
  parse: Parser<Config[K]>,
  fallback: () => Config[K],
): Option<K> {
  const flag = env
    .replace(/^PGCASCADE_/, '')
    .toLowerCase()
    .replace(/_/g, '-');
  return { key, env, flag, parse, fallback };
}

const OPTIONS = [
  option('databaseUrl', 'DATABASE_URL', postgresUrl, () => undefined),
  option('port', 'PORT', integer(0, 65535), () => 4000),
  option('host', 'HOST', text, () => '127.0.0.1'),
  option('cacheMaxBytes', 'PGCASCADE_CACHE_MAX_BYTES', integer(1024), () => 268435456),
  option('cacheTtlSeconds', 'PGCASCADE_CACHE_TTL_SECONDS', integer(0), () => 86400),
  option('reconcileIntervalMs', 'PGCASCADE_RECONCILE_INTERVAL_MS', integer(10), () => 1000),
  option('instanceId', 'PGCASCADE_INSTANCE_ID', text, () => `${os.hostname()}-${process.pid}`),
  option('logLevel', 'LOG_LEVEL', logLevel, () => 'info'),
  option('auditRetentionSeconds', 'PGCASCADE_AUDIT_RETENTION_SECONDS', integer(0), () => 3600),
  option('dataDir', 'PGCASCADE_DATA_DIR', text, () => '.pgcascade'),
  option('poolMax', 'PGCASCADE_POOL_MAX', integer(1, 1000), () => 10),
  option('refreshMinHits', 'PGCASCADE_REFRESH_MIN_HITS', integer(0, 1_000_000), () => 1),
] as const;

/** The environment variables this module reads, for help output and the README. */
export const CONFIG_VARIABLES = OPTIONS.map((o) => o.env);

/**
 * Builds the configuration from `env` and `flags` (flags win). Flags are the variable
 * names in kebab case without the `PGCASCADE_` prefix: `--port`, `--cache-max-bytes`.
 * An unknown `PGCASCADE_*` variable or flag is an error, so a typo never goes unnoticed.
 */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  flags: Record<string, string> = {},
): Config {
  const known = new Set<string>(OPTIONS.map((o) => o.env));
  for (const name of Object.keys(env)) {
    if (name.startsWith('PGCASCADE_') && !known.has(name)) {
      throw new ConfigError(
        name,
        `${name} is not a pgcascade setting: expected one of ${[...known].join(', ')}`,
      );
    }
  }
  const flagNames = new Set<string>(OPTIONS.map((o) => o.flag));
  for (const flag of Object.keys(flags)) {
    if (!flagNames.has(flag)) {
      throw new ConfigError(`--${flag}`, `--${flag} is not a known flag`);
    }
  }

  const config: Partial<Record<keyof Config, unknown>> = {};
  for (const o of OPTIONS) {
    const fromFlag = flags[o.flag];
    const raw = fromFlag ?? env[o.env];
    const name = fromFlag === undefined ? o.env : `--${o.flag}`;
    config[o.key] = raw === undefined || raw === '' ? o.fallback() : o.parse(raw, name);
  }
  return config as Config;
}
