/**
 * The GraphQL Yoga server behind the cache: it parses, validates and executes every
 * miss and every request the cache bypasses. Two plugins tie it to the cache: fills run
 * the augmented document and collect tags; mutations wait until their changes are
 * applied locally before the response goes out (read-your-writes).
 */
import { execute, getOperationAST, GraphQLError, type GraphQLSchema } from 'graphql';
import { createYoga, type Plugin, type YogaServerInstance } from 'graphql-yoga';
import type pg from 'pg';
import type { Logger } from '../logger';
import { collectAndStrip, type PreparedDocument } from '../cache/result-tags';
import { createErrorMasker } from './mask-error';
import type { RequestHeaders, SchemaModule } from './schema-module';

/** Passed by the serving path with a miss it wants to store; filled in by the plugin. */
export interface FillContext {
  prepared: PreparedDocument;
  /** Set when execution succeeded without errors, so the result may be stored. */
  ok: boolean;
  tags: string[];
  typenames: string[];
}

/** Server context given to yoga.fetch by the serving path. */
export interface ServerContext {
  fill?: FillContext;
}

/** What Yoga needs from the rest of the service. */
export interface YogaDeps {
  schema: GraphQLSchema;
  module: SchemaModule;
  pool: pg.Pool;
  /** Resolves once every change committed so far is applied to the local cache. */
  sync(): Promise<void>;
  /** Called for every operation executed (pgcascade_executions_total). */
  onExecution(): void;
  log: Logger;
}

function headersOf(request: Request): RequestHeaders {
  const headers: RequestHeaders = {};
  request.headers.forEach((value, name) => {
    headers[name] = value;
  });
  return headers;
}

function fillPlugin(deps: YogaDeps): Plugin<ServerContext> {
  return {
    onExecute({ args, setExecuteFn }) {
      const fill = (args.contextValue as ServerContext).fill;
      if (!fill) return;
      setExecuteFn(async (executionArgs) => {
        const result = await execute({ ...executionArgs, document: fill.prepared.document });
        if (result.errors?.length || !result.data) return result;
        try {
          const collected = collectAndStrip(
            deps.schema,
            fill.prepared.plan,
            result.data as Record<string, unknown>,
            executionArgs.variableValues ?? {},
            deps.module.listTags,
            executionArgs.operationName,
          );
          fill.tags = collected.tags;
          fill.typenames = collected.typenames;
          fill.ok = true;
        } catch (error) {
          // Tags that cannot be complete make the result uncacheable, not wrong: the
          // added fields are stripped already, so the client still gets its answer.
          deps.log.warn({ err: error }, 'result not cached: its tags are incomplete');
        }
        return result;
      });
    },
  };
}

/** The code of the error a mutation answers when its changes could not be confirmed. */
export const WRITE_UNCONFIRMED_CODE = 'WRITE_UNCONFIRMED';

// While the audit trail cannot be read, a mutation reads it again this often, this long.
const CONFIRM_RETRY_MS = 100;
const CONFIRM_TIMEOUT_MS = 2000;

/**
 * Waits until the mutation's changes are applied locally, reading the audit trail again
 * every 100 ms while reads fail. A database restart fails the read of a mutation that
 * committed just before it; it succeeds again within about half a second.
 */
async function confirmWrites(deps: YogaDeps): Promise<void> {
  const deadline = Date.now() + CONFIRM_TIMEOUT_MS;
  for (;;) {
    try {
      return await deps.sync();
    } catch (error) {
      if (Date.now() + CONFIRM_RETRY_MS > deadline) {
        deps.log.warn({ err: error }, 'mutation not confirmed: the audit trail cannot be read');
        throw new GraphQLError(
          'The mutation ran, but its changes could not be confirmed in the cache: the ' +
            'database cannot be read. It may have committed; read it back before retrying.',
          { extensions: { code: WRITE_UNCONFIRMED_CODE, http: { status: 503 } } },
        );
      }
      await new Promise((resolve) => setTimeout(resolve, CONFIRM_RETRY_MS));
    }
  }
}

function readYourWritesPlugin(deps: YogaDeps): Plugin {
  return {
    onExecute({ args }) {
      const operation = getOperationAST(args.document, args.operationName);
      if (operation?.operation !== 'mutation') return;
      return {
        // The mutation has committed; the response waits until its audit entries (and
        // everything committed before them) are applied to this instance's cache.
        onExecuteDone: () => confirmWrites(deps),
      };
    },
  };
}

/** Creates the Yoga instance serving `deps.schema` at /graphql. */
export function createYogaServer(deps: YogaDeps): YogaServerInstance<ServerContext, object> {
  const log = deps.log;
  return createYoga<ServerContext>({
    schema: deps.schema,
    graphqlEndpoint: '/graphql',
    // http-handler.ts reads every body itself, refusing more than 1 MiB (413) before Yoga
    // sees it. Yoga's own limit piped each body through a stream again: 3% of the
    // server's CPU under the load test, most of it an AbortError built per request.
    maxRequestBodySize: false,
    landingPage: false,
    graphiql: { title: 'pgcascade' },
    maskedErrors: { maskError: createErrorMasker(log) },
    logging: {
      debug: (...args) => log.debug({ yoga: args }, 'yoga'),
      info: (...args) => log.info({ yoga: args }, 'yoga'),
      warn: (...args) => log.warn({ yoga: args }, 'yoga'),
      error: (...args) => log.error({ yoga: args }, 'yoga'),
    },
    context: async ({ request }) => {
      const headers = headersOf(request);
      const own = deps.module.context
        ? await deps.module.context({ pool: deps.pool, headers })
        : { pool: deps.pool, headers };
      return own;
    },
    plugins: [
      { onExecute: () => deps.onExecution() },
      fillPlugin(deps),
      readYourWritesPlugin(deps),
    ],
  });
}
