// OpenTelemetry tracing, off unless the server process turns it on (`startTracing`, from
// BULKHEAD_TRACING or the standard OTEL_* variables). The tracer provider, the context manager and the
// W3C trace-context propagator are process-wide by OpenTelemetry's design, so the switch is too: while
// it is off, `traced` calls its function and nothing else, and the app adds no tracing hooks at all.
import {
  context,
  propagation,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Span,
} from '@opentelemetry/api';

/** Where spans go: an OTLP/HTTP endpoint (JSON), under a service name. */
export interface TracingSettings {
  /** The full URL spans are posted to, e.g. http://collector:4318/v1/traces. */
  readonly endpoint: string;
  readonly serviceName: string;
}

/** The running tracer: flushes what is buffered and stops. */
export interface Tracing {
  shutdown(): Promise<void>;
}

let enabled = false;

/** True while this process exports spans. */
export function tracingEnabled(): boolean {
  return enabled;
}

/**
 * Registers a tracer provider that batches spans to `settings.endpoint`, with the W3C trace-context
 * propagator and the AsyncLocalStorage context manager (NodeTracerProvider's defaults).
 *
 * @example
 * const tracing = await startTracing({ endpoint: 'http://127.0.0.1:4318/v1/traces', serviceName: 'bulkhead' });
 * await tracing.shutdown();
 */
export async function startTracing(settings: TracingSettings): Promise<Tracing> {
  // The SDK is loaded only when tracing starts: a server without tracing never loads it.
  const [{ BatchSpanProcessor, NodeTracerProvider }, { OTLPTraceExporter }, { resourceFromAttributes }] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-node'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
    ]);
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({ 'service.name': settings.serviceName }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter({ url: settings.endpoint }))],
  });
  provider.register();
  enabled = true;
  return {
    async shutdown() {
      enabled = false;
      await provider.shutdown();
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

const tracerName = 'bulkhead';

/**
 * Runs `fn` inside a span named `name` (a child of the active span), ended when `fn` settles and
 * marked as an error when it throws. With tracing off it is `fn()`.
 */
export function traced<T>(name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  if (!enabled) return fn();
  return trace.getTracer(tracerName).startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn();
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR });
      throw error;
    } finally {
      span.end();
    }
  });
}

/**
 * Starts the server span of an incoming request, continuing the trace its `traceparent` names, and
 * answers the span with the context to run the request's work in.
 */
export function startServerSpan(
  name: string,
  headers: Record<string, string | string[] | undefined>,
  attributes: Attributes,
): { span: Span; context: Context } {
  const parent = propagation.extract(context.active(), headers);
  const span = trace.getTracer(tracerName).startSpan(name, { kind: SpanKind.SERVER, attributes }, parent);
  return { span, context: trace.setSpan(parent, span) };
}

/** Runs `fn` in `ctx` (the request's work continues in it, across awaits). */
export function runInContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

/** The trace and span ids of the active span, for log lines; empty when there is none. */
export function activeTraceIds(): { trace_id?: string; span_id?: string } {
  if (!enabled) return {};
  const span = trace.getActiveSpan();
  if (span === undefined) return {};
  const { traceId, spanId } = span.spanContext();
  return { trace_id: traceId, span_id: spanId };
}

export { SpanStatusCode, type Span };
