import type { V1EnvVar } from '@kubernetes/client-node';
import type { BuildRequest } from '../../ports/build-executor.ts';
import {
  buildResources,
  cacheRepository,
  imageDestination,
  REGISTRY_CREDENTIALS_VOLUME,
  registryCredentialsVolume,
  storeCredentialsEnv,
  TERMINATION_MESSAGE_PATH,
  type BuildJobSettings,
} from '../build-job.ts';
import { isImageDigest, type BuildEngine, type BuildPod } from './engine.ts';

const CONTAINER = 'kaniko';
/** The executor image sets DOCKER_CONFIG here. */
const DOCKER_CONFIG_DIR = '/kaniko/.docker';

/**
 * Kaniko unpacks base images and runs RUN steps as root in its own container: it needs uid 0
 * and the capabilities to give unpacked files their owners, modes and file capabilities
 * (SETFCAP: a base layer holding a file with capabilities, such as ping, cannot be unpacked
 * without it). Nothing more: no privilege escalation, seccomp RuntimeDefault.
 */
export const KANIKO_CAPABILITIES = ['CHOWN', 'DAC_OVERRIDE', 'FOWNER', 'SETFCAP', 'SETGID', 'SETUID'];

function args(request: BuildRequest, contextUrl: string, settings: BuildJobSettings): string[] {
  return [
    `--context=${contextUrl}`,
    '--dockerfile=Dockerfile',
    `--destination=${imageDestination(settings, request.functionName, request.contentDigest)}`,
    // The layer cache: each RUN becomes its own layer, keyed by the command and everything
    // before it (base image, copied files' contents, arguments), pushed to the cache
    // repository and pulled instead of run by the next build with the same key: `npm ci` or
    // `pip install` is skipped while the dependency files are unchanged. --single-snapshot
    // must stay off: it takes one snapshot per stage, after its last command, so no RUN would
    // ever have a layer of its own in the cache. COPY layers are not cached: redoing a copy
    // from the context costs less than pulling it, and the copied files still key what follows.
    '--cache=true',
    `--cache-repo=${cacheRepository(settings)}`,
    '--cache-run-layers=true',
    '--cache-copy-layers=false',
    `--digest-file=${TERMINATION_MESSAGE_PATH}`,
    '--reproducible',
    ...(settings.registryInsecure ? ['--insecure', '--insecure-pull'] : []),
  ];
}

/** Kaniko reads the context straight from the store, with the store credentials. */
function storeEnv(settings: BuildJobSettings): V1EnvVar[] {
  return [
    { name: 'AWS_REGION', value: settings.storeRegion },
    ...storeCredentialsEnv(settings),
    ...(settings.storeEndpoint ? [{ name: 'S3_ENDPOINT', value: settings.storeEndpoint }] : []),
    ...(settings.storeForcePathStyle ? [{ name: 'S3_FORCE_PATH_STYLE', value: 'true' }] : []),
  ];
}

function pod(request: BuildRequest, contextUrl: string, settings: BuildJobSettings): BuildPod {
  return {
    securityContext: { seccompProfile: { type: 'RuntimeDefault' } },
    containers: [
      {
        name: CONTAINER,
        image: settings.kanikoImage,
        args: args(request, contextUrl, settings),
        env: storeEnv(settings),
        resources: buildResources(settings),
        terminationMessagePath: TERMINATION_MESSAGE_PATH,
        terminationMessagePolicy: 'FallbackToLogsOnError',
        securityContext: {
          runAsUser: 0,
          runAsNonRoot: false,
          allowPrivilegeEscalation: false,
          privileged: false,
          capabilities: { drop: ['ALL'], add: [...KANIKO_CAPABILITIES] },
        },
        volumeMounts: [{ name: REGISTRY_CREDENTIALS_VOLUME, mountPath: DOCKER_CONFIG_DIR, readOnly: true }],
      },
    ],
    volumes: [registryCredentialsVolume(settings)],
  };
}

/** Kaniko (github.com/osscontainertools/kaniko): `--digest-file` writes the bare digest. */
export const kaniko: BuildEngine = {
  name: 'kaniko',
  reportingContainer: CONTAINER,
  pod,
  digestFrom(terminationMessage) {
    const digest = terminationMessage.trim();
    return isImageDigest(digest) ? digest : undefined;
  },
};
