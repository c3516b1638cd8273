import type { BuildStartData } from '../events/payloads.ts';
import type { Correlation } from '../events/envelope.ts';
import { Annotations, Labels, labelValue, MANAGED_BY, stableHash, tenantSecretName, type FunctionIdentity } from '../naming.ts';
import type { SecretRef, ServiceSpec } from '../ports/deployer.ts';

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
    secretEnv: secretReferences(input.identity.thirdPartyId, data.secret_env),
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

/** `secret_env` as references to the acting tenant's own secrets. */
function secretReferences(thirdPartyId: string, secretEnv: BuildStartData['secret_env']): Record<string, SecretRef> | undefined {
  const entries = Object.entries(secretEnv ?? {});
  if (entries.length === 0) return undefined;
  return Object.fromEntries(entries.map(([name, ref]) => [name, { name: tenantSecretName(thirdPartyId, ref.secret), key: ref.key }]));
}

/**
 * Whether request time `a` is later than `b`, as instants: `12:00:00+02:00` is before
 * `11:00:00Z`. A time that does not parse counts as the oldest.
 */
export function isLaterRequest(a: string, b: string): boolean {
  const later = Date.parse(a);
  const earlier = Date.parse(b);
  return Number.isFinite(later) && (!Number.isFinite(earlier) || later > earlier);
}

/** What runs: image and configuration. Correlation and request time are not part of it. */
export function revisionOf(spec: ServiceSpec): string {
  const { image, env, secretEnv, scaling, resources, timeoutSeconds, runtime } = spec;
  // Without secret references the hash is the one records made before them carry.
  const references = secretEnv && Object.keys(secretEnv).length > 0 ? { secretEnv } : {};
  return stableHash([JSON.stringify({ image, env, scaling, resources, timeoutSeconds, runtime, ...references })], 10);
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
