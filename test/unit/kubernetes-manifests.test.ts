import type { V1Job } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { BUILD_ENGINE_LABEL } from '../../lib/kubernetes/build-engines/engine.ts';
import { kaniko } from '../../lib/kubernetes/build-engines/kaniko.ts';
import { buildJobManifest, imageDestination } from '../../lib/kubernetes/build-job.ts';
import { knativeServiceManifest, type KnativeServiceObject } from '../../lib/kubernetes/knative-service.ts';
import { buildRecordFromJob, serviceRecordFromKnative } from '../../lib/kubernetes/status.ts';
import { Annotations, isDns1035Label, isImageTag, Labels } from '../../lib/naming.ts';
import { revisionOf } from '../../lib/pipeline/service-spec.ts';
import type { BuildRequest } from '../../lib/ports/build-executor.ts';
import type { ServiceSpec } from '../../lib/ports/deployer.ts';
import { buildJobSettings } from '../support/build-job-settings.ts';

const digest = 'a'.repeat(64);
const settings = buildJobSettings({ podAnnotations: { 'sidecar.istio.io/inject': 'false' } });
const request: BuildRequest = {
  name: 'build-p-123456789abc',
  functionName: 'fn-acme-p-123456789abc',
  runtime: 'nodejs',
  contextKey: `contexts/acme/${digest}.tar.gz`,
  contentDigest: digest,
  timeoutSeconds: 600,
  labels: { [Labels.Function]: 'fn-acme-p-123456789abc', [Labels.Runtime]: 'nodejs', [Labels.ManagedBy]: 'knative-lambda' },
  annotations: { [Annotations.CorrelationId]: 'c1', [Annotations.TraceParent]: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
};

describe('buildJobManifest with Kaniko', () => {
  const job = buildJobManifest(request, `s3://bucket/${request.contextKey}`, settings, kaniko);
  const pod = job.spec!.template.spec!;
  const container = pod.containers[0]!;

  it('runs Kaniko on the context in the store, pushing by content digest with a layer cache', () => {
    expect(container.image).toBe(settings.kanikoImage);
    expect(container.args).toEqual(
      expect.arrayContaining([
        `--context=s3://bucket/contexts/acme/${digest}.tar.gz`,
        `--destination=registry.example.com/functions/fn-acme-p-123456789abc:sha256-${digest}`,
        '--cache=true',
        '--cache-repo=registry.example.com/functions/cache',
        '--cache-run-layers=true',
        '--digest-file=/dev/termination-log',
      ]),
    );
    // One snapshot per stage would leave no RUN layer to cache.
    expect(container.args).not.toContain('--single-snapshot');
    expect(isImageTag(imageDestination(settings, request.functionName, digest).split(':').at(-1)!)).toBe(true);
  });

  it('takes credentials from Secrets and never holds a secret value', () => {
    const env = container.env ?? [];
    for (const name of ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY']) {
      const entry = env.find((e) => e.name === name);
      expect(entry?.value).toBeUndefined();
      expect(entry?.valueFrom?.secretKeyRef).toEqual({ name: 'store-creds', key: name });
    }
    expect(env.find((e) => e.name === 'S3_ENDPOINT')?.value).toBe('http://minio.storage:9000');
    expect(env.find((e) => e.name === 'S3_FORCE_PATH_STYLE')?.value).toBe('true');
    expect(pod.volumes?.[0]?.secret).toEqual({ secretName: 'registry-creds', items: [{ key: '.dockerconfigjson', path: 'config.json' }] });
    expect(container.volumeMounts?.[0]).toMatchObject({ mountPath: '/kaniko/.docker', readOnly: true });
  });

  it('is bounded and locked down as far as Kaniko allows', () => {
    expect(job.spec).toMatchObject({ activeDeadlineSeconds: 600, backoffLimit: 0, ttlSecondsAfterFinished: 3600 });
    expect(pod).toMatchObject({ restartPolicy: 'Never', automountServiceAccountToken: false, serviceAccountName: 'knative-lambda-build' });
    expect(container.securityContext).toMatchObject({ allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETFCAP', 'SETGID', 'SETUID'] } });
    expect(pod.securityContext).toEqual({ seccompProfile: { type: 'RuntimeDefault' } });
    expect(container.resources).toEqual({ requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '1', memory: '2Gi' } });
    expect(container.terminationMessagePath).toBe('/dev/termination-log');
  });

  it('carries the labels and the annotations the watcher needs', () => {
    expect(job.metadata).toMatchObject({ name: request.name, namespace: 'knative-lambda' });
    expect(job.metadata?.labels?.[Labels.Function]).toBe(request.functionName);
    expect(job.metadata?.labels?.[Labels.Component]).toBe('build');
    expect(job.metadata?.labels?.[BUILD_ENGINE_LABEL]).toBe('kaniko');
    expect(job.metadata?.annotations?.[Annotations.TraceParent]).toBe(request.annotations[Annotations.TraceParent]);
    expect(job.spec?.template.metadata?.labels?.[Labels.Function]).toBe(request.functionName);
    expect(job.spec?.template.metadata?.annotations).toEqual({ 'sidecar.istio.io/inject': 'false' });
  });
});

const spec: ServiceSpec = {
  name: 'fn-acme-p-123456789abc',
  identity: { thirdPartyId: 'acme', parserId: 'p' },
  runtime: 'nodejs',
  image: `registry.example.com/functions/fn-acme-p-123456789abc@sha256:${'b'.repeat(64)}`,
  buildName: request.name,
  contentDigest: digest,
  env: { GREETING: 'hi' },
  scaling: { minScale: 0, maxScale: 5, target: 10, containerConcurrency: 4 },
  resources: { limits: { memory: '256Mi' } },
  timeoutSeconds: 30,
  requestedAt: '2026-11-26T10:00:00.000Z',
  correlation: { correlationId: 'c1' },
};

describe('knativeServiceManifest', () => {
  const ksvc = knativeServiceManifest(spec, 'knative-lambda');
  const template = ksvc.spec.template as { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } };

  it('runs the image by digest with env, scaling, concurrency, timeout and resources', () => {
    expect(ksvc).toMatchObject({ apiVersion: 'serving.knative.dev/v1', kind: 'Service', metadata: { name: spec.name, namespace: 'knative-lambda' } });
    expect(template.spec.containers[0]).toMatchObject({ image: spec.image, env: [{ name: 'GREETING', value: 'hi' }], resources: { limits: { memory: '256Mi' } } });
    expect(template.metadata.annotations).toEqual({ 'autoscaling.knative.dev/min-scale': '0', 'autoscaling.knative.dev/max-scale': '5', 'autoscaling.knative.dev/target': '10' });
    expect(template.spec).toMatchObject({ containerConcurrency: 4, timeoutSeconds: 30 });
    expect(isDns1035Label(`${ksvc.metadata.name}-00001-private`)).toBe(true);
  });

  it('runs as the function ServiceAccount and takes secret variables by reference, never by value', () => {
    const withSecrets = knativeServiceManifest({ ...spec, secretEnv: { DB_PASSWORD: { name: 'acme.db', key: 'password' } } }, 'ns', 'fn-identity');
    const t = withSecrets.spec.template as { spec: { serviceAccountName: string; containers: Array<{ env: unknown[] }> } };
    expect(t.spec.serviceAccountName).toBe('fn-identity');
    expect(t.spec.containers[0]!.env).toEqual([{ name: 'GREETING', value: 'hi' }, { name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'acme.db', key: 'password' } } }]);
    expect(template.spec.serviceAccountName).toBe('knative-lambda-function');
  });

  it('gives a new revision when a secret reference changes, and the old one when there is none', () => {
    expect(revisionOf({ ...spec, secretEnv: { A: { name: 'acme.db', key: 'k' } } })).not.toBe(revisionOf({ ...spec, secretEnv: { A: { name: 'acme.db', key: 'other' } } }));
    expect(revisionOf({ ...spec, secretEnv: {} })).toBe(revisionOf(spec));
  });

  it('omits what was not asked for', () => {
    const bare = knativeServiceManifest({ ...spec, scaling: {}, resources: {}, timeoutSeconds: undefined }, 'ns');
    const t = bare.spec.template as { metadata: { annotations: Record<string, string> }; spec: Record<string, unknown> & { containers: Array<Record<string, unknown>> } };
    expect(t.metadata.annotations).toEqual({});
    expect(t.spec.timeoutSeconds).toBeUndefined();
    expect(t.spec.containers[0]!.resources).toBeUndefined();
  });
});

describe('serviceRecordFromKnative', () => {
  const base = knativeServiceManifest(spec, 'knative-lambda');
  const withStatus = (status: KnativeServiceObject['status'], generation = 2): KnativeServiceObject => ({ ...base, metadata: { ...base.metadata, generation }, status });

  it('is Ready only when Knative has seen the current generation', () => {
    expect(serviceRecordFromKnative(withStatus({ observedGeneration: 1, conditions: [{ type: 'Ready', status: 'True' }], url: 'http://x' }))?.status.phase).toBe('Deploying');
    const ready = serviceRecordFromKnative(withStatus({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True' }], url: 'http://fn.example.com' }));
    expect(ready?.status).toMatchObject({ phase: 'Ready', url: 'http://fn.example.com' });
    expect(ready?.revision).toBe(revisionOf(spec));
    expect(ready?.spec.image).toBe(spec.image);
  });

  it('reports a not-ready reason as a failure', () => {
    const failed = serviceRecordFromKnative(withStatus({ observedGeneration: 2, conditions: [{ type: 'Ready', status: 'False', reason: 'RevisionFailed', message: 'ImagePullBackOff' }] }));
    expect(failed?.status).toMatchObject({ phase: 'Failed', reason: 'RevisionFailed', message: 'ImagePullBackOff' });
  });
});

describe('buildRecordFromJob', () => {
  const job = (status: V1Job['status'], annotations: Record<string, string> = {}): V1Job => {
    const manifest = buildJobManifest({ ...request, annotations: { ...request.annotations, [Annotations.ContextKey]: request.contextKey, [Annotations.BuildTimeout]: '600', [Annotations.ContentDigest]: digest, ...annotations } }, 's3://b/k', settings, kaniko);
    return { ...manifest, status };
  };
  const repo = settings.imageRepository;

  it('maps a Complete Job with its pushed digest to Succeeded, image by digest', () => {
    const record = buildRecordFromJob(job({ startTime: new Date('2026-01-01T00:00:00Z'), completionTime: new Date('2026-01-01T00:01:00Z'), conditions: [{ type: 'Complete', status: 'True' }] }), repo, { digest: `sha256:${'c'.repeat(64)}` });
    expect(record.status).toMatchObject({ phase: 'Succeeded', image: `${repo}/${request.functionName}@sha256:${'c'.repeat(64)}`, startTime: '2026-01-01T00:00:00.000Z', completionTime: '2026-01-01T00:01:00.000Z' });
    expect(record.spec).toMatchObject({ functionName: request.functionName, contextKey: request.contextKey, contentDigest: digest, timeoutSeconds: 600, runtime: 'nodejs' });
  });

  it('treats a Complete Job without a digest as an executor error', () => {
    const record = buildRecordFromJob(job({ conditions: [{ type: 'Complete', status: 'True' }] }), repo, { terminationMessage: 'garbage' });
    expect(record.status).toMatchObject({ phase: 'Failed', reason: 'ExecutorError' });
    expect(record.status.message).toContain('"garbage"');
  });

  it('tells a deadline, a cancel and a failed build apart', () => {
    const deadline = { conditions: [{ type: 'Failed', status: 'True', reason: 'DeadlineExceeded', message: 'Job was active longer than specified deadline' }] };
    expect(buildRecordFromJob(job(deadline), repo).status.reason).toBe('DeadlineExceeded');
    expect(buildRecordFromJob(job(deadline, { [Annotations.Cancelled]: 'true' }), repo).status.reason).toBe('Cancelled');
    const failed = buildRecordFromJob(job({ conditions: [{ type: 'Failed', status: 'True', reason: 'BackoffLimitExceeded' }] }), repo, { logTail: 'error building image' });
    expect(failed.status).toMatchObject({ phase: 'Failed', reason: 'BuildFailed', logTail: 'error building image' });
  });

  it('maps running and pending Jobs, and the announced mark', () => {
    expect(buildRecordFromJob(job({ active: 1, startTime: new Date() }), repo).status.phase).toBe('Running');
    expect(buildRecordFromJob(job(undefined), repo).status.phase).toBe('Pending');
    expect(buildRecordFromJob(job({}, { [Annotations.Announced]: 'true' }), repo).status.announced).toBe(true);
  });
});
