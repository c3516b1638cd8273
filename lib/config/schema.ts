import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { bucketName } from '../events/payloads.ts';
import { buildEngineNames, DEFAULT_BUILD_ENGINE } from '../kubernetes/build-engines/registry.ts';
import { DEFAULT_FUNCTION_SERVICE_ACCOUNT } from '../kubernetes/knative-service.ts';

/** Default data directory: one per user, so the CLI and the platform agree from any working directory. */
function defaultDataDir(): string {
  const base = process.env.XDG_DATA_HOME || path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'knative-lambda');
}

const booleanString = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .transform((value) => value === 'true' || value === '1' || value === 'yes');

const port = z.coerce.number().int().min(0).max(65535);
const positiveInt = z.coerce.number().int().positive();

/** A dotted lowercase prefix such as `network.notifi.lambda`. */
const eventTypePrefix = z
  .string()
  .regex(/^[a-z0-9]+(?:[.-][a-z0-9]+)*$/, 'must be dot-separated lowercase words, e.g. network.notifi.lambda');

const sourceKeyTemplate = z
  .string()
  .min(1)
  .refine((t) => t.includes('{third_party_id}'), 'must contain {third_party_id} so tenants never share keys')
  .refine((t) => tenantSegmentIsWhole(t), '{third_party_id} must be a whole key segment, followed by more segments and preceded by no other placeholder (e.g. sources/{third_party_id}/{parser_id}/{content_hash}): the segments up to it are the tenant\'s prefix')
  .refine((t) => t.includes('{parser_id}'), 'must contain {parser_id}')
  .refine((t) => !t.startsWith('/') && !t.split('/').includes('..'), 'must be a relative key without ".." segments')
  .refine(
    (t) => [...t.matchAll(/\{([^}]*)\}/g)].every((m) => ['third_party_id', 'parser_id', 'content_hash'].includes(m[1] ?? '')),
    'only {third_party_id}, {parser_id} and {content_hash} are known placeholders',
  );

/** The tenant's part of the key layout must be a prefix no other tenant's keys can share. */
function tenantSegmentIsWhole(template: string): boolean {
  const segments = template.split('/');
  const index = segments.indexOf('{third_party_id}');
  if (index < 0) return !template.includes('{third_party_id}');
  return index < segments.length - 1 && segments.slice(0, index).every((segment) => !segment.includes('{'));
}

/** A comma-separated list of bucket names, blanks ignored. */
const bucketList = z
  .string()
  .transform((text) => text.split(',').map((entry) => entry.trim()).filter(Boolean))
  .pipe(z.array(bucketName));

/** `{"tenant": ["source", ...]}`: which CloudEvent sources may act for each tenant. */
const tenantSources = z.string().transform((text, ctx) => {
  try {
    const value: unknown = JSON.parse(text);
    const parsed = z.record(z.string().min(1), z.array(z.string().min(1)).min(1)).safeParse(value);
    if (parsed.success) return parsed.data;
  } catch {
    // reported below
  }
  ctx.addIssue({ code: 'custom', message: 'must be a JSON object mapping each tenant to a non-empty list of CloudEvent sources, e.g. {"acme":["network.notifi.acme"]}' });
  return z.NEVER;
});

/**
 * Every environment variable the project reads. The description and default of each
 * entry are the documentation: docs/CONFIGURATION.md is generated from this object.
 */
export const configSchema = z.object({
  KL_BACKEND: z
    .enum(['auto', 'embedded', 'kubernetes'])
    .default('auto')
    .describe('Backend the builder uses. `auto` picks `kubernetes` inside a cluster (KUBERNETES_SERVICE_HOST set) and `embedded` elsewhere.'),
  KL_ROLE: z
    .enum(['builder', 'job-watcher', 'all'])
    .default('all')
    .describe('Which events this instance of the function handles: `builder` (build.start, build.cancel, service.delete), `job-watcher` (ApiServerSource events about build Jobs and Knative Services), or `all`. On a cluster the same image runs once in each role.'),
  KL_EVENT_TYPE_PREFIX: eventTypePrefix
    .default('network.notifi.lambda')
    .describe('Prefix of every CloudEvent type consumed and emitted (`<prefix>.build.start`, ...). The default keeps wire compatibility with the replaced system.'),
  KL_EVENT_SOURCE: z
    .string()
    .min(1)
    .default('/knative-lambda/builder')
    .describe('`source` attribute of the CloudEvents the platform emits.'),
  KL_DATA_DIR: z
    .string()
    .min(1)
    .default(defaultDataDir())
    .transform((dir) => path.resolve(dir))
    .describe('Directory of the embedded platform: local source store, builds, running functions, logs. Defaults to `$XDG_DATA_HOME/knative-lambda` (or `~/.local/share/knative-lambda`).'),
  KL_STORE: z
    .enum(['filesystem', 's3'])
    .default('filesystem')
    .describe('Source store adapter: `filesystem` (under KL_DATA_DIR/store) or `s3` (AWS S3 or an S3-compatible server such as MinIO).'),
  KL_STORE_BUCKET: bucketName
    .default('knative-lambda')
    .describe('Bucket holding sources and build contexts. With the filesystem store it is a directory under KL_DATA_DIR/store.'),
  KL_S3_REGION: z.string().min(1).default('us-east-1').describe('Region of the S3 store.'),
  KL_S3_ENDPOINT: z
    .url()
    .optional()
    .describe('Endpoint of an S3-compatible server (for MinIO, e.g. http://127.0.0.1:9000). Unset for AWS S3. Credentials come from the standard AWS_* variables.'),
  KL_S3_FORCE_PATH_STYLE: booleanString
    .optional()
    .describe('Path-style addressing (`http://host/bucket/key`). Defaults to true when KL_S3_ENDPOINT is set, false otherwise.'),
  KL_SOURCE_KEY_TEMPLATE: sourceKeyTemplate
    .default('sources/{third_party_id}/{parser_id}/{content_hash}')
    .describe('Key of a function source in the store when `build.start` names none. Placeholders: {third_party_id} (required), {parser_id} (required), {content_hash}. Set it to serve an existing bucket layout.'),
  KL_ALLOWED_SOURCE_BUCKETS: bucketList
    .default([])
    .describe('Buckets other than KL_STORE_BUCKET that `build.start` may name in `source.bucket`, comma-separated. Empty: only KL_STORE_BUCKET. The key must still lie under the tenant\'s prefix.'),
  KL_TENANT_SOURCES: tenantSources
    .optional()
    .describe('Strict tenant mode, for brokers whose producers are not all trusted: a JSON object mapping each tenant (`third_party_id`) to the CloudEvent `source` values allowed to act for it, e.g. `{"acme":["network.notifi.acme","/ci/acme"]}`. Unset: any producer may name any tenant. See docs/SECURITY.md.'),
  KL_SECRETS_DIR: z
    .string()
    .min(1)
    .optional()
    .transform((dir) => (dir === undefined ? undefined : path.resolve(dir)))
    .describe('Embedded platform: directory of the secrets functions reference with `secret_env`, one file per secret key: `<secret name>/<key>` (e.g. `acme.db/password`). Defaults to `KL_DATA_DIR/secrets`.'),
  KL_MAX_SOURCE_BYTES: positiveInt.default(50 * 1024 * 1024).describe('Largest source object accepted, as stored (compressed), in bytes.'),
  KL_MAX_UNPACKED_BYTES: positiveInt.default(200 * 1024 * 1024).describe('Largest total size of an unpacked source archive, in bytes.'),
  KL_MAX_SOURCE_FILES: positiveInt.default(10_000).describe('Most entries a source archive may hold.'),
  KL_MAX_SOURCE_DEPTH: positiveInt.default(24).describe('Deepest directory nesting a source archive may hold.'),
  KL_NODE_BUILD_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/library/node:24.9.0-bookworm-slim')
    .describe('Base image of the build stage of Node.js function images (pinned tag).'),
  KL_NODE_RUNTIME_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/library/node:24.9.0-bookworm-slim')
    .describe('Base image of the runtime stage of Node.js function images (pinned tag); the function runs as its non-root `node` user.'),
  KL_PYTHON_BUILD_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/library/python:3.12.12-slim-bookworm')
    .describe('Base image of the build stage of Python function images (pinned tag): it makes the virtual environment.'),
  KL_PYTHON_RUNTIME_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/library/python:3.12.12-slim-bookworm')
    .describe('Base image of the runtime stage of Python function images (pinned tag); the same Python as the build stage, since the virtual environment links to it. The function runs as uid 1000.'),
  KL_GO_BUILD_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/library/golang:1.26.8-bookworm')
    .describe('Base image of the build stage of Go function images (pinned tag): it compiles the static binary.'),
  KL_GO_RUNTIME_IMAGE: z
    .string()
    .min(1)
    .default('gcr.io/distroless/static-debian12:nonroot@sha256:d093aa3e30dbadd3efe1310db061a14da60299baff8450a17fe0ccc514a16639')
    .describe('Base image of the runtime stage of Go function images (pinned digest): no shell, no libc, only the binary, run as the image\'s non-root user 65532.'),
  KL_PYTHON: z
    .string()
    .min(1)
    .optional()
    .describe('Python interpreter (3.12 or newer) for host builds of Python functions: a command on PATH or a path. Unset: the first of python3.14, python3.13, python3.12 and python3 on PATH that is 3.12 or newer, else the newest such version installed with pyenv.'),
  KL_BUILD_TIMEOUT_SECONDS: positiveInt.default(600).describe('Deadline of one build; past it the build ends with `build.timeout`.'),
  KL_MAX_REVISION_TIMEOUT_SECONDS: positiveInt
    .default(600)
    .describe("Largest `timeout_seconds` a function may ask for. Match Knative Serving's `max-revision-timeout-seconds` (config-defaults; 600 by default): its webhook refuses more, so `build.start` answers 422 before building."),
  KL_BUILD_CONCURRENCY: positiveInt.default(2).describe('Builds the embedded platform runs at the same time; further builds wait their turn.'),
  KL_PLATFORM_HOST: z.string().min(1).default('127.0.0.1').describe('Address the embedded platform listens on.'),
  KL_PLATFORM_PORT: port.default(8080).describe('Port of the embedded platform: broker ingress, function router and API.'),
  KL_PLATFORM_URL: z
    .url()
    .optional()
    .describe('URL the CLI talks to. Defaults to http://KL_PLATFORM_HOST:KL_PLATFORM_PORT.'),
  KL_API_TOKEN: z
    .string()
    .min(16)
    .optional()
    .describe('Bearer token of the embedded platform: when set, the ingress, the API, the function router and /metrics require `Authorization: Bearer <token>` (/health/* stays open), and the CLI sends it. Required when KL_PLATFORM_HOST is not a loopback address.'),
  KL_FUNCTION_IDLE_SECONDS: positiveInt.default(300).describe('A local function with no request for this long is stopped (scale to zero) and started again on the next request.'),
  KL_FUNCTION_START_TIMEOUT_SECONDS: positiveInt.default(30).describe('How long a local function may take to answer its readiness probe after starting.'),
  KL_FUNCTION_LOG_LEVEL: z
    .enum(['debug', 'info', 'warn', 'error'])
    .default('warn')
    .describe('Embedded platform: log level of local functions (their FUNC_LOG_LEVEL). At `info` every request is logged; `warn` keeps a busy function\'s log small.'),
  KL_LOG_MAX_BYTES: positiveInt
    .default(10 * 1024 * 1024)
    .describe('Embedded platform: size at which a function\'s or a build\'s log file is rotated (one previous file, `<log>.1`, is kept).'),
  KL_FUNCTION_MAX_RESTARTS: positiveInt.default(5).describe('Crashes within a minute after which a local function is marked failed instead of restarted.'),
  KL_BROKER_RETRIES: z.coerce.number().int().min(0).max(20).default(5).describe('Embedded broker: redeliveries of an event answered with 5xx, 404, 408, 409, 429 or a network error.'),
  KL_BROKER_BACKOFF_MS: positiveInt.default(200).describe('Embedded broker: first retry delay; doubles on each retry.'),
  KL_BROKER_JOURNAL_MAX_BYTES: positiveInt.default(64 * 1024 * 1024).describe('Embedded broker: size of its journal (`<KL_DATA_DIR>/broker/journal.jsonl`) past which it is rewritten with only what is still needed: undelivered events, dead letters, the feed\'s tail and the deduplication window.'),
  KL_BROKER_FEED_MAX_BYTES: positiveInt.default(16 * 1024 * 1024).describe('Embedded broker: bytes of events the feed (`GET /api/events`) keeps in memory, oldest dropped first. An event whose data is over 32 KiB is kept there without it.'),
  KL_BROKER_FEED_MAX_ENTRIES: positiveInt.default(10_000).describe('Embedded broker: entries the feed keeps, oldest dropped first.'),
  KL_BROKER_DEAD_LETTERS_MAX: positiveInt.default(1_000).describe('Embedded broker: dead letters kept across restarts (each event in full under `<KL_DATA_DIR>/broker/dead-letters/`); past it the oldest is dropped.'),
  KL_BROKER_DEDUPE_WINDOW: positiveInt.default(100_000).describe('Embedded broker: how many accepted (source, id) pairs it remembers, across restarts, to accept a repeated event once.'),
  KL_NAMESPACE: z
    .string()
    .regex(/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/, 'must be a Kubernetes namespace name')
    .optional()
    .describe('Kubernetes backend: namespace of build Jobs and function Services. Defaults to the namespace the builder runs in (its service account), else `knative-lambda`.'),
  KL_IMAGE_REPOSITORY: z
    .string()
    .regex(/^[a-z0-9.-]+(?::\d+)?(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$/, 'must be <registry>/<path>, e.g. registry.example.com/functions')
    .optional()
    .describe('Kubernetes backend, required: images are pushed to `<this>/<function name>:sha256-<context digest>`, the layer cache to `<this>/cache`. No default: config/ deploys no registry (its optional in-cluster-registry component sets this), so the builder and the job-watcher refuse to start without it, or with a host under `.invalid` (the placeholder in config/configmap.yaml). See docs/DEPLOYMENT.md.'),
  KL_REGISTRY_INSECURE: booleanString
    .default(false)
    .describe('Kubernetes backend: push to the registry over plain HTTP (Kaniko `--insecure`, BuildKit `registry.insecure=true`), for an in-cluster registry without TLS.'),
  KL_BUILD_ENGINE: z
    .enum(buildEngineNames)
    .default(DEFAULT_BUILD_ENGINE.name)
    .describe('Kubernetes backend: what builds function images. `kaniko`: one root container with a few capabilities, seccomp RuntimeDefault. `buildkit`: rootless BuildKit, non-root in a user namespace, seccomp and AppArmor Unconfined for its container (the namespace needs the `privileged` Pod Security level). See docs/DEPLOYMENT.md, "Choosing a build engine".'),
  KL_KANIKO_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/martizih/kaniko:v1.28.5')
    .describe('Kubernetes backend, Kaniko engine: executor image. The default is the maintained fork (github.com/osscontainertools/kaniko); the upstream project was archived in June 2025. See docs/DEPLOYMENT.md.'),
  KL_BUILDKIT_IMAGE: z
    .string()
    .min(1)
    .default('docker.io/moby/buildkit:v0.34.0-rootless')
    .describe('Kubernetes backend, BuildKit engine: the rootless BuildKit image (a `-rootless` tag of moby/buildkit: it runs `buildctl-daemonless.sh` as uid 1000).'),
  KL_BUILD_CONTEXT_IMAGE: z
    .string()
    .min(1)
    .default('ghcr.io/knative-lambda/knative-lambda:0.1.0')
    .describe('Kubernetes backend, BuildKit engine: image of the init container that fetches the build context from the store for BuildKit, which cannot read S3. The platform\'s own image: keep it the image config/ deploys.'),
  KL_REGISTRY_SECRET: z
    .string()
    .min(1)
    .default('knative-lambda-registry')
    .describe('Kubernetes backend: Secret of type kubernetes.io/dockerconfigjson mounted into build pods as the registry credentials.'),
  KL_STORE_SECRET: z
    .string()
    .min(1)
    .default('knative-lambda-store')
    .describe('Kubernetes backend: Secret with keys AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY that build pods read the build context with (referenced, never copied into the Job).'),
  KL_FUNCTION_SERVICE_ACCOUNT: z
    .string()
    .min(1)
    .default(DEFAULT_FUNCTION_SERVICE_ACCOUNT)
    .describe('Kubernetes backend: ServiceAccount of function pods; it needs no API permission and its token is not mounted. The admission policy in config/ refuses Knative Services with any other.'),
  KL_BUILD_SERVICE_ACCOUNT: z
    .string()
    .min(1)
    .default('knative-lambda-build')
    .describe('Kubernetes backend: ServiceAccount of build pods; it needs no API permission and its token is not mounted.'),
  KL_BUILD_CPU: z.string().regex(/^\d+m?$|^\d+\.\d+$/, 'must be a CPU quantity').default('1').describe('Kubernetes backend: CPU request and limit of a build pod.'),
  KL_BUILD_MEMORY: z.string().regex(/^\d+(?:Ki|Mi|Gi)$/, 'must be a memory quantity').default('2Gi').describe('Kubernetes backend: memory request and limit of a build pod.'),
  KL_BUILD_BACKOFF_LIMIT: z.coerce.number().int().min(0).max(5).default(0).describe('Kubernetes backend: retries of a failed build pod before the build fails.'),
  KL_BUILD_TTL_SECONDS: z.coerce.number().int().min(60).default(3600).describe('Kubernetes backend: finished build Jobs are removed this long after they end.'),
  KL_BUILD_POD_ANNOTATIONS: z
    .string()
    .default('{}')
    .transform((text, ctx) => {
      try {
        const value: unknown = JSON.parse(text);
        if (value && typeof value === 'object' && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string')) return value as Record<string, string>;
      } catch {
        // reported below
      }
      ctx.addIssue({ code: 'custom', message: 'must be a JSON object of string values, e.g. {"sidecar.istio.io/inject":"false"}' });
      return z.NEVER;
    })
    .describe('Kubernetes backend: annotations for build pods, as a JSON object (for example to keep a service mesh sidecar out of them).'),
  KL_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info')
    .describe('Level of the JSON logs.'),
  KL_TENANT: z
    .string()
    .min(1)
    .default('local')
    .describe('CLI: `third_party_id` used when `--tenant` is not given.'),
  KL_RESYNC_INTERVAL_SECONDS: z.coerce
    .number()
    .int()
    .min(0)
    .default(300)
    .describe('Kubernetes backend, job-watcher: seconds between resyncs, which list the build Jobs and Knative Services not yet announced and finish them (the ApiServerSource sends nothing for changes made while it was down, and drops an event after 5 failed sends). A resync also runs at start; 0 leaves only that one.'),
});

export type Config = z.infer<typeof configSchema>;
