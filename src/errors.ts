/**
 * Errors with a stable `code`, and the SQLSTATEs the service reacts to. Anything that
 * reaches a GraphQL client is masked in src/graphql/mask-error.ts.
 */

/** An error of the service with a stable, documented code and the cause it wraps. */
export class PgcascadeError extends Error {
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PgcascadeError';
  }
}

/** SQLSTATEs that pgcascade handles by name. */
export const SqlState = {
  uniqueViolation: '23505',
  foreignKeyViolation: '23503',
  invalidParameterValue: '22023',
  adminShutdown: '57P01',
  queryCanceled: '57014',
  lockNotAvailable: '55P03',
} as const;

/** The SQLSTATE of a node-postgres error, if it has one. */
export function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}
