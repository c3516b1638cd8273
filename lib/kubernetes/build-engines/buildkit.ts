import type { V1Container, V1EnvVar } from '@kubernetes/client-node';
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

const CONTAINER = 'buildkit';
const CONTEXT_CONTAINER = 'context';
/** The user of the rootless image (and of the platform's image); another would need both rebuilt. */
export const BUILDKIT_UID = 1000;
export const BUILDKIT_CAPABILITIES = ['SETGID', 'SETUID'];

const WORKSPACE_VOLUME = 'workspace';
const WORKSPACE_DIR = '/workspace';
/** Where the init container unpacks the context, and BuildKit reads it and its Dockerfile. */
export const CONTEXT_DIR = `${WORKSPACE_DIR}/context`;
/** BuildKit's state, on an emptyDir: the image's own volume can be mounted nosuid, which rootless BuildKit cannot use. */
const STATE_VOLUME = 'buildkit-state';
const STATE_DIR = '/home/user/.local/share/buildkit';
const DOCKER_CONFIG_DIR = '/home/user/.docker';
const METADATA_FILE = '/tmp/build-metadata.json';
/** The key of the pushed manifest's digest in buildctl's --metadata-file. */
const METADATA_DIGEST_KEY = 'containerimage.digest';
/** Run by the init container, relative to the working directory of the platform's image. */
export const CONTEXT_FETCH_PROGRAM = 'lib/adapters/kubernetes/fetch-build-context.ts';

/**
 * buildctl writes its metadata file by renaming a new file over it, which the termination
 * message file (a mount) refuses: the file is copied there once the build succeeded.
 */
const BUILD_AND_REPORT = `buildctl-daemonless.sh "$@" && cat ${METADATA_FILE} > ${TERMINATION_MESSAGE_PATH}`;

function buildArgs(request: BuildRequest, settings: BuildJobSettings): string[] {
  const insecure = settings.registryInsecure ? ',registry.insecure=true' : '';
  // One cache manifest per function: a registry cache ref holds a single build's cache, so a
  // ref shared by all functions would be overwritten by each build of another function.
  const cache = `${cacheRepository(settings)}:${request.functionName}`;
  return [
    'build',
    '--frontend', 'dockerfile.v0',
    '--local', `context=${CONTEXT_DIR}`,
    '--local', `dockerfile=${CONTEXT_DIR}`,
    // Timestamps fixed, as Kaniko's --reproducible: the same context gives the same image.
    '--opt', 'build-arg:SOURCE_DATE_EPOCH=0',
    '--output', `type=image,name=${imageDestination(settings, request.functionName, request.contentDigest)},push=true,rewrite-timestamp=true${insecure}`,
    '--import-cache', `type=registry,ref=${cache}${insecure}`,
    // mode=max keeps the layers of every stage: dependencies are installed in the build stage,
    // which the final image does not contain. A cache that cannot be written fails nothing:
    // the image is pushed, and the next build only takes longer.
    '--export-cache', `type=registry,ref=${cache},mode=max,image-manifest=true,oci-mediatypes=true,ignore-error=true${insecure}`,
    '--metadata-file', METADATA_FILE,
  ];
}

/** The init container's view of the store: the platform's own configuration variables. */
function storeEnv(settings: BuildJobSettings): V1EnvVar[] {
  return [
    { name: 'KL_STORE', value: 's3' },
    { name: 'KL_S3_REGION', value: settings.storeRegion },
    ...(settings.storeEndpoint ? [{ name: 'KL_S3_ENDPOINT', value: settings.storeEndpoint }] : []),
    { name: 'KL_S3_FORCE_PATH_STYLE', value: String(settings.storeForcePathStyle) },
    ...storeCredentialsEnv(settings),
  ];
}

/**
 * BuildKit cannot read a context from S3: the init container, the platform's own image,
 * fetches and unpacks it with the store credentials before any tenant code runs in the
 * pod. Non-root, nothing to escalate, read-only root filesystem, seccomp RuntimeDefault.
 */
function contextContainer(contextUrl: string, settings: BuildJobSettings): V1Container {
  return {
    name: CONTEXT_CONTAINER,
    image: settings.buildContextImage,
    command: ['node', CONTEXT_FETCH_PROGRAM, contextUrl, CONTEXT_DIR],
    env: storeEnv(settings),
    resources: buildResources(settings),
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: { allowPrivilegeEscalation: false, privileged: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } },
    volumeMounts: [{ name: WORKSPACE_VOLUME, mountPath: WORKSPACE_DIR }],
  };
}

/**
 * Rootless BuildKit (moby/buildkit docs/rootless.md, examples/kubernetes/job.rootless.yaml)
 * runs as uid 1000 and isolates the build steps in a user namespace it makes itself, and
 * that takes, for this container only:
 * - seccomp and AppArmor Unconfined: the runtime's default profiles refuse the unshare and
 *   mount calls that make the user and mount namespaces. BuildKit puts its own seccomp
 *   profile on the build steps it runs;
 * - allowPrivilegeEscalation and the SETUID and SETGID capabilities, nothing else:
 *   newuidmap and newgidmap, set-uid helpers of the image, map its 65536 subordinate ids
 *   into the namespace, which no_new_privs or a bounding set without them would stop;
 * - --oci-worker-no-process-sandbox: the build steps share this container's PID namespace
 *   instead of mounting a /proc of their own, which would take procMount: Unmasked (refused
 *   by the baseline Pod Security level and by the admission policy). A step can then signal
 *   the daemon, which serves this one build and nothing else.
 * No store credentials here: only the registry credentials, for the push.
 */
function buildkitContainer(request: BuildRequest, settings: BuildJobSettings): V1Container {
  return {
    name: CONTAINER,
    image: settings.buildkitImage,
    command: ['/bin/sh', '-c', BUILD_AND_REPORT, 'buildctl-daemonless.sh'],
    args: buildArgs(request, settings),
    env: [
      { name: 'BUILDKITD_FLAGS', value: '--oci-worker-no-process-sandbox' },
      { name: 'DOCKER_CONFIG', value: DOCKER_CONFIG_DIR },
    ],
    resources: buildResources(settings),
    terminationMessagePath: TERMINATION_MESSAGE_PATH,
    terminationMessagePolicy: 'FallbackToLogsOnError',
    securityContext: {
      seccompProfile: { type: 'Unconfined' },
      appArmorProfile: { type: 'Unconfined' },
      allowPrivilegeEscalation: true,
      privileged: false,
      capabilities: { drop: ['ALL'], add: [...BUILDKIT_CAPABILITIES] },
    },
    volumeMounts: [
      { name: WORKSPACE_VOLUME, mountPath: WORKSPACE_DIR, readOnly: true },
      { name: STATE_VOLUME, mountPath: STATE_DIR },
      { name: REGISTRY_CREDENTIALS_VOLUME, mountPath: DOCKER_CONFIG_DIR, readOnly: true },
    ],
  };
}

function pod(request: BuildRequest, contextUrl: string, settings: BuildJobSettings): BuildPod {
  return {
    securityContext: { runAsNonRoot: true, runAsUser: BUILDKIT_UID, runAsGroup: BUILDKIT_UID, seccompProfile: { type: 'RuntimeDefault' } },
    initContainers: [contextContainer(contextUrl, settings)],
    containers: [buildkitContainer(request, settings)],
    volumes: [{ name: WORKSPACE_VOLUME, emptyDir: {} }, { name: STATE_VOLUME, emptyDir: {} }, registryCredentialsVolume(settings)],
  };
}

/** Rootless, daemonless BuildKit (buildctl-daemonless.sh): its termination message is buildctl's metadata, JSON. */
export const buildkit: BuildEngine = {
  name: 'buildkit',
  reportingContainer: CONTAINER,
  pod,
  digestFrom(terminationMessage) {
    let metadata: unknown;
    try {
      metadata = JSON.parse(terminationMessage);
    } catch {
      return undefined;
    }
    const digest = typeof metadata === 'object' && metadata !== null ? (metadata as Record<string, unknown>)[METADATA_DIGEST_KEY] : undefined;
    return typeof digest === 'string' && isImageDigest(digest) ? digest : undefined;
  },
};
