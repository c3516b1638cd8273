import type { BuildStartData } from '../events/payloads.ts';
import type { Correlation } from '../events/envelope.ts';
import { Annotations, Labels, labelValue, MANAGED_BY, stableHash, type FunctionIdentity } from '../naming.ts';
import type { ServiceSpec } from '../ports/deployer.ts';

/** The service a `build.start` asks for, before its image exists. */
export function desiredService(input: {
  name: string;
  identity: FunctionIdentity;
  runtime: string;
  buildName: string;
  contentDigest: string;
  data: BuildStartData;
  requestedAt: string;
  correlation: Correlation;
}): Omit<ServiceSpec, 'image'> {
  const { data } = input;
  return {
    name: input.name,
    identity: input.identity,
    runtime: input.runtime,
    buildName: input.buildName,
    contentDigest: input.contentDigest,
    env: data.env ?? {},
    scaling: {
      minScale: data.scaling?.min_scale,
      maxScale: data.scaling?.max_scale,
      target: data.scaling?.target,
      containerConcurrency: data.scaling?.container_concurrency,
    },
    resources: data.resources ?? {},
    timeoutSeconds: data.timeout_seconds,
    requestedAt: input.requestedAt,
    correlation: input.correlation,
  };
}

/** What runs: image and configuration. Correlation and request time are not part of it. */
export function revisionOf(spec: ServiceSpec): string {
  const { image, env, scaling, resources, timeoutSeconds, runtime } = spec;
  return stableHash([JSON.stringify({ image, env, scaling, resources, timeoutSeconds, runtime })], 10);
}

/** The labels of everything made for a function (its builds, its service): selectable, always valid. */
export function functionLabels(spec: Pick<ServiceSpec, 'name' | 'identity' | 'runtime'>, component: 'build' | 'function'): Record<string, string> {
  return {
    [Labels.ManagedBy]: MANAGED_BY,
    [Labels.PartOf]: MANAGED_BY,
    [Labels.Component]: component,
    [Labels.Function]: spec.name,
    [Labels.ThirdPartyId]: labelValue(spec.identity.thirdPartyId),
    [Labels.ParserId]: labelValue(spec.identity.parserId),
    [Labels.Runtime]: spec.runtime,
  };
}

/** The desired spec in annotations, with the raw ids, correlation and trace context: nothing is kept in memory. */
export function specAnnotations(spec: Omit<ServiceSpec, 'image'>): Record<string, string> {
  return {
    [Annotations.ThirdPartyId]: spec.identity.thirdPartyId,
    [Annotations.ParserId]: spec.identity.parserId,
    [Annotations.ContentDigest]: spec.contentDigest,
    [Annotations.ServiceSpec]: JSON.stringify(spec),
    [Annotations.CorrelationId]: spec.correlation.correlationId,
    ...(spec.correlation.traceparent ? { [Annotations.TraceParent]: spec.correlation.traceparent } : {}),
    [Annotations.RequestedAt]: spec.requestedAt,
  };
}
