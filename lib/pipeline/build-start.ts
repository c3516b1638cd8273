import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { createBuildContext } from '../context/build-context.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import type { Command } from '../events/incoming.ts';
import { outgoingEvent } from '../events/outgoing.ts';
import { EventKind } from '../events/types.ts';
import { buildName, functionName, type FunctionIdentity } from '../naming.ts';
import type { BuildRecord, BuildRequest } from '../ports/build-executor.ts';
import type { ServiceRecord, ServiceSpec } from '../ports/deployer.ts';
import { selectRuntime } from '../runtimes/registry.ts';
import { contextKey, sourceKey } from '../source/keys.ts';
import { materializeSource, verifyContentHash } from '../source/load.ts';
import { addLogContext } from '../observability/log-context.ts';
import { metrics } from '../observability/metrics.ts';
import { exemplarLabels } from '../observability/tracing.ts';
import type { PipelineDeps } from './deps.ts';
import { checkServingLimits } from './serving-limits.ts';
import { desiredService, functionLabels, revisionOf, specAnnotations } from './service-spec.ts';

type BuildStartCommand = Extract<Command, { kind: typeof EventKind.BuildStart }>;

export type BuildStartDecision =
  | { action: 'reply-ready'; service: ServiceRecord }
  | { action: 'redeploy'; spec: ServiceSpec }
  | { action: 'build'; replaceFailed: boolean }
  | { action: 'in-progress' };

/**
 * Pure: whether this source must be built. Unchanged source that is deployed is not built
 * again (if only its configuration changed, the image it has is redeployed); a source built
 * before is deployed from that build; a build in progress is left alone; a failed one is retried.
 */
export function decideBuildStart(desired: Omit<ServiceSpec, 'image'>, service: ServiceRecord | undefined, build: BuildRecord | undefined): BuildStartDecision {
  if (service && service.spec.contentDigest === desired.contentDigest && service.status.phase !== 'Failed') {
    const spec: ServiceSpec = { ...desired, image: service.spec.image, buildName: service.spec.buildName };
    if (revisionOf(spec) === service.revision && service.status.phase === 'Ready') return { action: 'reply-ready', service };
    return { action: 'redeploy', spec };
  }
  if (!build) return { action: 'build', replaceFailed: false };
  if (build.status.phase === 'Succeeded' && build.status.image) return { action: 'redeploy', spec: { ...desired, image: build.status.image } };
  if (build.status.phase === 'Failed' && build.status.announced) return { action: 'build', replaceFailed: true };
  return { action: 'in-progress' };
}

/** Handles `build.start`: source → context → build (or no build), and the reply event. */
export async function startBuild(deps: PipelineDeps, command: BuildStartCommand): Promise<EventEnvelope> {
  const { data, correlation, event } = command;
  const { settings } = deps;
  const identity: FunctionIdentity = { thirdPartyId: data.third_party_id, parserId: data.parser_id };
  const name = functionName(identity);
  addLogContext({ function_name: name, third_party_id: identity.thirdPartyId, parser_id: identity.parserId });
  checkServingLimits(data, settings.serving);
  const contextStarted = performance.now();
  const key = data.source?.key ?? sourceKey(settings.sourceKeyTemplate, { ...identity, contentHash: data.content_hash });
  const bytes = await deps.store.get(key, { maxBytes: settings.maxSourceBytes, bucket: data.source?.bucket });
  verifyContentHash(bytes, data.content_hash);

  await fs.mkdir(settings.scratchDir, { recursive: true });
  const scratch = await fs.mkdtemp(path.join(settings.scratchDir, 'build-start-'));
  try {
    const loaded = await materializeSource(key, bytes, scratch, settings.unpackLimits);
    const { runtime, source } = await selectRuntime(data.runtime, loaded);
    const manifest = runtime.manifest(source, data.handler);
    const context = await createBuildContext(source, runtime, manifest, settings.baseImages(runtime), path.join(scratch, 'context'));
    const build = buildName(identity, context.digest);
    const runtimeLabel = { runtime: runtime.name };
    metrics.buildContextCreationDuration.observe({ labels: runtimeLabel, value: (performance.now() - contextStarted) / 1000, exemplarLabels: exemplarLabels() } as never);
    metrics.buildContextSize.observe({ labels: runtimeLabel, value: context.bytes.length, exemplarLabels: exemplarLabels() } as never);
    const desired = desiredService({
      name,
      identity,
      runtime: runtime.name,
      buildName: build,
      contentDigest: context.digest,
      data,
      requestedAt: event.time ?? new Date().toISOString(),
      correlation,
    });
    const base = { third_party_id: identity.thirdPartyId, parser_id: identity.parserId, correlation_id: correlation.correlationId, function_name: name };
    const decision = decideBuildStart(desired, await deps.deployer.get(name), await deps.executor.get(build));

    if (decision.action === 'reply-ready') {
      const { service } = decision;
      metrics.buildCacheHits.inc({ ...runtimeLabel, result: 'ready' });
      deps.log.info({ function: name, digest: context.digest }, 'source unchanged and deployed: nothing to build');
      return outgoingEvent(settings.events, EventKind.ServiceReady, { ...base, url: service.status.url ?? '', build_id: service.spec.buildName, revision: service.revision }, correlation);
    }
    if (decision.action === 'redeploy') {
      metrics.buildCacheHits.inc({ ...runtimeLabel, result: 'redeploy' });
      await deps.deployer.apply(decision.spec);
      deps.log.info({ function: name, digest: context.digest }, 'source unchanged: redeploying the existing image with new configuration');
      return outgoingEvent(
        settings.events,
        EventKind.BuildComplete,
        { ...base, build_id: decision.spec.buildName, content_digest: context.digest, image: decision.spec.image, cache_hit: true, superseded: false },
        correlation,
      );
    }

    if (decision.action === 'in-progress') {
      metrics.duplicateEvents.inc({ source: 'build.start' });
      deps.log.info({ function: name, build }, 'build already in progress');
      return outgoingEvent(settings.events, EventKind.BuildStarted, { ...base, build_id: build, content_digest: context.digest, runtime: runtime.name, duplicate: true }, correlation);
    }
    if (decision.replaceFailed) await deps.executor.delete(build);
    const ctxKey = contextKey(identity.thirdPartyId, context.digest);
    if (!(await deps.store.exists(ctxKey))) await deps.store.put(ctxKey, context.bytes, { contentType: 'application/gzip' });
    const request: BuildRequest = {
      name: build,
      functionName: name,
      runtime: runtime.name,
      contextKey: ctxKey,
      contentDigest: context.digest,
      timeoutSeconds: settings.buildTimeoutSeconds,
      labels: functionLabels(desired, 'build'),
      annotations: specAnnotations(desired),
    };
    const { created } = await deps.executor.create(request);
    if (created) metrics.buildsStarted.inc(runtimeLabel);
    else metrics.duplicateEvents.inc({ source: 'build.start' });
    deps.log.info({ function: name, build, digest: context.digest, duplicate: !created }, created ? 'build created' : 'build already exists');
    return outgoingEvent(
      settings.events,
      EventKind.BuildStarted,
      { ...base, build_id: build, content_digest: context.digest, runtime: runtime.name, duplicate: !created },
      correlation,
    );
  } finally {
    await fs.rm(scratch, { recursive: true, force: true });
  }
}
