import path from 'node:path';
import type { Logger } from 'pino';
import { LocalBuildExecutor } from '../adapters/local/build-executor.ts';
import { LocalDeployer } from '../adapters/local/deployer.ts';
import { ProcessRegistry } from '../adapters/local/process-registry.ts';
import { createStore } from '../adapters/store/create-store.ts';
import { secretsDir } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { reconcileBuild } from '../pipeline/build-outcome.ts';
import type { PipelineDeps } from '../pipeline/deps.ts';
import { reconcileService } from '../pipeline/service-status.ts';
import type { EventSink } from '../ports/event-sink.ts';
import { instrumentDeployer, instrumentExecutor, instrumentSink, instrumentStore } from '../observability/instrumented-ports.ts';
import { reportBuildsFrom } from '../observability/metrics.ts';
import { findRuntime } from '../runtimes/registry.ts';
import type { Runtime } from '../runtimes/runtime.ts';
import { pipelineSettings, tenantPolicy, unpackLimits } from './settings.ts';

export interface EmbeddedBackend {
  deps: PipelineDeps;
  executor: LocalBuildExecutor;
  deployer: LocalDeployer;
  /** Re-reads every build and service and finishes what a previous run left undone. */
  resume(): Promise<void>;
  shutdown(): Promise<void>;
}

function runtimeFor(name: string): Runtime {
  const runtime = findRuntime(name);
  if (!runtime) throw new Error(`unknown runtime ${name}`);
  return runtime;
}

const RECONCILE_RETRY_MS = 2000;

/**
 * Host builds and local processes. Status changes go through the same reconcile steps the
 * cluster's job-watcher runs; a step that fails (the broker is down, say) is tried again.
 */
export async function createEmbeddedBackend(config: Config, options: { sink: EventSink; routerUrl: string; log: Logger }): Promise<EmbeddedBackend> {
  const { log } = options;
  const store = await createStore(config);
  const registry = new ProcessRegistry(path.join(config.KL_DATA_DIR, 'processes'));
  // Before this run starts anything: every record found now is an earlier run's.
  const leftovers = await registry.endLeftovers();
  if (leftovers.length > 0) log.warn({ pids: leftovers }, 'ended processes an earlier run left behind');
  let deps: PipelineDeps | undefined;
  let stopped = false;
  const reconcile = (what: string, step: (d: PipelineDeps, name: string) => Promise<void>) => (name: string) => {
    const attempt = (): void => {
      if (!deps || stopped) return;
      step(deps, name).catch((error: Error) => {
        log.warn({ err: error, [what]: name }, `reconciling ${what} failed; retrying`);
        setTimeout(attempt, RECONCILE_RETRY_MS).unref();
      });
    };
    attempt();
  };
  const executor = new LocalBuildExecutor({
    dir: path.join(config.KL_DATA_DIR, 'builds'),
    store,
    runtimeFor,
    config,
    concurrency: config.KL_BUILD_CONCURRENCY,
    limits: unpackLimits(config),
    logMaxBytes: config.KL_LOG_MAX_BYTES,
    registry,
    maxContextBytes: config.KL_MAX_UNPACKED_BYTES,
    onChange: reconcile('build', reconcileBuild),
    log,
  });
  const deployer = new LocalDeployer({
    dir: path.join(config.KL_DATA_DIR, 'functions'),
    routerUrl: options.routerUrl,
    runtimeFor,
    idleMs: config.KL_FUNCTION_IDLE_SECONDS * 1000,
    startTimeoutMs: config.KL_FUNCTION_START_TIMEOUT_SECONDS * 1000,
    maxRestartsPerMinute: config.KL_FUNCTION_MAX_RESTARTS,
    secretsDir: secretsDir(config),
    functionLogLevel: config.KL_FUNCTION_LOG_LEVEL,
    logMaxBytes: config.KL_LOG_MAX_BYTES,
    registry,
    onChange: reconcile('service', reconcileService),
    log,
  });
  deps = {
    settings: pipelineSettings(config),
    tenants: tenantPolicy(config),
    store: instrumentStore(store),
    executor: instrumentExecutor(executor, 'local'),
    deployer: instrumentDeployer(deployer, 'local'),
    sink: instrumentSink(options.sink, config.KL_EVENT_TYPE_PREFIX),
    log,
  };
  reportBuildsFrom(() => executor.listActive(), log);
  return {
    deps,
    executor,
    deployer,
    async resume() {
      await executor.resume();
      await deployer.resume();
    },
    async shutdown() {
      stopped = true;
      await Promise.all([deployer.shutdown(), executor.shutdown()]);
    },
  };
}
