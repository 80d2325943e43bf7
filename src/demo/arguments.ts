/**
 * Parses the id and `first` arguments of the demo schema. A malformed value becomes a
 * GraphQLError with code BAD_USER_INPUT, which reaches the client unmasked; the caller
 * decides whether to throw it (queries) or report it as a status (mutations).
 */
import { GraphQLError } from 'graphql';

const MAX_BIGINT = 9223372036854775807n;

/** Most rows one list field returns. */
export const MAX_FIRST = 100;

/**
 * The canonical decimal text of a bigint id (`'007'` → `'7'`), or null when `raw` is not
 * a whole number from 0 to 2^63-1. Canonical text matters: list tags and loader keys are
 * compared as strings with what PostgreSQL prints.
 */
export function canonicalId(raw: unknown): string | null {
  if (typeof raw !== 'string' && typeof raw !== 'number') return null;
  const text = String(raw);
  if (!/^\d{1,19}$/.test(text)) return null;
  const value = BigInt(text);
  return value <= MAX_BIGINT ? value.toString() : null;
}

/** The error for an id argument that cannot name a row. */
export function badIdError(argument: string, raw: unknown): GraphQLError {
  return new GraphQLError(
    `${argument} must be a whole number from 0 to ${MAX_BIGINT}, got ${JSON.stringify(raw)}`,
    { extensions: { code: 'BAD_USER_INPUT', argument } },
  );
}

/** The canonical id in `raw`; throws {@link badIdError} when it is malformed. */
export function requireId(raw: unknown, argument: string): string {
  const id = canonicalId(raw);
  if (id === null) throw badIdError(argument, raw);
  return id;
}

/** The `first` argument when it is 1 to {@link MAX_FIRST}; else throws BAD_USER_INPUT. */
export function requireFirst(first: unknown): number {
  if (typeof first === 'number' && Number.isInteger(first) && first >= 1 && first <= MAX_FIRST) {
    return first;
  }
  throw new GraphQLError(`first must be from 1 to ${MAX_FIRST}, got ${JSON.stringify(first)}`, {
    extensions: { code: 'BAD_USER_INPUT', argument: 'first' },
  });
}
