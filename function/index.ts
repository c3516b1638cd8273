/**
 * The platform's function, served by faas-js-runtime. One image, two roles: the builder
 * routes build.start, build.cancel and service.delete to the pipeline; the job-watcher
 * turns ApiServerSource events about build Jobs and Knative Services into the same
 * reconcile steps the embedded platform runs. Both answer with the status code the
 * broker's retry contract expects.
 */
import { performance } from 'node:perf_hooks';
import { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';
import { replyOf } from '../lib/adapters/events/http-sink.ts';
import { isApiServerEvent } from '../lib/events/apiserver.ts';
import { toEnvelope, type EventEnvelope } from '../lib/events/envelope.ts';
import { asPlatformError, permanent, transient } from '../lib/errors.ts';
import type { PipelineDeps } from '../lib/pipeline/deps.ts';
import { dispatch } from '../lib/pipeline/dispatch.ts';
import { ObjectReconciler, resync } from '../lib/pipeline/resync.ts';
import { decideWatchEvent, RecentKeys } from '../lib/pipeline/watch-event.ts';
import { eventKindLabel } from '../lib/observability/labels.ts';
import { withLogContext } from '../lib/observability/log-context.ts';
import { metrics } from '../lib/observability/metrics.ts';
import { currentTraceparent, exemplarLabels, inSpan, SpanKind, SpanStatusCode } from '../lib/observability/tracing.ts';
import { createFunctionContext, SINK_MISSING, SINK_MISSING_MESSAGE, type FunctionContext } from './builder-deps.ts';

let context: Promise<FunctionContext> | undefined;
const shutdownHooks: Array<() => Promise<void>> = [];
const recentWatchEvents = new RecentKeys();
/** Shared by watch events and resyncs, so that the two take turns on each object. */
const reconciler = new ObjectReconciler();

/** The embedded platform hands its own backend in; anywhere else it is built from the environment. */
export function useBackend(deps: PipelineDeps): void {
  context = Promise.resolve({ deps, role: 'builder' });
}

function functionContext(): Promise<FunctionContext> {
  context ??= createFunctionContext().then((created) => {
    if (created.shutdown) onShutdown(created.shutdown);
    return created;
  });
  return context;
}

/**
 * The job-watcher's resync: a pass at start, then one every interval after the previous
 * pass ended, so that passes never overlap. Returns what stops it.
 */
function startResync(ctx: FunctionContext, intervalSeconds: number): () => Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  let stopped = false;
  let pass = Promise.resolve();
  const run = (): void => {
    pass = resync(ctx.deps, reconciler).then((report) => {
      ctx.deps.log[report.due || report.failures ? 'info' : 'debug'](report, 'resync done');
      if (!stopped && intervalSeconds > 0) timer = setTimeout(run, intervalSeconds * 1000).unref();
    });
  };
  run();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await pass;
  };
}

export async function init(): Promise<void> {
  const ctx = await functionContext();
  // Without a sink a pass could only fail its announcements; the revision with K_SINK resyncs.
  if (ctx.resyncIntervalSeconds !== undefined && !ctx.awaitingSink) onShutdown(startResync(ctx, ctx.resyncIntervalSeconds));
}

interface HttpReply {
  statusCode: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

function jsonReply(statusCode: number, body: Record<string, unknown>): HttpReply {
  return { statusCode, headers: { 'content-type': 'application/json' }, body };
}

async function watch(ctx: FunctionContext, envelope: EventEnvelope): Promise<HttpReply> {
  if (ctx.role === 'builder' || !ctx.watchNamespace) {
    throw permanent('WrongRole', 'This instance does not watch Kubernetes objects (KL_ROLE and the backend decide)', [], 400);
  }
  // Refused before anything is reconciled: the object is left as it was, for the delivery that comes again.
  if (ctx.awaitingSink) throw transient(SINK_MISSING, SINK_MISSING_MESSAGE);
  const decision = decideWatchEvent(envelope, ctx.watchNamespace);
  if (decision.action === 'ignore') return jsonReply(200, { ignored: decision.why });
  if (!recentWatchEvents.add(decision.dedupeKey)) {
    metrics.duplicateEvents.inc({ source: 'watch' });
    return jsonReply(200, { duplicate: decision.dedupeKey });
  }
  try {
    await reconciler.reconcile(ctx.deps, decision);
  } catch (error) {
    recentWatchEvents.forget(decision.dedupeKey);
    throw error;
  }
  return jsonReply(200, { reconciled: decision.target, name: decision.name });
}

/**
 * The broker's dead-letter sink: an event no retry could deliver. It is logged with the
 * cause Knative attached, and acknowledged so the broker lets it go.
 */
function deadLetter(ctx: FunctionContext, envelope: EventEnvelope): HttpReply {
  ctx.deps.log.error({ source: envelope.source, subject: envelope.subject, deadLetter: envelope.deadLetter }, 'event dead-lettered by the broker');
  return jsonReply(200, { deadLettered: envelope.id });
}

async function build(ctx: FunctionContext, envelope: EventEnvelope): Promise<unknown> {
  if (ctx.role === 'job-watcher') throw permanent('WrongRole', `This instance is a job-watcher and does not handle ${envelope.type}`, [], 400);
  const reply = await dispatch(ctx.deps, envelope);
  if (!('event' in reply)) return jsonReply(200, reply.body);
  metrics.eventsEmitted.inc({ type: eventKindLabel(ctx.deps.settings.events.prefix, reply.event.type), outcome: 'success' });
  return replyOf({ ...reply.event, traceparent: currentTraceparent() ?? reply.event.traceparent });
}

function handlerOf(ctx: FunctionContext, envelope: EventEnvelope): 'builder' | 'job-watcher' | 'dead-letter' {
  if (envelope.deadLetter && ctx.role !== 'builder') return 'dead-letter';
  return isApiServerEvent(envelope.type) ? 'job-watcher' : 'builder';
}

async function route(ctx: FunctionContext, envelope: EventEnvelope, handler: ReturnType<typeof handlerOf>): Promise<unknown> {
  try {
    if (handler === 'dead-letter') return deadLetter(ctx, envelope);
    return await (handler === 'job-watcher' ? watch(ctx, envelope) : build(ctx, envelope));
  } catch (error) {
    const failure = asPlatformError(error);
    const log = failure.category === 'permanent' ? ctx.deps.log.warn.bind(ctx.deps.log) : ctx.deps.log.error.bind(ctx.deps.log);
    log({ err: failure, reason: failure.reason, category: failure.category }, failure.message);
    return jsonReply(failure.statusCode, { error: failure.reason, message: failure.message, details: failure.details });
  }
}

/** The status code and size of what faas-js-runtime will send for a reply. */
function replyFacts(reply: unknown): { code: number; bytes: number } {
  if (reply instanceof CloudEvent) return { code: 200, bytes: Buffer.byteLength(JSON.stringify(reply.data ?? '')) };
  const { statusCode = 200, body } = (reply ?? {}) as { statusCode?: number; body?: unknown };
  return { code: statusCode, bytes: Buffer.byteLength(typeof body === 'string' ? body : JSON.stringify(body ?? '')) };
}

export async function handle(invocation: Context, event?: unknown): Promise<unknown> {
  if (!invocation.cloudevent || !event || typeof event !== 'object') {
    return jsonReply(400, { error: 'NotACloudEvent', message: 'This function accepts CloudEvents only (binary or structured content mode)', details: [] });
  }
  const started = performance.now();
  const ctx = await functionContext();
  const envelope = toEnvelope(event as Record<string, unknown>);
  const handler = handlerOf(ctx, envelope);
  const type = eventKindLabel(ctx.deps.settings.events.prefix, envelope.type);
  const attributes = { 'messaging.system': 'knative', 'messaging.operation.type': 'process', 'cloudevents.event_id': envelope.id, 'cloudevents.event_type': envelope.type, 'cloudevents.event_source': envelope.source, 'cloudevents.event_subject': envelope.subject ?? '' };
  return withLogContext({ correlation_id: envelope.correlationid, event_id: envelope.id, event_type: envelope.type }, () =>
    inSpan(`process ${envelope.type}`, { kind: SpanKind.CONSUMER, parentTraceparent: envelope.traceparent, attributes }, async (span) => {
      const reply = await route(ctx, envelope, handler);
      const { code, bytes } = replyFacts(reply);
      span.setAttribute('http.response.status_code', code);
      if (code >= 500 || code === 429) span.setStatus({ code: SpanStatusCode.ERROR });
      const exemplar = exemplarLabels();
      metrics.cloudEventsReceived.inc({ type, handler, code: String(code) });
      metrics.cloudEventHandlingDuration.observe({ labels: { type, handler, code: String(code) }, value: (performance.now() - started) / 1000, exemplarLabels: exemplar } as never);
      metrics.cloudEventRequestSize.observe({ labels: { type, handler }, value: Number(invocation.headers['content-length'] ?? 0), exemplarLabels: exemplar } as never);
      metrics.cloudEventResponseSize.observe({ labels: { type, handler }, value: bytes, exemplarLabels: exemplar } as never);
      if (handler === 'dead-letter') metrics.deadLetteredEvents.inc({ type });
      return reply;
    }),
  );
}

/** Whoever hosts the function (the embedded platform) registers what must stop with it. */
export function onShutdown(hook: () => Promise<void>): void {
  shutdownHooks.push(hook);
}

/** faas-js-runtime calls this on SIGTERM and SIGINT before the process exits. */
export async function shutdown(): Promise<void> {
  await Promise.allSettled(shutdownHooks.map((hook) => hook()));
}

export function liveness(): string {
  return 'OK';
}

/** The part of faas-js-runtime's reply (fastify's) a health check sets. */
interface ProbeReply {
  code(statusCode: number): unknown;
}

/** Not ready while a job-watcher waits for K_SINK, so that Knative routes it no event. */
export async function readiness(_request: unknown, reply: ProbeReply): Promise<string> {
  const ctx = await functionContext();
  if (!ctx.awaitingSink) return 'OK';
  reply.code(503);
  return SINK_MISSING_MESSAGE;
}
