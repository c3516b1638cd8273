import { HttpEventSink } from '../lib/adapters/events/http-sink.ts';
import { LogEventSink } from '../lib/adapters/events/log-sink.ts';
import { createEmbeddedBackend } from '../lib/backends/embedded.ts';
import { chooseBackend } from '../lib/backends/select.ts';
import { loadConfig, platformUrl } from '../lib/config/load.ts';
import { createLogger } from '../lib/observability/logger.ts';
import type { PipelineDeps } from '../lib/pipeline/deps.ts';

/**
 * The builder's backend when it runs on its own (not inside the embedded platform).
 * Emitted events go to K_SINK, the broker address Knative injects.
 */
export async function createBuilderDeps(env: NodeJS.ProcessEnv = process.env): Promise<PipelineDeps> {
  const config = loadConfig(env);
  const log = createLogger(config.KL_LOG_LEVEL, 'builder');
  const backend = chooseBackend(config, env);
  if (backend === 'kubernetes') {
    throw new Error('The Kubernetes backend is not available in this version; run with KL_BACKEND=embedded');
  }
  const sink = env.K_SINK ? new HttpEventSink(env.K_SINK) : new LogEventSink(log);
  const embedded = await createEmbeddedBackend(config, { sink, routerUrl: platformUrl(config), log });
  await embedded.resume();
  return embedded.deps;
}
