import type { V1ContainerStatus, V1Job, V1Pod } from '@kubernetes/client-node';
import { Annotations, Labels } from '../naming.ts';
import type { BuildFailureReason, BuildRecord } from '../ports/build-executor.ts';
import type { ServiceRecord, ServiceSpec } from '../ports/deployer.ts';
import type { BuildEngine } from './build-engines/engine.ts';
import type { KnativeServiceObject } from './knative-service.ts';

/** What the Job's pods tell beyond the Job: the digest the engine pushed, what its container said on exit, and the end of the log. */
export interface BuildPodReport {
  digest?: string | undefined;
  terminationMessage?: string | undefined;
  logTail?: string | undefined;
}

function statusesOf(pod: V1Pod): V1ContainerStatus[] {
  return [...(pod.status?.initContainerStatuses ?? []), ...(pod.status?.containerStatuses ?? [])];
}

/** The termination message of `container` in the first of the pods that has one. */
function terminationMessageOf(pods: V1Pod[], container: string): string | undefined {
  for (const pod of pods) {
    const status = statusesOf(pod).find((c) => c.name === container);
    const message = status?.state?.terminated?.message ?? status?.lastState?.terminated?.message;
    if (message) return message.trim();
  }
  return undefined;
}

/** The first container, init containers first, that exited with an error: where a failure is told. */
function failedContainerOf(pods: V1Pod[]): string | undefined {
  for (const pod of pods) {
    const failed = statusesOf(pod).find((c) => (c.state?.terminated?.exitCode ?? 0) !== 0);
    if (failed) return failed.name;
  }
  return undefined;
}

/**
 * Pure: the pods of a finished build Job as its engine reports through them: the digest
 * from whichever attempt pushed one; the termination message of the container that failed,
 * or else of the engine's reporting container; the container whose log tells why it failed.
 */
export function readBuildPods(pods: V1Pod[], engine: BuildEngine): Omit<BuildPodReport, 'logTail'> & { failedContainer?: string | undefined } {
  const reported = pods.map((pod) => terminationMessageOf([pod], engine.reportingContainer)).filter((message) => message !== undefined);
  const digest = reported.map((message) => engine.digestFrom(message)).find((found) => found !== undefined);
  const failedContainer = failedContainerOf(pods);
  const terminationMessage = failedContainer ? terminationMessageOf(pods, failedContainer) : reported[0];
  return { digest, terminationMessage, failedContainer };
}

function condition(job: V1Job, type: string): { reason?: string; message?: string; lastTransitionTime?: Date } | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === 'True');
}

function iso(value: Date | string | undefined): string | undefined {
  if (value === undefined) return undefined;
  return value instanceof Date ? value.toISOString() : new Date(value).toISOString();
}

/** Pure: a build Job (and its pods' report) as the pipeline sees a build. */
export function buildRecordFromJob(job: V1Job, imageRepository: string, report: BuildPodReport = {}): BuildRecord {
  const annotations = job.metadata?.annotations ?? {};
  const labels = job.metadata?.labels ?? {};
  const functionName = labels[Labels.Function] ?? '';
  const cancelled = annotations[Annotations.Cancelled] === 'true';
  const complete = condition(job, 'Complete');
  const failed = condition(job, 'Failed');
  const base: BuildRecord = {
    name: job.metadata?.name ?? '',
    labels,
    annotations,
    createdAt: iso(job.metadata?.creationTimestamp),
    spec: {
      functionName,
      runtime: labels[Labels.Runtime] ?? '',
      contextKey: annotations[Annotations.ContextKey] ?? '',
      contentDigest: annotations[Annotations.ContentDigest] ?? '',
      timeoutSeconds: Number(annotations[Annotations.BuildTimeout] ?? job.spec?.activeDeadlineSeconds ?? 0),
    },
    status: { phase: 'Pending', startTime: iso(job.status?.startTime), announced: annotations[Annotations.Announced] === 'true' },
  };
  if (complete) {
    if (report.digest) {
      return { ...base, status: { ...base.status, phase: 'Succeeded', completionTime: iso(job.status?.completionTime ?? complete.lastTransitionTime), image: `${imageRepository}/${functionName}@${report.digest}` } };
    }
    return {
      ...base,
      status: { ...base.status, phase: 'Failed', reason: 'ExecutorError', message: `The build finished without reporting an image digest (termination message: ${JSON.stringify(report.terminationMessage ?? '')})`, completionTime: iso(job.status?.completionTime), logTail: report.logTail },
    };
  }
  if (failed) {
    const reason: BuildFailureReason = cancelled ? 'Cancelled' : failed.reason === 'DeadlineExceeded' ? 'DeadlineExceeded' : 'BuildFailed';
    const message = cancelled ? 'The build was cancelled' : (failed.message ?? failed.reason ?? 'The build failed');
    return { ...base, status: { ...base.status, phase: 'Failed', reason, message, completionTime: iso(failed.lastTransitionTime), logTail: report.logTail ?? report.terminationMessage } };
  }
  const running = (job.status?.active ?? 0) > 0 || job.status?.startTime !== undefined;
  return { ...base, status: { ...base.status, phase: running ? 'Running' : 'Pending' } };
}

/** Pure: a Knative Service as the pipeline sees a service. */
export function serviceRecordFromKnative(service: KnativeServiceObject): ServiceRecord | undefined {
  const annotations = service.metadata.annotations ?? {};
  const stored = annotations[Annotations.ServiceSpec];
  if (!stored) return undefined;
  const containers = (service.spec.template as { spec?: { containers?: Array<{ image?: string }> } } | undefined)?.spec?.containers;
  const desired = JSON.parse(stored) as ServiceSpec;
  const spec: ServiceSpec = { ...desired, image: containers?.[0]?.image ?? desired.image };
  const revision = annotations[Annotations.Revision] ?? '';
  const ready = service.status?.conditions?.find((c) => c.type === 'Ready');
  const current = service.status?.observedGeneration !== undefined && service.status.observedGeneration === service.metadata.generation;
  const announcedRevision = annotations[Annotations.Announced];
  if (current && ready?.status === 'True') return { spec, revision, status: { phase: 'Ready', url: service.status?.url, announcedRevision } };
  if (current && ready?.status === 'False') {
    return { spec, revision, status: { phase: 'Failed', reason: ready.reason ?? 'NotReady', message: ready.message ?? 'The Knative Service is not ready', announcedRevision } };
  }
  return { spec, revision, status: { phase: 'Deploying', announcedRevision } };
}
