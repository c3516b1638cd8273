import type { Config } from '../config/schema.ts';

export type BackendName = 'embedded' | 'kubernetes';

/** `auto` means: inside a cluster, the cluster; anywhere else, the embedded platform. */
export function chooseBackend(config: Config, env: NodeJS.ProcessEnv = process.env): BackendName {
  if (config.KL_BACKEND !== 'auto') return config.KL_BACKEND;
  return env.KUBERNETES_SERVICE_HOST ? 'kubernetes' : 'embedded';
}
