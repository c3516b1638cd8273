import { randomUUID } from 'node:crypto';
import type { Correlation, EventEnvelope } from './envelope.ts';
import { eventType, type EmittedKind } from './types.ts';

export interface EmitContext {
  prefix: string;
  source: string;
}

export interface EmitOptions {
  /** A deterministic id makes a repeated announcement the same event, which consumers drop. */
  id?: string | undefined;
  now?: Date | undefined;
}

/** Builds an emitted event that carries the correlation id and trace context of its cause. */
export function outgoingEvent<T extends { correlation_id: string; function_name: string }>(
  context: EmitContext,
  kind: EmittedKind,
  data: T,
  correlation: Correlation,
  { id, now = new Date() }: EmitOptions = {},
): EventEnvelope {
  return {
    id: id ?? randomUUID(),
    type: eventType(context.prefix, kind),
    source: context.source,
    subject: data.function_name,
    time: now.toISOString(),
    datacontenttype: 'application/json',
    data,
    correlationid: correlation.correlationId,
    traceparent: correlation.traceparent,
    tracestate: correlation.tracestate,
  };
}
