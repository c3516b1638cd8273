/** Suffixes of every event type; the full type is `<prefix>.<suffix>`. */
export const EventKind = {
  BuildStart: 'build.start',
  BuildCancel: 'build.cancel',
  ServiceDelete: 'service.delete',
  BuildStarted: 'build.started',
  BuildComplete: 'build.complete',
  BuildFailed: 'build.failed',
  BuildTimeout: 'build.timeout',
  ServiceReady: 'service.ready',
  ServiceFailed: 'service.failed',
  ServiceDeleted: 'service.deleted',
} as const;

export type EventKind = (typeof EventKind)[keyof typeof EventKind];

export const CONSUMED_KINDS = [EventKind.BuildStart, EventKind.BuildCancel, EventKind.ServiceDelete] as const;
export type ConsumedKind = (typeof CONSUMED_KINDS)[number];

export const EMITTED_KINDS = [
  EventKind.BuildStarted,
  EventKind.BuildComplete,
  EventKind.BuildFailed,
  EventKind.BuildTimeout,
  EventKind.ServiceReady,
  EventKind.ServiceFailed,
  EventKind.ServiceDeleted,
] as const;
export type EmittedKind = (typeof EMITTED_KINDS)[number];

/** CloudEvents extension attribute names (lowercase alphanumerics, as the spec requires). */
export const Extension = {
  CorrelationId: 'correlationid',
  TraceParent: 'traceparent',
  TraceState: 'tracestate',
} as const;

export function eventType(prefix: string, kind: EventKind): string {
  return `${prefix}.${kind}`;
}

/** The kind of a full type under the given prefix, or undefined when it is not ours. */
export function kindOf(prefix: string, type: string): EventKind | undefined {
  if (!type.startsWith(`${prefix}.`)) return undefined;
  const suffix = type.slice(prefix.length + 1);
  return (Object.values(EventKind) as string[]).includes(suffix) ? (suffix as EventKind) : undefined;
}

/** Legacy identity fallback: `source` = `network.notifi.<third_party_id>`, `subject` = `<parser_id>`. */
export const LEGACY_SOURCE_PREFIX = 'network.notifi.';
