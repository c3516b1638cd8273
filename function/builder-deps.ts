import { HttpEventSink } from '../lib/adapters/events/http-sink.ts';
import { LogEventSink } from '../lib/adapters/events/log-sink.ts';
import { createEmbeddedBackend } from '../lib/backends/embedded.ts';
import { createKubernetesBackend } from '../lib/backends/kubernetes.ts';
import { chooseBackend } from '../lib/backends/select.ts';
import { loadConfig, platformUrl } from '../lib/config/load.ts';
import type { Config } from '../lib/config/schema.ts';
import { transient } from '../lib/errors.ts';
import { createLogger } from '../lib/observability/logger.ts';
import type { PipelineDeps } from '../lib/pipeline/deps.ts';
import type { EventSink } from '../lib/ports/event-sink.ts';

export const SINK_MISSING = 'SinkMissing';
export const SINK_MISSING_MESSAGE = 'This job-watcher has no K_SINK yet (the SinkBinding injects it into a new revision): refused, so that the event is delivered again';

/**
 * The sink of a job-watcher that has no K_SINK: every emission fails as a transient error
 * (503), so the event that caused it is retried rather than answered and its outcome lost.
 */
class MissingSink implements EventSink {
  async emit(): Promise<void> {
    throw transient(SINK_MISSING, SINK_MISSING_MESSAGE);
  }
}

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
  /**
   * Set when this instance watches on a cluster without K_SINK: it is not ready, and
   * refuses events with 503, until a revision with K_SINK replaces it.
   */
  awaitingSink?: boolean | undefined;
}

/**
 * The function's backend when it runs on its own (not inside the embedded platform).
 * Emitted events go to K_SINK, the broker address Knative injects. A job-watcher's
 * K_SINK comes from the SinkBinding, which changes its Knative Service and so makes a
 * new revision: the revision before it starts without one, and must neither lose
 * events nor be routed any (see awaitingSink).
 */
export async function createFunctionContext(env: NodeJS.ProcessEnv = process.env): Promise<FunctionContext> {
  const config = loadConfig(env);
  const log = createLogger(config.KL_LOG_LEVEL, config.KL_ROLE === 'all' ? 'builder' : config.KL_ROLE);
  const onCluster = chooseBackend(config, env) === 'kubernetes';
  const watches = config.KL_ROLE !== 'builder';
  const awaitingSink = onCluster && watches && !env.K_SINK;
  if (awaitingSink) log.warn(SINK_MISSING_MESSAGE);
  const sink = env.K_SINK ? new HttpEventSink(env.K_SINK) : awaitingSink ? new MissingSink() : new LogEventSink(log);
  if (onCluster) {
    const backend = await createKubernetesBackend(config, { sink, log, reportBuilds: watches });
    return { deps: backend.deps, role: config.KL_ROLE, watchNamespace: backend.namespace, resyncIntervalSeconds: watches ? config.KL_RESYNC_INTERVAL_SECONDS : undefined, awaitingSink };
  }
  const embedded = await createEmbeddedBackend(config, { sink, routerUrl: platformUrl(config), log });
  await embedded.resume();
  return { deps: embedded.deps, role: config.KL_ROLE, shutdown: () => embedded.shutdown() };
}
