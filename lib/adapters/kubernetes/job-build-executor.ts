import { BatchV1Api, CoreV1Api, type KubeConfig, type V1Job } from '@kubernetes/client-node';
import type { BuildEngine } from '../../kubernetes/build-engines/engine.ts';
import { engineOfJob } from '../../kubernetes/build-engines/registry.ts';
import { buildJobManifest, type BuildJobSettings } from '../../kubernetes/build-job.ts';
import { buildRecordFromJob, readBuildPods } from '../../kubernetes/status.ts';
import { Annotations, Labels, MANAGED_BY } from '../../naming.ts';
import type { BuildExecutor, BuildRecord, BuildRequest } from '../../ports/build-executor.ts';
import type { SourceStore } from '../../ports/source-store.ts';
import { isAlreadyExists, isNotFound, kubernetesError, STRICT_FIELD_VALIDATION } from './kube-errors.ts';

const LOG_TAIL_LINES = 40;
const JOB_NAME_LABEL = 'batch.kubernetes.io/job-name';

/**
 * Builds as Jobs of a build engine. The Job is the record: labels and annotations carry
 * every fact, among them the engine that reads its pods' report.
 */
export class JobBuildExecutor implements BuildExecutor {
  private readonly batch: BatchV1Api;
  private readonly core: CoreV1Api;
  private readonly settings: BuildJobSettings;
  private readonly store: SourceStore;
  /** The engine of the builds this executor creates. */
  private readonly engine: BuildEngine;

  constructor(kubeConfig: KubeConfig, settings: BuildJobSettings, store: SourceStore, engine: BuildEngine) {
    this.batch = kubeConfig.makeApiClient(BatchV1Api);
    this.core = kubeConfig.makeApiClient(CoreV1Api);
    this.settings = settings;
    this.store = store;
    this.engine = engine;
  }

  private get namespace(): string {
    return this.settings.namespace;
  }

  async create(request: BuildRequest): Promise<{ created: boolean; record: BuildRecord }> {
    const annotated: BuildRequest = {
      ...request,
      annotations: { ...request.annotations, [Annotations.ContextKey]: request.contextKey, [Annotations.BuildTimeout]: String(request.timeoutSeconds) },
    };
    const body = buildJobManifest(annotated, this.store.url(request.contextKey), this.settings, this.engine);
    try {
      const job = await this.batch.createNamespacedJob({ namespace: this.namespace, body, fieldValidation: STRICT_FIELD_VALIDATION });
      return { created: true, record: buildRecordFromJob(job, this.settings.imageRepository) };
    } catch (error) {
      if (!isAlreadyExists(error)) throw kubernetesError(error, `create Job ${request.name}`);
      const existing = await this.get(request.name);
      if (!existing) throw kubernetesError(error, `create Job ${request.name}`);
      return { created: false, record: existing };
    }
  }

  async get(name: string): Promise<BuildRecord | undefined> {
    let job: V1Job;
    try {
      job = await this.batch.readNamespacedJob({ name, namespace: this.namespace });
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw kubernetesError(error, `read Job ${name}`);
    }
    return this.toRecord(job);
  }

  async listForFunction(functionName: string): Promise<BuildRecord[]> {
    try {
      const jobs = await this.batch.listNamespacedJob({ namespace: this.namespace, labelSelector: `${Labels.Function}=${functionName},${Labels.Component}=build` });
      return jobs.items.map((job) => buildRecordFromJob(job, this.settings.imageRepository));
    } catch (error) {
      throw kubernetesError(error, `list the Jobs of ${functionName}`);
    }
  }

  async list(): Promise<BuildRecord[]> {
    try {
      const jobs = await this.batch.listNamespacedJob({ namespace: this.namespace, labelSelector: `${Labels.Component}=build,${Labels.ManagedBy}=${MANAGED_BY}` });
      return jobs.items.map((job) => buildRecordFromJob(job, this.settings.imageRepository));
    } catch (error) {
      throw kubernetesError(error, 'list build Jobs');
    }
  }

  async listActive(): Promise<BuildRecord[]> {
    return (await this.list()).filter((r) => r.status.phase === 'Pending' || r.status.phase === 'Running');
  }

  /**
   * Cancelling keeps the Job, so its end is announced like any other: it is marked
   * cancelled and its deadline cut to one second; the Job controller stops its pod.
   */
  async cancel(name: string): Promise<boolean> {
    const record = await this.get(name);
    if (!record || record.status.phase === 'Succeeded' || record.status.phase === 'Failed') return false;
    try {
      await this.batch.patchNamespacedJob({
        name,
        namespace: this.namespace,
        body: [
          { op: 'add', path: `/metadata/annotations/${escapePointer(Annotations.Cancelled)}`, value: 'true' },
          { op: 'replace', path: '/spec/activeDeadlineSeconds', value: 1 },
        ],
      });
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw kubernetesError(error, `cancel Job ${name}`);
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await this.batch.deleteNamespacedJob({ name, namespace: this.namespace, propagationPolicy: 'Background' });
    } catch (error) {
      if (!isNotFound(error)) throw kubernetesError(error, `delete Job ${name}`);
    }
  }

  async markAnnounced(name: string): Promise<void> {
    try {
      await this.batch.patchNamespacedJob({ name, namespace: this.namespace, body: [{ op: 'add', path: `/metadata/annotations/${escapePointer(Annotations.Announced)}`, value: 'true' }] });
    } catch (error) {
      if (!isNotFound(error)) throw kubernetesError(error, `annotate Job ${name}`);
    }
  }

  /**
   * A finished Job's pods hold the pushed digest (a termination message) and the log the
   * failure event carries, read by the engine that built it, whichever is configured now.
   */
  private async toRecord(job: V1Job): Promise<BuildRecord> {
    const finished = job.status?.conditions?.some((c) => (c.type === 'Complete' || c.type === 'Failed') && c.status === 'True');
    if (!finished) return buildRecordFromJob(job, this.settings.imageRepository);
    const name = job.metadata?.name ?? '';
    const engine = engineOfJob(job.metadata?.labels);
    try {
      const pods = (await this.core.listNamespacedPod({ namespace: this.namespace, labelSelector: `${JOB_NAME_LABEL}=${name}` })).items;
      const { digest, terminationMessage, failedContainer } = readBuildPods(pods, engine);
      const failed = job.status?.conditions?.some((c) => c.type === 'Failed' && c.status === 'True');
      // The log tail only travels in the failure event: once that is out, nobody reads it again.
      const announced = job.metadata?.annotations?.[Annotations.Announced] === 'true';
      const pod = pods.at(-1)?.metadata?.name;
      const logTail = failed && !announced && pod ? await this.logTail(pod, failedContainer ?? engine.reportingContainer) : undefined;
      return buildRecordFromJob(job, this.settings.imageRepository, { digest, terminationMessage, logTail });
    } catch (error) {
      throw kubernetesError(error, `read the pods of Job ${name}`);
    }
  }

  private async logTail(pod: string, container: string): Promise<string | undefined> {
    try {
      return await this.core.readNamespacedPodLog({ name: pod, namespace: this.namespace, container, tailLines: LOG_TAIL_LINES });
    } catch {
      // A pod that never started, or whose node is gone, has no log: the termination message stands in.
      return undefined;
    }
  }
}

/** JSON Pointer escaping of a key such as `knative-lambda.io/cancelled`. */
function escapePointer(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}
