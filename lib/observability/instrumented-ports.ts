import { performance } from 'node:perf_hooks';
import type { Attributes } from '@opentelemetry/api';
import { PlatformError } from '../errors.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import type { BuildExecutor } from '../ports/build-executor.ts';
import type { Deployer } from '../ports/deployer.ts';
import type { EventSink } from '../ports/event-sink.ts';
import type { SourceStore } from '../ports/source-store.ts';
import { eventKindLabel } from './labels.ts';
import { metrics } from './metrics.ts';
import { currentTraceparent, exemplarLabels, inSpan, SpanKind } from './tracing.ts';

/**
 * Decorators that give every port call a CLIENT span, a duration and an outcome, without
 * the adapters knowing. An answer that refuses the request for a permanent reason (a
 * missing object, say) is the dependency working: it counts as a success.
 */
async function measured<T>(
  dependency: string,
  operation: string,
  attributes: Attributes,
  work: () => Promise<T>,
  span: { name: string; kind: SpanKind } = { name: `${dependency} ${operation}`, kind: SpanKind.CLIENT },
): Promise<T> {
  return inSpan(span.name, { kind: span.kind, attributes: { 'knative_lambda.dependency': dependency, 'knative_lambda.operation': operation, ...attributes } }, async () => {
    const start = performance.now();
    let outcome = 'success';
    try {
      return await work();
    } catch (error) {
      if (!(error instanceof PlatformError && error.category === 'permanent')) outcome = 'error';
      throw error;
    } finally {
      metrics.dependencyRequests.inc({ dependency, operation, outcome });
      metrics.dependencyRequestDuration.observe({ labels: { dependency, operation }, value: (performance.now() - start) / 1000, exemplarLabels: exemplarLabels() } as never);
    }
  });
}

export function instrumentStore(store: SourceStore, dependency = 'store'): SourceStore {
  const at = (key: string): Attributes => ({ 'knative_lambda.store.location': store.location, 'knative_lambda.store.key': key });
  return {
    location: store.location,
    get: (key, options) => measured(dependency, 'get', at(key), () => store.get(key, options)),
    put: (key, body, options) => measured(dependency, 'put', { ...at(key), 'knative_lambda.store.size': body.length }, () => store.put(key, body, options)),
    exists: (key) => measured(dependency, 'exists', at(key), () => store.exists(key)),
    delete: (key) => measured(dependency, 'delete', at(key), () => store.delete(key)),
    url: (key) => store.url(key),
  };
}

export function instrumentExecutor(executor: BuildExecutor, dependency: string): BuildExecutor {
  const build = (name: string): Attributes => ({ 'knative_lambda.build': name });
  return {
    create: (request) => measured(dependency, 'job.create', build(request.name), () => executor.create(request)),
    get: (name) => measured(dependency, 'job.get', build(name), () => executor.get(name)),
    listForFunction: (fn) => measured(dependency, 'job.list', { 'knative_lambda.function': fn }, () => executor.listForFunction(fn)),
    list: () => measured(dependency, 'job.list', {}, () => executor.list()),
    listActive: () => measured(dependency, 'job.list', {}, () => executor.listActive()),
    cancel: (name) => measured(dependency, 'job.cancel', build(name), () => executor.cancel(name)),
    delete: (name) => measured(dependency, 'job.delete', build(name), () => executor.delete(name)),
    markAnnounced: (name) => measured(dependency, 'job.annotate', build(name), () => executor.markAnnounced(name)),
  };
}

export function instrumentDeployer(deployer: Deployer, dependency: string): Deployer {
  const fn = (name: string): Attributes => ({ 'knative_lambda.function': name });
  return {
    apply: (spec) => measured(dependency, 'service.apply', fn(spec.name), () => deployer.apply(spec)),
    get: (name) => measured(dependency, 'service.get', fn(name), () => deployer.get(name)),
    list: () => measured(dependency, 'service.list', {}, () => deployer.list()),
    delete: (name) => measured(dependency, 'service.delete', fn(name), () => deployer.delete(name)),
    markAnnounced: (name, announcement) => measured(dependency, 'service.annotate', fn(name), () => deployer.markAnnounced(name, announcement)),
  };
}

/** Emitted events continue the trace: they carry the context of the span that sent them. */
export function instrumentSink(sink: EventSink, prefix: string): EventSink {
  return {
    async emit(event: EventEnvelope) {
      const type = eventKindLabel(prefix, event.type);
      const attributes = { 'messaging.system': 'knative', 'messaging.operation.type': 'send', 'cloudevents.event_id': event.id, 'cloudevents.event_type': event.type, 'cloudevents.event_subject': event.subject ?? '' };
      try {
        await measured('broker', 'emit', attributes, () => sink.emit({ ...event, traceparent: currentTraceparent() ?? event.traceparent }), { name: `send ${event.type}`, kind: SpanKind.PRODUCER });
        metrics.eventsEmitted.inc({ type, outcome: 'success' });
      } catch (error) {
        metrics.eventsEmitted.inc({ type, outcome: 'error' });
        throw error;
      }
    },
  };
}
