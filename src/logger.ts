/**
 * The one pino logger of the service. Components take a child with their own
 * `component` field; nothing in src/ writes to the console directly.
 */
import pino, { type Logger } from 'pino';

export type { Logger };

/** Creates the root logger at `level` (a pino level name; default info). */
export function createLogger(level = 'info'): Logger {
  return pino({ level, base: { service: 'pgcascade' } });
}

/** A logger that discards everything, for tests and library use. */
export const silentLogger: Logger = pino({ level: 'silent' });
