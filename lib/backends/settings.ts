import path from 'node:path';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { PipelineSettings } from '../pipeline/deps.ts';
import type { UnpackLimits } from '../source/unpack.ts';
import { createTenantPolicy, type TenantPolicy } from '../tenancy/tenant-policy.ts';

export function unpackLimits(config: Config): UnpackLimits {
  return { maxBytes: config.KL_MAX_UNPACKED_BYTES, maxFiles: config.KL_MAX_SOURCE_FILES, maxDepth: config.KL_MAX_SOURCE_DEPTH };
}

export function pipelineSettings(config: Config): PipelineSettings {
  return {
    events: { prefix: config.KL_EVENT_TYPE_PREFIX, source: config.KL_EVENT_SOURCE },
    sourceKeyTemplate: config.KL_SOURCE_KEY_TEMPLATE,
    maxSourceBytes: config.KL_MAX_SOURCE_BYTES,
    unpackLimits: unpackLimits(config),
    buildTimeoutSeconds: config.KL_BUILD_TIMEOUT_SECONDS,
    serving: { maxTimeoutSeconds: config.KL_MAX_REVISION_TIMEOUT_SECONDS },
    baseImages: (runtime) => ({ build: config[runtime.images.build], runtime: config[runtime.images.runtime] }),
    scratchDir: path.join(config.KL_DATA_DIR, 'scratch'),
  };
}

export function tenantPolicy(config: Config): TenantPolicy {
  return createTenantPolicy({
    sourceKeyTemplate: config.KL_SOURCE_KEY_TEMPLATE,
    bucket: config.KL_STORE_BUCKET,
    allowedBuckets: config.KL_ALLOWED_SOURCE_BUCKETS,
    tenantSources: config.KL_TENANT_SOURCES,
  });
}

/** A host under `.invalid` never resolves (RFC 2606): config/configmap.yaml names one until the operator sets a registry. */
const PLACEHOLDER_HOST = /^[^/]*\.invalid(?::\d+)?\//;

/**
 * The repository build Jobs push to. The Kubernetes backend cannot work without one that
 * exists, and config/ deploys no registry: unset, or the placeholder, stops it at start.
 */
export function imageRepository(config: Config): string {
  const repository = config.KL_IMAGE_REPOSITORY;
  if (repository && !PLACEHOLDER_HOST.test(repository)) return repository;
  const value = repository === undefined ? 'is not set' : `names the placeholder host of config/configmap.yaml (${JSON.stringify(repository)})`;
  throw new ConfigError([`KL_IMAGE_REPOSITORY ${value}: set it to the repository of a registry the cluster can pull from and build Jobs can push to, e.g. registry.example.com/functions (docs/DEPLOYMENT.md, step 2)`]);
}
