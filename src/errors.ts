/**
 * The error type of the service: a stable `code` and the cause it wraps. Anything that
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
