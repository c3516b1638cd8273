import type { Correlation } from '../events/envelope.ts';
import { outgoingEvent } from '../events/outgoing.ts';
import { EventKind, type EmittedKind } from '../events/types.ts';
import { Annotations, stableHash } from '../naming.ts';
import type { BuildRecord } from '../ports/build-executor.ts';
import type { ServiceRecord, ServiceSpec } from '../ports/deployer.ts';
import type { ErrorCategory } from '../errors.ts';
import { addLogContext, withLogContext } from '../observability/log-context.ts';
import { metrics } from '../observability/metrics.ts';
import { exemplarLabels, inSpan } from '../observability/tracing.ts';
import type { PipelineDeps } from './deps.ts';
import { isLaterRequest } from './service-spec.ts';

export interface Announcement {
  /** The event id: the same for every repeat of this announcement (see announcementId). */
  id: string;
  kind: EmittedKind;
  data: { correlation_id: string; function_name: string } & Record<string, unknown>;
  correlation: Correlation;
}

export interface BuildOutcome {
  deploy?: ServiceSpec;
  announce?: Announcement;
}

const FAILURE_CATEGORY: Record<string, ErrorCategory> = {
  BuildFailed: 'permanent',
  Cancelled: 'permanent',
  DeadlineExceeded: 'transient',
  ExecutorError: 'transient',
};

function durationSeconds(build: BuildRecord): number | undefined {
  const { startTime, completionTime } = build.status;
  if (!startTime || !completionTime) return undefined;
  return Math.max(0, (Date.parse(completionTime) - Date.parse(startTime)) / 1000);
}

/**
 * The id of an announcement, derived from what it announces about which object, so that
 * an announcement sent again (its mark not yet written when the process died) is the same
 * CloudEvent, which the broker and consumers recognise (CloudEvents: source + id).
 */
export function announcementId(kind: EmittedKind, parts: readonly string[]): string {
  return `${kind}-${stableHash([kind, ...parts], 32)}`;
}

/** A build's outcome: a build of the same name made again (after a failure) is another object, with another creation time. */
function buildAnnouncementId(kind: EmittedKind, build: BuildRecord): string {
  return announcementId(kind, [build.name, build.createdAt ?? '']);
}

/**
 * Pure and level-triggered: from a build's current state (and the service's), what to
 * deploy and what to announce. A build already announced yields nothing, so replays are harmless.
 */
export function decideBuildOutcome(build: BuildRecord, service: ServiceRecord | undefined): BuildOutcome {
  const { status } = build;
  if (status.announced || (status.phase !== 'Succeeded' && status.phase !== 'Failed')) return {};
  const desired = JSON.parse(build.annotations[Annotations.ServiceSpec] ?? 'null') as Omit<ServiceSpec, 'image'> | null;
  if (!desired) return {};
  const base = {
    third_party_id: desired.identity.thirdPartyId,
    parser_id: desired.identity.parserId,
    correlation_id: desired.correlation.correlationId,
    function_name: desired.name,
    build_id: build.name,
  };
  const correlation = desired.correlation;

  if (status.phase === 'Succeeded' && status.image) {
    const superseded = service !== undefined && service.spec.buildName !== build.name && isLaterRequest(service.spec.requestedAt, desired.requestedAt);
    const data = { ...base, content_digest: build.spec.contentDigest, image: status.image, cache_hit: false, superseded, duration_seconds: durationSeconds(build) };
    return {
      deploy: superseded ? undefined : { ...desired, image: status.image },
      announce: { id: buildAnnouncementId(EventKind.BuildComplete, build), kind: EventKind.BuildComplete, data, correlation },
    };
  }
  if (status.reason === 'DeadlineExceeded') {
    return { announce: { id: buildAnnouncementId(EventKind.BuildTimeout, build), kind: EventKind.BuildTimeout, data: { ...base, timeout_seconds: build.spec.timeoutSeconds, log_tail: status.logTail ?? '' }, correlation } };
  }
  const reason = status.reason ?? 'BuildFailed';
  const data = { ...base, reason, message: status.message ?? 'The build failed', error_category: FAILURE_CATEGORY[reason] ?? 'unknown', log_tail: status.logTail ?? '' };
  return { announce: { id: buildAnnouncementId(EventKind.BuildFailed, build), kind: EventKind.BuildFailed, data, correlation } };
}

/** Counted once, when the outcome is announced; the duration comes from the build's own times. */
function recordOutcome(build: BuildRecord, announcement: Announcement): void {
  const runtime = build.spec.runtime;
  const seconds = durationSeconds(build);
  const outcome = announcement.kind === EventKind.BuildComplete ? 'succeeded' : announcement.kind === EventKind.BuildTimeout ? 'timed_out' : 'failed';
  if (outcome === 'succeeded') metrics.buildsCompleted.inc({ runtime });
  else if (outcome === 'timed_out') metrics.buildsTimedOut.inc({ runtime });
  else metrics.buildsFailed.inc({ runtime, reason: String(announcement.data.reason), category: String(announcement.data.error_category) });
  if (seconds !== undefined) metrics.buildDuration.observe({ labels: { runtime, outcome }, value: seconds, exemplarLabels: exemplarLabels() } as never);
}

/**
 * The job-watcher's step for builds: read, decide, deploy, announce, remember the
 * announcement. It runs in the trace of the build.start that asked for the build (its
 * traceparent travels in the build's annotations), so one trace spans the whole build.
 */
export async function reconcileBuild(deps: PipelineDeps, name: string): Promise<void> {
  const build = await deps.executor.get(name);
  if (!build) return;
  const traceparent = build.annotations[Annotations.TraceParent];
  const correlationId = build.annotations[Annotations.CorrelationId];
  await withLogContext({ correlation_id: correlationId, function_name: build.spec.functionName }, () =>
    inSpan('reconcile build', { parentTraceparent: traceparent, attributes: { 'knative_lambda.build': name, 'knative_lambda.function': build.spec.functionName } }, async () => {
      const service = await deps.deployer.get(build.spec.functionName);
      const outcome = decideBuildOutcome(build, service);
      if (outcome.deploy) await deps.deployer.apply(outcome.deploy);
      if (!outcome.announce) return;
      const { id, kind, data, correlation } = outcome.announce;
      addLogContext({ third_party_id: String(data.third_party_id), parser_id: String(data.parser_id) });
      await deps.sink.emit(outgoingEvent(deps.settings.events, kind, data, correlation, { id }));
      await deps.executor.markAnnounced(name);
      recordOutcome(build, outcome.announce);
      deps.log.info({ build: name, event: kind }, 'build outcome announced');
    }),
  );
}
