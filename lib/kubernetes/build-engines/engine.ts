import type { V1PodSpec } from '@kubernetes/client-node';
import { LABEL_DOMAIN } from '../../naming.ts';
import type { BuildRequest } from '../../ports/build-executor.ts';
import type { BuildJobSettings } from '../build-job.ts';

/** The engine's part of a build pod; the Job around it (identity, bounds, labels) is the same for every engine. */
export type BuildPod = Required<Pick<V1PodSpec, 'securityContext' | 'containers' | 'volumes'>> & Pick<V1PodSpec, 'initContainers'>;

/**
 * How one image builder runs as a Kubernetes Job. Pure: it makes the pod and reads what the
 * pod reports; creating, watching and cancelling the Job is the executor's, the same for all.
 */
export interface BuildEngine {
  /** Its value of KL_BUILD_ENGINE, and of the label that records on each Job which engine built it. */
  readonly name: string;
  /** The container whose termination message carries the pushed digest, and whose log tells why a build failed. */
  readonly reportingContainer: string;
  /** The pod that builds `request`'s context (at `contextUrl` in the store) and pushes the image. */
  pod(request: BuildRequest, contextUrl: string, settings: BuildJobSettings): BuildPod;
  /** The digest of the pushed image in the reporting container's termination message, when it holds one. */
  digestFrom(terminationMessage: string): string | undefined;
}

/** On every build Job and its pod: the engine that reads its pods' report. */
export const BUILD_ENGINE_LABEL = `${LABEL_DOMAIN}/build-engine`;

const IMAGE_DIGEST = /^sha256:[0-9a-f]{64}$/;

export function isImageDigest(value: string): boolean {
  return IMAGE_DIGEST.test(value);
}
