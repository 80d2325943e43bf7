/**
 * The one place where failures become GraphQL errors for clients. Errors a resolver
 * raised on purpose (GraphQLError without an original error) pass through; anything
 * else (a database error, a bug) is logged in full and replaced by a generic message
 * with a stable code, so internals never reach a client.
 */
import { GraphQLError } from 'graphql';
import type { Logger } from '../logger';

/** The code clients see for a masked internal error. */
export const INTERNAL_ERROR_CODE = 'INTERNAL_SERVER_ERROR';

function isExpected(error: unknown): error is GraphQLError {
  if (!(error instanceof GraphQLError)) return false;
  const original = error.originalError;
  return !original || original instanceof GraphQLError;
}

/** Builds Yoga's maskError function, logging what it hides through `log`. */
export function createErrorMasker(log: Logger): (error: unknown, message: string) => Error {
  return (error, message) => {
    if (isExpected(error)) {
      return error;
    }
    const original = error instanceof GraphQLError ? (error.originalError ?? error) : error;
    log.error({ err: original, path: (error as GraphQLError).path }, 'request failed');
    return new GraphQLError(message || 'Unexpected error.', {
      nodes: (error as GraphQLError).nodes,
      path: (error as GraphQLError).path,
      extensions: { code: INTERNAL_ERROR_CODE },
    });
  };
}
