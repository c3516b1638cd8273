import type { V1EnvVar, V1Job, V1ResourceRequirements, V1Volume } from '@kubernetes/client-node';
import { imageTag, Labels } from '../naming.ts';
import type { BuildRequest } from '../ports/build-executor.ts';
import { BUILD_ENGINE_LABEL, type BuildEngine } from './build-engines/engine.ts';

/** Settings of the build Jobs, from the configuration; each engine takes its image from them. */
export interface BuildJobSettings {
  namespace: string;
  kanikoImage: string;
  buildkitImage: string;
  buildContextImage: string;
  imageRepository: string;
  registryInsecure: boolean;
  registrySecret: string;
  storeSecret: string;
  serviceAccount: string;
  storeRegion: string;
  storeEndpoint?: string | undefined;
  storeForcePathStyle: boolean;
  cpu: string;
  memory: string;
  backoffLimit: number;
  ttlSecondsAfterFinished: number;
  podAnnotations: Record<string, string>;
}

/** What an engine writes here the kubelet turns into the container's termination message: the pushed digest. */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';
/** The pod volume holding the registry credentials Secret as a Docker config.json. */
export const REGISTRY_CREDENTIALS_VOLUME = 'registry-credentials';
const DOCKER_CONFIG_FILE = 'config.json';

export function imageDestination(settings: Pick<BuildJobSettings, 'imageRepository'>, functionName: string, contentDigest: string): string {
  return `${settings.imageRepository}/${functionName}:${imageTag(contentDigest)}`;
}

/** The repository of the layer cache, next to the function images. */
export function cacheRepository(settings: Pick<BuildJobSettings, 'imageRepository'>): string {
  return `${settings.imageRepository}/cache`;
}

/** Requests = limits: a build gets what it asked for and never more. */
export function buildResources(settings: Pick<BuildJobSettings, 'cpu' | 'memory'>): V1ResourceRequirements {
  const amounts = { cpu: settings.cpu, memory: settings.memory };
  return { requests: amounts, limits: amounts };
}

/** The store credentials as references to their Secret: the values are never part of the Job. */
export function storeCredentialsEnv(settings: Pick<BuildJobSettings, 'storeSecret'>): V1EnvVar[] {
  return ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY'].map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: settings.storeSecret, key } } }));
}

/** The registry credentials Secret (kubernetes.io/dockerconfigjson), mounted as a Docker config.json. */
export function registryCredentialsVolume(settings: Pick<BuildJobSettings, 'registrySecret'>): V1Volume {
  return { name: REGISTRY_CREDENTIALS_VOLUME, secret: { secretName: settings.registrySecret, items: [{ key: '.dockerconfigjson', path: DOCKER_CONFIG_FILE }] } };
}

/**
 * Pure: the Job for one build, its pod made by `engine`. The Job runs under the build
 * identity, without a token, bounded in time; its labels name the engine that reads its
 * pods later. No secret value is ever part of it: the engines reference the Secrets.
 */
export function buildJobManifest(request: BuildRequest, contextUrl: string, settings: BuildJobSettings, engine: BuildEngine): V1Job {
  const labels = { ...request.labels, [Labels.Component]: 'build', [BUILD_ENGINE_LABEL]: engine.name };
  return {
    apiVersion: 'batch/v1',
    kind: 'Job',
    metadata: { name: request.name, namespace: settings.namespace, labels, annotations: request.annotations },
    spec: {
      activeDeadlineSeconds: request.timeoutSeconds,
      backoffLimit: settings.backoffLimit,
      ttlSecondsAfterFinished: settings.ttlSecondsAfterFinished,
      template: {
        metadata: { labels, annotations: settings.podAnnotations },
        spec: {
          restartPolicy: 'Never',
          serviceAccountName: settings.serviceAccount,
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          ...engine.pod(request, contextUrl, settings),
        },
      },
    },
  };
}
