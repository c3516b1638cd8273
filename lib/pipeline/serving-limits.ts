import { permanent } from '../errors.ts';
import type { BuildStartData } from '../events/payloads.ts';

/** What Knative Serving's admission webhook would refuse, configured to match the cluster. */
export interface ServingLimits {
  /** Serving's `max-revision-timeout-seconds` (600 unless the cluster changed it). */
  maxTimeoutSeconds: number;
}

const UNITS: Record<string, number> = { '': 1, m: 1e-3, K: 1e3, M: 1e6, G: 1e9, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30 };

/** A Kubernetes quantity of the forms the payload schema accepts, as a number. */
export function quantityValue(quantity: string): number {
  const match = /^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|K|M|G)?$/.exec(quantity);
  if (!match) return Number.NaN;
  return Number(match[1]) * (UNITS[match[2] ?? ''] ?? Number.NaN);
}

function requestsWithinLimits(resources: BuildStartData['resources']): string[] {
  const problems: string[] = [];
  for (const resource of ['cpu', 'memory'] as const) {
    const request = resources?.requests?.[resource];
    const limit = resources?.limits?.[resource];
    if (request !== undefined && limit !== undefined && quantityValue(request) > quantityValue(limit)) {
      problems.push(`resources.requests.${resource}: ${request} is more than the limit ${limit}`);
    }
  }
  return problems;
}

/**
 * Pure: the problems Knative Serving would find in the service this `build.start` asks for.
 * Checked before any work, so a build is never wasted on a service that cannot be deployed.
 */
export function servingLimitProblems(data: BuildStartData, limits: ServingLimits): string[] {
  const problems = requestsWithinLimits(data.resources);
  if (data.timeout_seconds !== undefined && data.timeout_seconds > limits.maxTimeoutSeconds) {
    problems.push(`timeout_seconds: ${data.timeout_seconds} is more than the cluster's limit of ${limits.maxTimeoutSeconds} (max-revision-timeout-seconds)`);
  }
  return problems;
}

export function checkServingLimits(data: BuildStartData, limits: ServingLimits): void {
  const problems = servingLimitProblems(data, limits);
  if (problems.length > 0) throw permanent('ServingLimitExceeded', 'Knative Serving would refuse this function', problems);
}
