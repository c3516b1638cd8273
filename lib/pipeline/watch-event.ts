import { ApiServerEventType } from '../events/apiserver.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import { Labels, MANAGED_BY } from '../naming.ts';

export type WatchDecision =
  | { action: 'reconcile'; target: 'build' | 'service'; name: string; namespace: string; dedupeKey: string }
  | { action: 'ignore'; why: string };

interface WatchedObject {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string; labels?: Record<string, string> };
}

const TARGETS: Record<string, 'build' | 'service'> = {
  'batch/v1/Job': 'build',
  'serving.knative.dev/v1/Service': 'service',
};

/**
 * Pure: which object an ApiServerSource event is about, and whether it is ours. The decision
 * never depends on add versus update: the reconcile step reads the object's current state.
 * Deletes need nothing (a deleted Job's outcome was announced or no longer matters).
 * An id names one watch event (the adapter's retries and a broker's redeliveries keep it), not
 * the object's state, which can come again under another id (a second adapter replica, a watch
 * re-established after it expired): duplicates are recognised by uid + resourceVersion.
 */
export function decideWatchEvent(event: EventEnvelope, namespace: string): WatchDecision {
  if (event.type !== ApiServerEventType.Add && event.type !== ApiServerEventType.Update && event.type !== ApiServerEventType.Delete) {
    return { action: 'ignore', why: `not an ApiServerSource resource event: ${event.type}` };
  }
  if (event.type === ApiServerEventType.Delete) return { action: 'ignore', why: 'deletions need no action' };
  const object = (event.data ?? {}) as WatchedObject;
  const target = TARGETS[`${object.apiVersion}/${object.kind}`];
  if (!target) return { action: 'ignore', why: `not a watched kind: ${object.apiVersion}/${object.kind}` };
  const { metadata } = object;
  if (!metadata?.name || !metadata.uid || !metadata.resourceVersion) return { action: 'ignore', why: 'object without name, uid or resourceVersion' };
  if (metadata.labels?.[Labels.ManagedBy] !== MANAGED_BY) return { action: 'ignore', why: `${metadata.name} is not managed by ${MANAGED_BY}` };
  if (metadata.namespace !== namespace) return { action: 'ignore', why: `${metadata.name} is in namespace ${metadata.namespace}, not ${namespace}` };
  return { action: 'reconcile', target, name: metadata.name, namespace, dedupeKey: `${metadata.uid}/${metadata.resourceVersion}` };
}

/** A bounded memory of handled uid/resourceVersion pairs. An optimisation only: the announced marks are the real guard. */
export class RecentKeys {
  private readonly keys = new Set<string>();
  private readonly capacity: number;
  constructor(capacity = 10_000) {
    this.capacity = capacity;
  }
  /** True the first time a key is seen. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false;
    this.keys.add(key);
    if (this.keys.size > this.capacity) this.keys.delete(this.keys.values().next().value as string);
    return true;
  }
  forget(key: string): void {
    this.keys.delete(key);
  }
}
