import type { V1Job } from '@kubernetes/client-node';
import { imageTag, Labels } from '../naming.ts';
import type { BuildRequest } from '../ports/build-executor.ts';

/** Settings of the Kaniko build, from the configuration. */
export interface BuildJobSettings {
  namespace: string;
  kanikoImage: string;
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

export const KANIKO_CONTAINER = 'kaniko';
/** Kaniko writes the pushed digest here; the kubelet turns it into the container's termination message. */
export const TERMINATION_MESSAGE_PATH = '/dev/termination-log';

export function imageDestination(settings: Pick<BuildJobSettings, 'imageRepository'>, functionName: string, contentDigest: string): string {
  return `${settings.imageRepository}/${functionName}:${imageTag(contentDigest)}`;
}

/**
 * Pure: the Kaniko Job for one build. The context is read straight from the store; the
 * registry credentials are a mounted Secret and the store credentials Secret references,
 * so no secret value is ever part of the Job.
 */
export function buildJobManifest(request: BuildRequest, contextUrl: string, settings: BuildJobSettings): V1Job {
  const labels = { ...request.labels, [Labels.Component]: 'build' };
  const args = [
    `--context=${contextUrl}`,
    '--dockerfile=Dockerfile',
    `--destination=${imageDestination(settings, request.functionName, request.contentDigest)}`,
    '--cache=true',
    `--cache-repo=${settings.imageRepository}/cache`,
    `--digest-file=${TERMINATION_MESSAGE_PATH}`,
    '--reproducible',
    '--single-snapshot',
    ...(settings.registryInsecure ? ['--insecure', '--insecure-pull'] : []),
  ];
  const storeEnv = [
    { name: 'AWS_REGION', value: settings.storeRegion },
    { name: 'AWS_ACCESS_KEY_ID', valueFrom: { secretKeyRef: { name: settings.storeSecret, key: 'AWS_ACCESS_KEY_ID' } } },
    { name: 'AWS_SECRET_ACCESS_KEY', valueFrom: { secretKeyRef: { name: settings.storeSecret, key: 'AWS_SECRET_ACCESS_KEY' } } },
    ...(settings.storeEndpoint ? [{ name: 'S3_ENDPOINT', value: settings.storeEndpoint }] : []),
    ...(settings.storeForcePathStyle ? [{ name: 'S3_FORCE_PATH_STYLE', value: 'true' }] : []),
  ];
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
          securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
          containers: [
            {
              name: KANIKO_CONTAINER,
              image: settings.kanikoImage,
              args,
              env: storeEnv,
              resources: { requests: { cpu: settings.cpu, memory: settings.memory }, limits: { cpu: settings.cpu, memory: settings.memory } },
              terminationMessagePath: TERMINATION_MESSAGE_PATH,
              terminationMessagePolicy: 'FallbackToLogsOnError',
              // Kaniko unpacks base images as root: it needs uid 0 and these capabilities, nothing more.
              securityContext: {
                runAsUser: 0,
                runAsNonRoot: false,
                allowPrivilegeEscalation: false,
                privileged: false,
                capabilities: { drop: ['ALL'], add: ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETGID', 'SETUID'] },
              },
              volumeMounts: [{ name: 'registry-credentials', mountPath: '/kaniko/.docker', readOnly: true }],
            },
          ],
          volumes: [{ name: 'registry-credentials', secret: { secretName: settings.registrySecret, items: [{ key: '.dockerconfigjson', path: 'config.json' }] } }],
        },
      },
    },
  };
}
