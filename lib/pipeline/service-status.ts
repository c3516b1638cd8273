import { outgoingEvent } from '../events/outgoing.ts';
import { EventKind, type EmittedKind } from '../events/types.ts';
import type { ServiceRecord } from '../ports/deployer.ts';
import { announcementId, type Announcement } from './build-outcome.ts';
import { withLogContext } from '../observability/log-context.ts';
import { metrics } from '../observability/metrics.ts';
import { exemplarLabels, inSpan } from '../observability/tracing.ts';
import type { PipelineDeps } from './deps.ts';

/** Ready and failed are announced once per revision; the key records which one was. */
export function announcementKey(service: ServiceRecord): string {
  return `${service.revision}:${service.status.phase}`;
}

/** Pure and level-triggered: what to announce about a service in its current state. */
export function decideServiceStatus(service: ServiceRecord): Announcement | undefined {
  const { spec, status } = service;
  if (status.phase === 'Deploying' || status.announcedRevision === announcementKey(service)) return undefined;
  const base = {
    third_party_id: spec.identity.thirdPartyId,
    parser_id: spec.identity.parserId,
    correlation_id: spec.correlation.correlationId,
    function_name: spec.name,
    revision: service.revision,
  };
  // One revision, phase and request: a redeploy of the same revision by a new build.start is news.
  const id = (kind: EmittedKind) => announcementId(kind, [spec.name, announcementKey(service), spec.requestedAt]);
  if (status.phase === 'Ready') {
    return { id: id(EventKind.ServiceReady), kind: EventKind.ServiceReady, data: { ...base, url: status.url ?? '', build_id: spec.buildName }, correlation: spec.correlation };
  }
  return {
    id: id(EventKind.ServiceFailed),
    kind: EventKind.ServiceFailed,
    data: { ...base, reason: status.reason ?? 'Unknown', message: status.message ?? 'The service is not ready', log_tail: status.logTail ?? '' },
    correlation: spec.correlation,
  };
}

function recordAnnouncement(service: ServiceRecord, announcement: Announcement): void {
  if (announcement.kind === EventKind.ServiceReady) {
    const seconds = (Date.now() - Date.parse(service.spec.requestedAt)) / 1000;
    if (Number.isFinite(seconds) && seconds >= 0) metrics.deployDuration.observe({ labels: { runtime: service.spec.runtime }, value: seconds, exemplarLabels: exemplarLabels() } as never);
  } else {
    metrics.servicesFailed.inc({ reason: service.status.reason ?? 'Unknown' });
  }
}

/** Runs in the trace of the build.start that led to this revision (its traceparent is in the spec). */
export async function reconcileService(deps: PipelineDeps, name: string): Promise<void> {
  const service = await deps.deployer.get(name);
  if (!service) return;
  const announcement = decideServiceStatus(service);
  if (!announcement) return;
  const { spec } = service;
  await withLogContext({ correlation_id: spec.correlation.correlationId, function_name: name, third_party_id: spec.identity.thirdPartyId, parser_id: spec.identity.parserId }, () =>
    inSpan('reconcile service', { parentTraceparent: spec.correlation.traceparent, attributes: { 'knative_lambda.function': name, 'knative_lambda.revision': service.revision } }, async () => {
      await deps.sink.emit(outgoingEvent(deps.settings.events, announcement.kind, announcement.data, announcement.correlation, { id: announcement.id }));
      await deps.deployer.markAnnounced(name, announcementKey(service));
      recordAnnouncement(service, announcement);
      deps.log.info({ revision: service.revision, event: announcement.kind }, 'service status announced');
    }),
  );
}
