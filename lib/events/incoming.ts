import type { z } from 'zod';
import { permanent } from '../errors.ts';
import { describeIssues } from '../validation.ts';
import type { Correlation, EventEnvelope } from './envelope.ts';
import { isValidTraceparent } from './envelope.ts';
import {
  buildCancelData,
  buildStartData,
  serviceDeleteData,
  type BuildCancelData,
  type BuildStartData,
  type ServiceDeleteData,
} from './payloads.ts';
import { EventKind, kindOf, LEGACY_SOURCE_PREFIX, type ConsumedKind } from './types.ts';

export type Command =
  | { kind: typeof EventKind.BuildStart; data: BuildStartData; correlation: Correlation; event: EventEnvelope }
  | { kind: typeof EventKind.BuildCancel; data: BuildCancelData; correlation: Correlation; event: EventEnvelope }
  | { kind: typeof EventKind.ServiceDelete; data: ServiceDeleteData; correlation: Correlation; event: EventEnvelope };

const schemas = {
  [EventKind.BuildStart]: buildStartData,
  [EventKind.BuildCancel]: buildCancelData,
  [EventKind.ServiceDelete]: serviceDeleteData,
} satisfies Record<ConsumedKind, z.ZodType>;

/**
 * Turns an incoming event into a validated command, or throws a permanent error
 * that lists every problem. Pure: no I/O.
 */
export function parseCommand(prefix: string, event: EventEnvelope): Command {
  const attributeProblems = checkAttributes(event);
  if (attributeProblems.length > 0) throw permanent('InvalidEvent', 'The CloudEvent is missing required attributes', attributeProblems, 400);

  const kind = kindOf(prefix, event.type);
  if (kind === undefined || !(kind in schemas)) {
    const accepted = Object.keys(schemas).map((k) => `${prefix}.${k}`);
    throw permanent('UnsupportedEventType', `Event type "${event.type}" is not handled here`, [`accepted types: ${accepted.join(', ')}`], 400);
  }

  const schema = schemas[kind as ConsumedKind];
  const result = schema.safeParse(withLegacyIdentity(event));
  if (!result.success) {
    const details = describeIssues(result.error.issues);
    throw permanent('InvalidPayload', `Invalid ${kind} payload`, details, 400);
  }
  const data = result.data as { correlation_id?: string };
  const correlation: Correlation = {
    correlationId: event.correlationid ?? data.correlation_id ?? event.id,
    traceparent: event.traceparent !== undefined && isValidTraceparent(event.traceparent) ? event.traceparent : undefined,
    tracestate: event.tracestate,
  };
  return { kind, data: result.data, correlation, event } as Command;
}

function checkAttributes(event: EventEnvelope): string[] {
  const problems: string[] = [];
  if (!event.id) problems.push('id: required');
  if (!event.source) problems.push('source: required');
  if (!event.type) problems.push('type: required');
  if (event.data !== undefined && event.data !== null && (typeof event.data !== 'object' || Array.isArray(event.data))) {
    problems.push('data: must be a JSON object');
  }
  if (event.traceparent !== undefined && !isValidTraceparent(event.traceparent)) {
    problems.push('traceparent: must be a W3C trace context (00-<32 hex>-<16 hex>-<2 hex>)');
  }
  return problems;
}

/** The tenant a `network.notifi.<tenant>` source names, if it names one. */
export function tenantOfSource(source: string): string | undefined {
  return source.startsWith(LEGACY_SOURCE_PREFIX) ? source.slice(LEGACY_SOURCE_PREFIX.length) : undefined;
}

/** Fills `third_party_id`/`parser_id` from `source`/`subject` when the data lacks them. */
export function withLegacyIdentity(event: EventEnvelope): Record<string, unknown> {
  const data = { ...((event.data as Record<string, unknown> | null | undefined) ?? {}) };
  const sourceTenant = tenantOfSource(event.source);
  if (data.third_party_id === undefined && sourceTenant !== undefined) data.third_party_id = sourceTenant;
  if (data.parser_id === undefined && event.subject) {
    data.parser_id = event.subject;
  }
  return data;
}
