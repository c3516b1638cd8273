import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { createStore } from '../adapters/store/create-store.ts';
import type { Config } from '../config/schema.ts';
import { ConfigError, s3ForcePathStyle } from '../config/load.ts';
import { buildEngine } from '../kubernetes/build-engines/registry.ts';
import type { BuildJobSettings } from '../kubernetes/build-job.ts';
import { instrumentDeployer, instrumentExecutor, instrumentSink, instrumentStore } from '../observability/instrumented-ports.ts';
import { reportBuildsFrom } from '../observability/metrics.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import type { EventSink } from '../ports/event-sink.ts';
import { imageRepository, pipelineSettings, tenantPolicy } from './settings.ts';

const SERVICE_ACCOUNT_NAMESPACE = '/var/run/secrets/kubernetes.io/serviceaccount/namespace';
const DEFAULT_NAMESPACE = 'knative-lambda';

export interface KubernetesBackend {
  deps: PipelineDeps;
  namespace: string;
}

async function namespaceOf(config: Config): Promise<string> {
  if (config.KL_NAMESPACE) return config.KL_NAMESPACE;
  const mounted = await readFile(SERVICE_ACCOUNT_NAMESPACE, 'utf8').catch(() => '');
  return mounted.trim() || DEFAULT_NAMESPACE;
}

export function buildJobSettings(config: Config, namespace: string): BuildJobSettings {
  return {
    namespace,
    kanikoImage: config.KL_KANIKO_IMAGE,
    buildkitImage: config.KL_BUILDKIT_IMAGE,
    buildContextImage: config.KL_BUILD_CONTEXT_IMAGE,
    imageRepository: imageRepository(config),
    registryInsecure: config.KL_REGISTRY_INSECURE,
    registrySecret: config.KL_REGISTRY_SECRET,
    storeSecret: config.KL_STORE_SECRET,
    serviceAccount: config.KL_BUILD_SERVICE_ACCOUNT,
    storeRegion: config.KL_S3_REGION,
    storeEndpoint: config.KL_S3_ENDPOINT,
    storeForcePathStyle: s3ForcePathStyle(config),
    cpu: config.KL_BUILD_CPU,
    memory: config.KL_BUILD_MEMORY,
    backoffLimit: config.KL_BUILD_BACKOFF_LIMIT,
    ttlSecondsAfterFinished: config.KL_BUILD_TTL_SECONDS,
    podAnnotations: config.KL_BUILD_POD_ANNOTATIONS,
  };
}

/**
 * Build Jobs of the configured engine and Knative Services. The Kubernetes client is loaded
 * only here: the embedded backend never pays for it. Build pods read their context from
 * S3, so this backend needs the S3 store.
 */
export async function createKubernetesBackend(config: Config, options: { sink: EventSink; log: Logger; kubeconfig?: string; reportBuilds: boolean }): Promise<KubernetesBackend> {
  if (config.KL_STORE !== 's3') throw new ConfigError([`KL_STORE ${config.KL_STORE}: the Kubernetes backend needs KL_STORE=s3, since build pods read their context from the store (docs/DEPLOYMENT.md)`]);
  // Before anything loads: without a registry nothing can be built or deployed.
  imageRepository(config);
  const { KubeConfig } = await import('@kubernetes/client-node');
  const { JobBuildExecutor } = await import('../adapters/kubernetes/job-build-executor.ts');
  const { KnativeDeployer } = await import('../adapters/kubernetes/knative-deployer.ts');
  const kubeConfig = new KubeConfig();
  if (options.kubeconfig) kubeConfig.loadFromFile(options.kubeconfig);
  else kubeConfig.loadFromDefault();
  const namespace = await namespaceOf(config);
  const store = await createStore(config);
  const executor = instrumentExecutor(new JobBuildExecutor(kubeConfig, buildJobSettings(config, namespace), store, buildEngine(config.KL_BUILD_ENGINE)), 'kubernetes');
  const deps: PipelineDeps = {
    settings: pipelineSettings(config),
    tenants: tenantPolicy(config),
    store: instrumentStore(store),
    executor,
    deployer: instrumentDeployer(new KnativeDeployer(kubeConfig, namespace, config.KL_FUNCTION_SERVICE_ACCOUNT), 'kubernetes'),
    sink: instrumentSink(options.sink, config.KL_EVENT_TYPE_PREFIX),
    log: options.log,
  };
  if (options.reportBuilds) reportBuildsFrom(() => executor.listActive(), options.log);
  return { deps, namespace };
}
