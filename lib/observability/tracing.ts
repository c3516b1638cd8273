import { context, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace, TraceFlags, type Attributes, type Context, type Span, type SpanContext } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

export const TRACER_NAME = 'knative-lambda';
const tracer = () => trace.getTracer(TRACER_NAME);

/** True when the standard OTEL_* variables ask for traces to be exported. */
export function tracingRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if (env.OTEL_SDK_DISABLED === 'true') return false;
  const exporter = env.OTEL_TRACES_EXPORTER;
  if (exporter !== undefined) return exporter !== 'none';
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

let started: Promise<{ shutdown(): Promise<void> }> | undefined;

/**
 * Starts the OpenTelemetry SDK (configured by the standard OTEL_* variables) when tracing
 * is asked for; otherwise only a context manager, so trace ids taken from incoming events
 * still reach logs, exemplars and emitted events. Off costs nothing: the SDK is not loaded.
 */
export function startTracing(serviceName: string, env: NodeJS.ProcessEnv = process.env): Promise<{ shutdown(): Promise<void> }> {
  started ??= (async () => {
    if (!tracingRequested(env)) {
      context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
      return { shutdown: async () => undefined };
    }
    const { NodeSDK } = await import('@opentelemetry/sdk-node');
    const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME ?? serviceName, instrumentations: [] });
    sdk.start();
    return { shutdown: () => sdk.shutdown() };
  })();
  return started;
}

const TRACEPARENT = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

export function spanContextFromTraceparent(traceparent: string | undefined): SpanContext | undefined {
  const match = traceparent ? TRACEPARENT.exec(traceparent) : null;
  if (!match) return undefined;
  const [, , traceId = '', spanId = '', flags = '00'] = match;
  if (/^0+$/.test(traceId) || /^0+$/.test(spanId)) return undefined;
  return { traceId, spanId, traceFlags: parseInt(flags, 16), isRemote: true };
}

export function traceparentOf(spanContext: SpanContext): string {
  return `00-${spanContext.traceId}-${spanContext.spanId}-${(spanContext.traceFlags & TraceFlags.SAMPLED ? 1 : 0).toString(16).padStart(2, '0')}`;
}

/** The context a remote parent (a `traceparent` from an event or an annotation) makes. */
export function contextFromTraceparent(traceparent: string | undefined): Context {
  const parent = spanContextFromTraceparent(traceparent);
  return parent ? trace.setSpanContext(ROOT_CONTEXT, parent) : ROOT_CONTEXT;
}

/** The active trace as a `traceparent`, for events emitted now; undefined outside any trace. */
export function currentTraceparent(): string | undefined {
  const spanContext = trace.getActiveSpan()?.spanContext();
  return spanContext && trace.isSpanContextValid(spanContext) ? traceparentOf(spanContext) : undefined;
}

export function currentTraceIds(): { trace_id?: string; span_id?: string } {
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (!spanContext || !trace.isSpanContextValid(spanContext)) return {};
  return { trace_id: spanContext.traceId, span_id: spanContext.spanId };
}

/** Exemplar labels of the active trace, or none. */
export function exemplarLabels(): Record<string, string> {
  const { trace_id } = currentTraceIds();
  return trace_id ? { trace_id } : {};
}

export interface SpanOptions {
  kind?: SpanKind;
  attributes?: Attributes;
  /** Start a new trace under this remote parent instead of the active context. */
  parentTraceparent?: string | undefined;
}

/** Runs `work` inside a span; a thrown error marks the span and is rethrown. */
export async function inSpan<T>(name: string, options: SpanOptions, work: (span: Span) => Promise<T>): Promise<T> {
  const parent = options.parentTraceparent !== undefined ? contextFromTraceparent(options.parentTraceparent) : context.active();
  return tracer().startActiveSpan(name, { kind: options.kind ?? SpanKind.INTERNAL, attributes: options.attributes }, parent, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}

export { SpanKind, SpanStatusCode };
