import { readFileSync } from 'node:fs';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { imageRepository } from '../../lib/backends/settings.ts';
import { createKubernetesBackend } from '../../lib/backends/kubernetes.ts';
import { ConfigError, loadConfig } from '../../lib/config/load.ts';
import { configSchema } from '../../lib/config/schema.ts';
import { buildkit, BUILDKIT_CAPABILITIES, BUILDKIT_UID, CONTEXT_DIR, CONTEXT_FETCH_PROGRAM } from '../../lib/kubernetes/build-engines/buildkit.ts';
import { BUILD_ENGINE_LABEL, type BuildEngine } from '../../lib/kubernetes/build-engines/engine.ts';
import { kaniko, KANIKO_CAPABILITIES } from '../../lib/kubernetes/build-engines/kaniko.ts';
import { buildEngine, buildEngineNames, DEFAULT_BUILD_ENGINE, engineOfJob } from '../../lib/kubernetes/build-engines/registry.ts';
import { buildJobManifest, imageDestination } from '../../lib/kubernetes/build-job.ts';
import { readBuildPods } from '../../lib/kubernetes/status.ts';
import { Labels } from '../../lib/naming.ts';
import type { BuildRequest } from '../../lib/ports/build-executor.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { LogEventSink } from '../../lib/adapters/events/log-sink.ts';
import { buildJobSettings } from '../support/build-job-settings.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
const defaultOf = (key: keyof typeof configSchema.shape): unknown => configSchema.shape[key].parse(undefined);

const settings = buildJobSettings({ storeRegion: 'eu-west-1' });

function requestFor(functionName: string, contentDigest: string): BuildRequest {
  return {
    name: `build-${functionName}`.slice(0, 52),
    functionName,
    runtime: 'nodejs',
    contextKey: `contexts/acme/${contentDigest}.tar.gz`,
    contentDigest,
    timeoutSeconds: 600,
    labels: { [Labels.Function]: functionName },
    annotations: {},
  };
}

const request = requestFor('fn-acme-p-123456789abc', 'a'.repeat(64));
const contextUrl = `s3://bucket/${request.contextKey}`;

const containersOf = (engine: BuildEngine, build = request, with_ = settings): V1Container[] => {
  const pod = buildJobManifest(build, contextUrl, with_, engine).spec!.template.spec!;
  return [...(pod.initContainers ?? []), ...pod.containers];
};
const secretRefs = (container: V1Container) => (container.env ?? []).filter((e) => e.valueFrom?.secretKeyRef).map((e) => e.valueFrom!.secretKeyRef!.name);
const argValue = (args: string[], flag: string) => args.filter((_, i) => args[i - 1] === flag);

const hex64 = fc.stringMatching(/^[0-9a-f]{64}$/);
const digests = hex64.map((hex) => `sha256:${hex}`);
const functionNames = fc.stringMatching(/^fn-[a-z0-9]{1,12}-[a-z0-9]{1,12}-[0-9a-f]{12}$/);

/** The termination message each engine writes for a pushed digest: Kaniko's digest file, buildctl's metadata file. */
const reports: Record<string, (digest: string, extra?: Record<string, unknown>) => string> = {
  kaniko: (digest) => `${digest}\n`,
  buildkit: (digest, extra = {}) => JSON.stringify({ ...extra, 'containerimage.digest': digest, 'image.name': 'registry.example.com/functions/fn:tag' }, null, 2),
};

describe('the build engine registry', () => {
  it('names every engine once, Kaniko first and the default', () => {
    expect(buildEngineNames).toEqual(['kaniko', 'buildkit']);
    expect(DEFAULT_BUILD_ENGINE).toBe(kaniko);
    expect(buildEngine('buildkit')).toBe(buildkit);
    expect(defaultOf('KL_BUILD_ENGINE')).toBe('kaniko');
    expect(() => loadConfig({ KL_BUILD_ENGINE: 'docker' })).toThrow('KL_BUILD_ENGINE');
  });

  it('reads each Job with the engine its label names, and a Job from before the label as Kaniko', () => {
    for (const engine of [kaniko, buildkit]) {
      const job = buildJobManifest(request, contextUrl, settings, engine);
      expect(job.metadata?.labels?.[BUILD_ENGINE_LABEL]).toBe(engine.name);
      expect(job.spec?.template.metadata?.labels?.[BUILD_ENGINE_LABEL]).toBe(engine.name);
      expect(engineOfJob(job.metadata?.labels)).toBe(engine);
    }
    expect(engineOfJob({ [Labels.Function]: 'fn' })).toBe(kaniko);
    expect(engineOfJob(undefined)).toBe(kaniko);
  });
});

describe('both engines', () => {
  it.each([kaniko, buildkit])('$name: the Job runs as the build identity without a token, bounded, and holds no secret value', (engine) => {
    const job = buildJobManifest(request, contextUrl, settings, engine);
    const pod = job.spec!.template.spec!;
    expect(pod).toMatchObject({ restartPolicy: 'Never', serviceAccountName: 'knative-lambda-build', automountServiceAccountToken: false, enableServiceLinks: false });
    expect(job.spec).toMatchObject({ activeDeadlineSeconds: 600, backoffLimit: 0, ttlSecondsAfterFinished: 3600 });
    for (const container of containersOf(engine)) {
      expect(container.securityContext).toMatchObject({ privileged: false, capabilities: { drop: ['ALL'] } });
      expect(container.resources).toEqual({ requests: { cpu: '1', memory: '2Gi' }, limits: { cpu: '1', memory: '2Gi' } });
      for (const entry of container.env ?? []) expect(entry.value === undefined || !/AWS_SECRET|password/i.test(entry.name)).toBe(true);
      expect(secretRefs(container).every((name) => name === 'store-creds')).toBe(true);
    }
    expect(pod.volumes?.filter((v) => v.secret).map((v) => v.secret)).toEqual([{ secretName: 'registry-creds', items: [{ key: '.dockerconfigjson', path: 'config.json' }] }]);
    expect(pod.volumes?.every((v) => v.secret || v.emptyDir)).toBe(true);
    expect(pod.containers.find((c) => c.name === engine.reportingContainer)?.terminationMessagePath).toBe('/dev/termination-log');
  });

  it.each([kaniko, buildkit])('$name: any function and digest gives a push of that image, by its content digest', (engine) => {
    fc.assert(
      fc.property(functionNames, hex64, fc.boolean(), (fn, digest, insecure) => {
        const build = requestFor(fn, digest);
        const args = containersOf(engine, build, { ...settings, registryInsecure: insecure }).find((c) => c.name === engine.reportingContainer)!.args ?? [];
        const destination = imageDestination(settings, fn, digest);
        expect(args.some((arg) => arg === `--destination=${destination}` || arg.startsWith(`type=image,name=${destination},push=true`))).toBe(true);
        expect(args.some((arg) => arg.includes('insecure'))).toBe(insecure);
      }),
    );
  });

  it.each([kaniko, buildkit])('$name: reads back the digest it reports, whatever else the report holds', (engine) => {
    fc.assert(
      fc.property(digests, fc.dictionary(fc.string(), fc.jsonValue()), (digest, extra) => {
        expect(engine.digestFrom(reports[engine.name]!(digest, extra))).toBe(digest);
      }),
    );
  });

  it.each([kaniko, buildkit])('$name: never takes anything but a sha256 digest from a termination message, and never throws', (engine) => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.jsonValue().map((value) => JSON.stringify(value))), (message) => {
        const digest = engine.digestFrom(message);
        expect(digest === undefined || /^sha256:[0-9a-f]{64}$/.test(digest)).toBe(true);
      }),
    );
    expect(engine.digestFrom(`sha256:${'A'.repeat(64)}`)).toBeUndefined();
    expect(engine.digestFrom(reports[engine.name]!(`sha256:${'a'.repeat(63)}`))).toBeUndefined();
    expect(engine.digestFrom('error building image: RUN npm ci returned 1')).toBeUndefined();
  });
});

describe('Kaniko', () => {
  const [container] = containersOf(kaniko);
  const args = container!.args ?? [];

  it('runs the pinned fork as root with the capabilities to unpack base images, SETFCAP among them, and nothing to escalate', () => {
    expect(container!.image).toBe('docker.io/martizih/kaniko:v1.28.5');
    expect(KANIKO_CAPABILITIES).toContain('SETFCAP');
    expect(container!.securityContext).toEqual({ runAsUser: 0, runAsNonRoot: false, allowPrivilegeEscalation: false, privileged: false, capabilities: { drop: ['ALL'], add: KANIKO_CAPABILITIES } });
  });

  it('caches RUN layers in the cache repository: no single snapshot', () => {
    expect(args).toEqual(expect.arrayContaining(['--cache=true', '--cache-repo=registry.example.com/functions/cache', '--cache-run-layers=true', '--reproducible']));
    expect(args).not.toContain('--single-snapshot');
  });

  it('reads the context straight from the store with the store credentials', () => {
    expect(args).toContain(`--context=${contextUrl}`);
    expect(container!.env).toEqual(expect.arrayContaining([{ name: 'S3_ENDPOINT', value: 'http://minio.storage:9000' }, { name: 'S3_FORCE_PATH_STYLE', value: 'true' }, { name: 'AWS_REGION', value: 'eu-west-1' }]));
    expect(secretRefs(container!)).toEqual(['store-creds', 'store-creds']);
  });
});

describe('BuildKit', () => {
  const pod = buildJobManifest(request, contextUrl, settings, buildkit).spec!.template.spec!;
  const context = pod.initContainers![0]!;
  const builder = pod.containers[0]!;
  const args = builder.args ?? [];

  it('fetches the context in an init container of the platform image, the only one with the store credentials', () => {
    expect(context.image).toBe(settings.buildContextImage);
    expect(context.command).toEqual(['node', CONTEXT_FETCH_PROGRAM, contextUrl, CONTEXT_DIR]);
    expect(context.env).toEqual(expect.arrayContaining([{ name: 'KL_STORE', value: 's3' }, { name: 'KL_S3_ENDPOINT', value: 'http://minio.storage:9000' }, { name: 'KL_S3_FORCE_PATH_STYLE', value: 'true' }]));
    expect(secretRefs(context)).toEqual(['store-creds', 'store-creds']);
    expect(context.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true });
    expect(context.securityContext?.seccompProfile).toBeUndefined();
    expect(secretRefs(builder)).toEqual([]);
    expect(() => loadConfig(Object.fromEntries((context.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value])))).not.toThrow();
  });

  it('builds the unpacked context daemonless, pushes, and reports buildctl\'s metadata as its termination message', () => {
    expect(builder.image).toBe('docker.io/moby/buildkit:v0.34.0-rootless');
    expect(builder.command?.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(builder.command?.[2]).toMatch(/^buildctl-daemonless\.sh "\$@" && cat \S+ > \/dev\/termination-log$/);
    expect(args.slice(0, 3)).toEqual(['build', '--frontend', 'dockerfile.v0']);
    expect(argValue(args, '--local')).toEqual([`context=${CONTEXT_DIR}`, `dockerfile=${CONTEXT_DIR}`]);
    expect(argValue(args, '--output')).toEqual([`type=image,name=${imageDestination(settings, request.functionName, request.contentDigest)},push=true,rewrite-timestamp=true`]);
    expect(builder.command?.[2]).toContain(argValue(args, '--metadata-file')[0]);
    expect(builder.env).toEqual([{ name: 'BUILDKITD_FLAGS', value: '--oci-worker-no-process-sandbox' }, { name: 'DOCKER_CONFIG', value: '/home/user/.docker' }]);
    expect(builder.volumeMounts).toContainEqual({ name: 'registry-credentials', mountPath: '/home/user/.docker', readOnly: true });
  });

  it('caches every stage per function in the cache repository', () => {
    const ref = `registry.example.com/functions/cache:${request.functionName}`;
    expect(argValue(args, '--import-cache')).toEqual([`type=registry,ref=${ref}`]);
    expect(argValue(args, '--export-cache')).toEqual([`type=registry,ref=${ref},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true`]);
    const insecure = buildJobManifest(request, contextUrl, { ...settings, registryInsecure: true }, buildkit).spec!.template.spec!.containers[0]!.args ?? [];
    for (const flag of ['--output', '--import-cache', '--export-cache']) expect(argValue(insecure, flag)[0]).toMatch(/,registry\.insecure=true$/);
  });

  it('runs rootless: non-root, and only its own container unconfined, with SETUID and SETGID to map its ids', () => {
    expect(pod.securityContext).toEqual({ runAsNonRoot: true, runAsUser: BUILDKIT_UID, runAsGroup: BUILDKIT_UID, seccompProfile: { type: 'RuntimeDefault' } });
    expect(builder.securityContext).toEqual({
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
      allowPrivilegeEscalation: true,
      privileged: false,
      capabilities: { drop: ['ALL'], add: BUILDKIT_CAPABILITIES },
    });
    expect(BUILDKIT_CAPABILITIES).toEqual(['SETGID', 'SETUID']);
    expect(containersOf(buildkit).every((c) => c.securityContext?.procMount === undefined && c.securityContext?.runAsUser === undefined)).toBe(true);
  });
});

describe('readBuildPods', () => {
  const terminated = (name: string, exitCode: number, message?: string) => ({ name, image: 'i', imageID: '', ready: false, restartCount: 0, state: { terminated: { exitCode, message } } });
  const podOf = (containers: ReturnType<typeof terminated>[], init: ReturnType<typeof terminated>[] = []): V1Pod => ({ status: { containerStatuses: containers, initContainerStatuses: init } });

  it.each([kaniko, buildkit])('$name: a pushed digest from its reporting container, from whichever attempt pushed', (engine) => {
    fc.assert(
      fc.property(digests, (digest) => {
        const failedFirst = podOf([terminated(engine.reportingContainer, 1, 'error building image')]);
        const pushed = podOf([terminated(engine.reportingContainer, 0, reports[engine.name]!(digest))]);
        expect(readBuildPods([pushed], engine)).toEqual({ digest, terminationMessage: reports[engine.name]!(digest).trim(), failedContainer: undefined });
        expect(readBuildPods([failedFirst, pushed], engine).digest).toBe(digest);
      }),
    );
  });

  it('tells a failure by the container that failed, the init container when the context could not be fetched', () => {
    const pods = [podOf([terminated('buildkit', 0)], [terminated('context', 1, 'could not fetch the build context s3://b/k: No object')])];
    expect(readBuildPods(pods, buildkit)).toEqual({ digest: undefined, terminationMessage: 'could not fetch the build context s3://b/k: No object', failedContainer: 'context' });
    expect(readBuildPods([podOf([terminated('kaniko', 1, 'error building image')])], kaniko)).toEqual({ digest: undefined, terminationMessage: 'error building image', failedContainer: 'kaniko' });
  });

  it('reads no digest from the other engine\'s report', () => {
    const digest = `sha256:${'b'.repeat(64)}`;
    expect(readBuildPods([podOf([terminated('kaniko', 0, digest)])], buildkit).digest).toBeUndefined();
    expect(readBuildPods([podOf([terminated('buildkit', 0, reports.buildkit!(digest))])], kaniko).digest).toBeUndefined();
  });
});

describe('KL_IMAGE_REPOSITORY', () => {
  it('has no default, and the Kubernetes backend refuses to start without one, naming it and the docs', async () => {
    expect(defaultOf('KL_IMAGE_REPOSITORY')).toBeUndefined();
    const config = loadConfig({ KL_BACKEND: 'kubernetes', KL_STORE: 's3' });
    expect(() => imageRepository(config)).toThrow(ConfigError);
    const start = createKubernetesBackend(config, { sink: new LogEventSink(createLogger('silent', 'builder')), log: createLogger('silent', 'builder'), reportBuilds: false });
    await expect(start).rejects.toThrow(/KL_IMAGE_REPOSITORY is not set.*docs\/DEPLOYMENT\.md/);
  });

  it('is refused while it names the placeholder host of config/configmap.yaml, a host that cannot exist', () => {
    const placeholder = (parse(read('config/configmap.yaml')) as { data: Record<string, string> }).data.KL_IMAGE_REPOSITORY!;
    expect(placeholder).toMatch(/^[a-z.]+\.invalid\//);
    expect(() => imageRepository(loadConfig({ KL_IMAGE_REPOSITORY: placeholder }))).toThrow('placeholder');
    expect(imageRepository(loadConfig({ KL_IMAGE_REPOSITORY: 'registry.example.com:5000/functions' }))).toBe('registry.example.com:5000/functions');
    expect(imageRepository(loadConfig({ KL_IMAGE_REPOSITORY: 'invalid.example.com/functions' }))).toBe('invalid.example.com/functions');
  });
});

describe('config/ names the engine images the schema defaults to', () => {
  const keys = ['KL_BUILD_ENGINE', 'KL_KANIKO_IMAGE', 'KL_BUILDKIT_IMAGE', 'KL_BUILD_CONTEXT_IMAGE'] as const;

  it('in config/configmap.yaml', () => {
    const data = (parse(read('config/configmap.yaml')) as { data: Record<string, string> }).data;
    for (const key of keys) expect(data[key], key).toBe(defaultOf(key));
  });

  it('in the admission policy, which falls back to them when the ConfigMap names none', () => {
    const policy = parseAllDocuments(read('config/admission-policy.yaml')).map((d) => d.toJS() as { metadata: { name: string } }).find((d) => d.metadata.name === 'knative-lambda-build-images');
    const fallbacks = Object.fromEntries([...JSON.stringify(policy).matchAll(/\[\?'(KL_[A-Z_]+)'\]\.orValue\('([^']*)'\)/g)].map((m) => [m[1], m[2]]));
    expect(Object.keys(fallbacks).sort()).toEqual([...keys].sort());
    for (const key of keys) expect(fallbacks[key], key).toBe(defaultOf(key));
  });

  it('the context image is the platform image config/ deploys', () => {
    const image = (parse(read('config/kustomization.yaml')) as { images: Array<{ name: string; newName: string; newTag: string }> }).images.find((i) => i.name === 'knative-lambda')!;
    expect(defaultOf('KL_BUILD_CONTEXT_IMAGE')).toBe(`${image.newName}:${image.newTag}`);
  });
});
