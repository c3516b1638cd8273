import { ApiException } from '@kubernetes/client-node';
import { PlatformError, transient, isTransientNetworkError } from '../../errors.ts';

export function statusOf(error: unknown): number | undefined {
  return error instanceof ApiException ? error.code : undefined;
}

/**
 * Every write asks for strict field validation: a field the apiserver's schema does not know
 * is refused (and surfaces as our bug), where the default would drop it with a warning.
 */
export const STRICT_FIELD_VALIDATION = 'Strict';

export const isNotFound = (error: unknown): boolean => statusOf(error) === 404;
export const isAlreadyExists = (error: unknown): boolean => statusOf(error) === 409;

/**
 * A failed Kubernetes call as a PlatformError. Refusals (401/403) and server trouble are
 * transient: the event is fine, so the broker retries while the operator fixes RBAC or
 * the apiserver recovers. A request the apiserver finds invalid is our bug: unknown.
 */
export function kubernetesError(error: unknown, action: string): PlatformError {
  if (error instanceof PlatformError) return error;
  const status = statusOf(error);
  const detail = error instanceof ApiException ? (typeof error.body === 'string' ? error.body : JSON.stringify(error.body)).slice(0, 500) : (error as Error).message;
  if (status === 401 || status === 403) return transient('KubernetesForbidden', `Kubernetes refused to ${action} (${status}): ${detail}`, error);
  if (status === 429 || (status !== undefined && status >= 500) || isTransientNetworkError(error) || status === undefined) {
    return transient('KubernetesUnavailable', `Kubernetes failed to ${action}${status === undefined ? '' : ` (${status})`}: ${detail}`, error);
  }
  return new PlatformError('unknown', 'KubernetesRejected', `Kubernetes rejected the request to ${action} (${status}): ${detail}`, 500, [], { cause: error });
}
