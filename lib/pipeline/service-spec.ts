import type { BuildStartData } from '../events/payloads.ts';
import type { Correlation } from '../events/envelope.ts';
import { stableHash, type FunctionIdentity } from '../naming.ts';
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
