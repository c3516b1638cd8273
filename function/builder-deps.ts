import { HttpEventSink } from '../lib/adapters/events/http-sink.ts';
import { LogEventSink } from '../lib/adapters/events/log-sink.ts';
import { createEmbeddedBackend } from '../lib/backends/embedded.ts';
import { createKubernetesBackend } from '../lib/backends/kubernetes.ts';
import { chooseBackend } from '../lib/backends/select.ts';
import { loadConfig, platformUrl } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import { createLogger } from '../lib/observability/logger.ts';
import type { PipelineDeps } from '../lib/pipeline/deps.ts';

/** What the function needs to handle events: the pipeline, its role, and (on a cluster) the namespace it watches. */
export interface FunctionContext {
  deps: PipelineDeps;
  role: Config['KL_ROLE'];
  watchNamespace?: string | undefined;
  /**
   * Set when this instance resyncs (a job-watcher on a cluster): seconds between passes
   * after the one at start, 0 for none.
   */
  resyncIntervalSeconds?: number | undefined;
  /** What must stop with the function: the embedded backend's builds and function processes. */
  shutdown?: (() => Promise<void>) | undefined;
}

/**
 * The function's backend when it runs on its own (not inside the embedded platform).
 * Emitted events go to K_SINK, the broker address Knative injects; a job-watcher
 * without one would lose its events, so it refuses to start.
 */
export async function createFunctionContext(env: NodeJS.ProcessEnv = process.env): Promise<FunctionContext> {
  const config = loadConfig(env);
  const log = createLogger(config.KL_LOG_LEVEL, config.KL_ROLE === 'all' ? 'builder' : config.KL_ROLE);
  if (config.KL_ROLE !== 'builder' && !env.K_SINK && chooseBackend(config, env) === 'kubernetes') {
    throw new Error('The job-watcher needs K_SINK, the broker URL it sends events to (set by a SinkBinding or in its Knative Service)');
  }
  const sink = env.K_SINK ? new HttpEventSink(env.K_SINK) : new LogEventSink(log);
  if (chooseBackend(config, env) === 'kubernetes') {
    const watches = config.KL_ROLE !== 'builder';
    const backend = await createKubernetesBackend(config, { sink, log, reportBuilds: watches });
    return { deps: backend.deps, role: config.KL_ROLE, watchNamespace: backend.namespace, resyncIntervalSeconds: watches ? config.KL_RESYNC_INTERVAL_SECONDS : undefined };
  }
  const embedded = await createEmbeddedBackend(config, { sink, routerUrl: platformUrl(config), log });
  await embedded.resume();
  return { deps: embedded.deps, role: config.KL_ROLE, shutdown: () => embedded.shutdown() };
}
