import type { Logger } from 'pino';
import type { EmitContext } from '../events/outgoing.ts';
import type { BuildExecutor } from '../ports/build-executor.ts';
import type { Deployer } from '../ports/deployer.ts';
import type { EventSink } from '../ports/event-sink.ts';
import type { SourceStore } from '../ports/source-store.ts';
import type { BaseImages, Runtime } from '../runtimes/runtime.ts';
import type { UnpackLimits } from '../source/unpack.ts';
import type { TenantPolicy } from '../tenancy/tenant-policy.ts';
import type { ServingLimits } from './serving-limits.ts';

export interface PipelineSettings {
  events: EmitContext;
  sourceKeyTemplate: string;
  maxSourceBytes: number;
  unpackLimits: UnpackLimits;
  buildTimeoutSeconds: number;
  serving: ServingLimits;
  baseImages: (runtime: Runtime) => BaseImages;
  /** Scratch space for unpacking sources and assembling contexts; cleaned after each event. */
  scratchDir: string;
}

/** Everything the pipeline touches, behind ports. */
export interface PipelineDeps {
  settings: PipelineSettings;
  /** Who acts for each event, and what it may touch: checked before any step runs. */
  tenants: TenantPolicy;
  store: SourceStore;
  executor: BuildExecutor;
  deployer: Deployer;
  sink: EventSink;
  log: Logger;
}
