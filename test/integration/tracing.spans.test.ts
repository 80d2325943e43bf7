import { tracing } from '@opentelemetry/sdk-node';
import { silentLogger } from '../../src/logger';
import { startTracing, tracingRequested } from '../../src/observability/tracing';
import { startTestService, type TestService } from '../helpers/service';

describe('traces', () => {
  it('are off unless the OTel environment asks for them', () => {
    expect(tracingRequested({})).toBe(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'none' })).toBe(false);
    expect(tracingRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(tracingRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://collector:4318' })).toBe(true);
    expect(startTracing(silentLogger, undefined, {}).enabled).toBe(false);
  });

  describe('when enabled', () => {
    const exporter = new tracing.InMemorySpanExporter();
    let t: TestService;

    beforeAll(async () => {
      t = await startTestService({
        users: 3,
        service: { spanProcessor: new tracing.SimpleSpanProcessor(exporter) },
      });
    });

    afterAll(() => t.stop());

    it('record a request with its cache lookup and, on a miss, its fill', async () => {
      exporter.reset();
      await t.gql('{ user(id: 1) { name } }');
      const miss = exporter.getFinishedSpans();
      const request = miss.find((s) => s.name === 'POST /graphql')!;
      expect(request.attributes['pgcascade.cache']).toBe('miss');
      const children = miss.filter(
        (s) => s.parentSpanContext?.spanId === request.spanContext().spanId,
      );
      expect(children.map((s) => s.name).sort()).toEqual([
        'pgcascade.cache.lookup',
        'pgcascade.fill',
      ]);

      exporter.reset();
      await t.gql('{ user(id: 1) { name } }');
      const hit = exporter.getFinishedSpans();
      expect(hit.map((s) => s.name).sort()).toEqual(['POST /graphql', 'pgcascade.cache.lookup']);
      expect(
        hit.find((s) => s.name === 'pgcascade.cache.lookup')!.attributes['pgcascade.hit'],
      ).toBe(true);
    });
  });
});
