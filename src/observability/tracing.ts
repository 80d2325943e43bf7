/**
 * Optional OpenTelemetry traces: off unless the standard OTel environment asks for them
 * (OTEL_TRACES_EXPORTER other than none, or an OTLP endpoint). Spans cover a request,
 * its cache lookup and a fill's execution against the database. When off, the serving
 * path checks one boolean and creates nothing; an exporter failure never fails a request.
 */
import { trace, type Span, type Tracer } from '@opentelemetry/api';
import { NodeSDK, type tracing } from '@opentelemetry/sdk-node';
import type { Logger } from '../logger';

/** Whether the environment enables traces. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

/** Traces of one service: `enabled` is false when nothing records them. */
export interface Tracing {
  enabled: boolean;
  tracer: Tracer;
  stop(): Promise<void>;
}

/**
 * Starts the OTel SDK when requested (or when a span processor is given, for tests) and
 * returns the tracer to use; otherwise a disabled Tracing whose spans cost nothing.
 */
export function startTracing(
  log: Logger,
  spanProcessor?: tracing.SpanProcessor,
  env: NodeJS.ProcessEnv = process.env,
): Tracing {
  if (!spanProcessor && !tracingRequested(env)) {
    return { enabled: false, tracer: trace.getTracer('pgcascade'), stop: async () => undefined };
  }
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'pgcascade',
    spanProcessors: spanProcessor ? [spanProcessor] : undefined,
    instrumentations: [],
  });
  sdk.start();
  log.info('OpenTelemetry traces enabled');
  return {
    enabled: true,
    tracer: trace.getTracer('pgcascade'),
    stop: () => sdk.shutdown().catch((error) => log.warn({ err: error }, 'trace shutdown failed')),
  };
}

/** Ends `span` after `work`, recording a failure; returns what work returned. */
export async function inSpan<T>(span: Span, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (error) {
    span.recordException(error as Error);
    span.setStatus({ code: 2 });
    throw error;
  } finally {
    span.end();
  }
}
