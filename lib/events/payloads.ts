import { z } from 'zod';

/** Tenant and function ids: they become store key segments, so no `/` and no leading dot. */
export const identifier = z
  .string()
  .min(1, 'must not be empty')
  .max(128, 'must be at most 128 characters')
  .regex(/^[A-Za-z0-9](?:[A-Za-z0-9._~-]*[A-Za-z0-9])?$/, 'may hold letters, digits, ".", "_", "~" and "-", and must start and end with a letter or digit');

export const contentHash = z
  .string()
  .regex(/^(?:sha256:)?[0-9a-f]{64}$/, 'must be a lowercase hex SHA-256, optionally prefixed with "sha256:"')
  .transform((value) => value.replace(/^sha256:/, ''));

export const correlationId = z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');

/** A store key: relative, `/`-separated, no empty, `.` or `..` segments. */
export const storeKey = z
  .string()
  .min(1)
  .max(1024)
  .refine((key) => !key.startsWith('/'), 'must be relative (no leading "/")')
  .refine((key) => key.split('/').every((segment) => segment !== '' && segment !== '.' && segment !== '..'), 'must not contain empty, "." or ".." segments')
  .refine((key) => !/[\x00-\x1f\x7f\\]/.test(key), 'must not contain control characters or backslashes');

export const bucketName = z.string().regex(/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/, 'must be a valid S3 bucket name');

/** `module.export` (Lambda style, e.g. `index.handler`) or just the export name (e.g. `handle`). */
export const handlerRef = z
  .string()
  .max(256)
  .regex(/^(?:[A-Za-z0-9_][A-Za-z0-9_/-]*\.)?[A-Za-z_$][A-Za-z0-9_$]*$/, 'must be "<file>.<export>" (e.g. index.handler) or "<export>"')
  .refine((ref) => !ref.split('/').includes('..'), 'must not leave the function directory');

const RESERVED_ENV = /^(?:PORT|K_[A-Z_]*|KL_[A-Z_]*|FUNC_[A-Z_]*|NODE_OPTIONS)$/;
const MAX_ENV_BYTES = 64 * 1024;

const environmentName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'names must be letters, digits and "_", not starting with a digit')
  .refine((name) => !RESERVED_ENV.test(name), 'this name is reserved by the platform');

export const environment = z
  .record(environmentName, z.string().max(32 * 1024))
  .refine((env) => Buffer.byteLength(JSON.stringify(env)) <= MAX_ENV_BYTES, `must total at most ${MAX_ENV_BYTES} bytes`);

/** A Kubernetes Secret data key. */
const secretKey = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret key: letters, digits, "-", "_" and "."')
  .refine((key) => key !== '.' && key !== '..', 'must not be "." or ".."');

/**
 * `{"NAME": {"secret": "db", "key": "password"}}`: the value comes from the tenant's secret
 * `<third_party_id>.<secret>`, never from the event. The secret is a DNS label, so the dot
 * that joins it to the tenant id stays unambiguous.
 */
export const secretEnvironment = z
  .record(
    environmentName,
    z
      .object({
        secret: z.string().max(63).regex(/^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/, 'must be a DNS label: lowercase letters, digits and "-"'),
        key: secretKey,
      })
      .strict(),
  )
  .refine((env) => Object.keys(env).length <= 100, 'must hold at most 100 entries');

const cpu = z.string().regex(/^(?:\d+m|\d+(?:\.\d{1,3})?)$/, 'must be a CPU quantity such as 250m or 1');
const memory = z.string().regex(/^\d+(?:Ki|Mi|Gi|K|M|G)?$/, 'must be a memory quantity such as 256Mi');
const resourceList = z.object({ cpu: cpu.optional(), memory: memory.optional() }).strict();

export const resources = z.object({ requests: resourceList.optional(), limits: resourceList.optional() }).strict();

export const scaling = z
  .object({
    min_scale: z.number().int().min(0).max(1000).optional(),
    max_scale: z.number().int().min(1).max(1000).optional(),
    target: z.number().int().min(1).max(100_000).optional(),
    container_concurrency: z.number().int().min(0).max(1000).optional(),
  })
  .strict()
  .refine((s) => s.min_scale === undefined || s.max_scale === undefined || s.min_scale <= s.max_scale, 'min_scale must not exceed max_scale');

export const runtimeName = z.string().regex(/^[a-z][a-z0-9.-]{0,31}$/, 'must be a runtime name such as "nodejs"');

const identity = { third_party_id: identifier, parser_id: identifier };

export const buildStartData = z
  .object({
    ...identity,
    content_hash: contentHash.optional(),
    correlation_id: correlationId.optional(),
    runtime: runtimeName.optional(),
    handler: handlerRef.optional(),
    env: environment.optional(),
    secret_env: secretEnvironment.optional(),
    source: z.object({ bucket: bucketName.optional(), key: storeKey }).strict().optional(),
    scaling: scaling.optional(),
    resources: resources.optional(),
    timeout_seconds: z.number().int().min(1).max(3600).optional(),
  })
  .refine((data) => !Object.keys(data.secret_env ?? {}).some((name) => name in (data.env ?? {})), { message: 'a name may be in env or in secret_env, not in both', path: ['secret_env'] });
export type BuildStartData = z.infer<typeof buildStartData>;

export const serviceDeleteData = z.object({ ...identity, correlation_id: correlationId.optional() });
export type ServiceDeleteData = z.infer<typeof serviceDeleteData>;

export const buildCancelData = z.object({
  ...identity,
  correlation_id: correlationId.optional(),
  build_id: z.string().regex(/^[a-z0-9-]{1,63}$/).optional(),
});
export type BuildCancelData = z.infer<typeof buildCancelData>;

const emittedBase = z.object({
  ...identity,
  correlation_id: correlationId,
  function_name: z.string(),
});

export const buildStartedData = emittedBase.extend({
  build_id: z.string(),
  content_digest: z.string(),
  runtime: z.string(),
  duplicate: z.boolean(),
});
export const buildCompleteData = emittedBase.extend({
  build_id: z.string(),
  content_digest: z.string(),
  image: z.string(),
  cache_hit: z.boolean(),
  superseded: z.boolean(),
  duration_seconds: z.number().nonnegative().optional(),
});
export const errorCategory = z.enum(['permanent', 'transient', 'unknown']);
export const buildFailedData = emittedBase.extend({
  build_id: z.string(),
  reason: z.string(),
  message: z.string(),
  error_category: errorCategory,
  log_tail: z.string(),
});
export const buildTimeoutData = emittedBase.extend({
  build_id: z.string(),
  timeout_seconds: z.number(),
  log_tail: z.string(),
});
export const serviceReadyData = emittedBase.extend({
  url: z.string(),
  build_id: z.string(),
  revision: z.string(),
});
export const serviceFailedData = emittedBase.extend({
  reason: z.string(),
  message: z.string(),
  revision: z.string(),
  log_tail: z.string(),
});
export const serviceDeletedData = emittedBase.extend({
  existed: z.boolean(),
  deleted_builds: z.number().int().nonnegative(),
});

export type BuildStartedData = z.infer<typeof buildStartedData>;
export type BuildCompleteData = z.infer<typeof buildCompleteData>;
export type BuildFailedData = z.infer<typeof buildFailedData>;
export type BuildTimeoutData = z.infer<typeof buildTimeoutData>;
export type ServiceReadyData = z.infer<typeof serviceReadyData>;
export type ServiceFailedData = z.infer<typeof serviceFailedData>;
export type ServiceDeletedData = z.infer<typeof serviceDeletedData>;
