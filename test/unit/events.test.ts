import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { isValidTraceparent, toEnvelope } from '../../lib/events/envelope.ts';
import { parseCommand } from '../../lib/events/incoming.ts';
import { outgoingEvent } from '../../lib/events/outgoing.ts';
import * as payloads from '../../lib/events/payloads.ts';
import { CONSUMED_KINDS, EMITTED_KINDS, EventKind, eventType, kindOf } from '../../lib/events/types.ts';
import { PlatformError } from '../../lib/errors.ts';

const PREFIX = 'network.notifi.lambda';
const TRACEPARENT = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

function event(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    id: 'evt-1',
    type: `${PREFIX}.build.start`,
    source: 'tests',
    data: { third_party_id: 'acme', parser_id: 'invoices' },
    ...overrides,
  };
}

function failure(fn: () => unknown): PlatformError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PlatformError);
    return error as PlatformError;
  }
  throw new Error('expected a failure');
}

describe('event types', () => {
  it('are built from the prefix and map back to their kind', () => {
    expect(eventType(PREFIX, EventKind.BuildStart)).toBe('network.notifi.lambda.build.start');
    expect(eventType('com.example', EventKind.ServiceReady)).toBe('com.example.service.ready');
    expect(kindOf(PREFIX, 'network.notifi.lambda.build.complete')).toBe(EventKind.BuildComplete);
    expect(kindOf(PREFIX, 'other.build.complete')).toBeUndefined();
    expect(kindOf(PREFIX, 'network.notifi.lambda.build.exploded')).toBeUndefined();
    expect(CONSUMED_KINDS).toEqual(['build.start', 'build.cancel', 'service.delete']);
    expect(EMITTED_KINDS).toContain('service.deleted');
  });
});

describe('parseCommand', () => {
  it('validates a build.start and carries correlation and trace context', () => {
    const command = parseCommand(PREFIX, event({ correlationid: 'corr-1', traceparent: TRACEPARENT, data: { third_party_id: 'acme', parser_id: 'invoices', env: { A: '1' }, scaling: { min_scale: 0, max_scale: 3 } } }));
    expect(command.kind).toBe('build.start');
    expect(command.correlation).toEqual({ correlationId: 'corr-1', traceparent: TRACEPARENT, tracestate: undefined });
  });

  it('falls back to the correlation_id field, then the event id', () => {
    expect(parseCommand(PREFIX, event({ data: { third_party_id: 'a', parser_id: 'b', correlation_id: 'from-data' } })).correlation.correlationId).toBe('from-data');
    expect(parseCommand(PREFIX, event()).correlation.correlationId).toBe('evt-1');
  });

  it('takes the identity from source and subject when the data lacks it (legacy producers)', () => {
    const command = parseCommand(PREFIX, event({ source: 'network.notifi.acme', subject: 'invoices', data: undefined }));
    expect(command.data).toMatchObject({ third_party_id: 'acme', parser_id: 'invoices' });
  });

  it('lists every payload problem', () => {
    const error = failure(() =>
      parseCommand(PREFIX, event({ data: { third_party_id: '../etc', parser_id: '', env: { PORT: '1', 'bad-name': 'x' }, scaling: { min_scale: 5, max_scale: 1 }, content_hash: 'nope', source: { key: '/abs/../x' } } })),
    );
    expect(error.statusCode).toBe(400);
    expect(error.reason).toBe('InvalidPayload');
    const text = error.details.join('\n');
    for (const field of ['third_party_id', 'parser_id', 'env', 'scaling', 'content_hash', 'source.key']) expect(text).toContain(field);
    expect(text).toContain('reserved');
  });

  it('refuses missing attributes, other types, non-object data and bad traceparent with 400', () => {
    expect(failure(() => parseCommand(PREFIX, event({ id: '', source: '' }))).details).toEqual(['id: required', 'source: required']);
    const unsupported = failure(() => parseCommand(PREFIX, event({ type: 'com.other.thing' })));
    expect(unsupported.reason).toBe('UnsupportedEventType');
    expect(unsupported.details[0]).toContain('network.notifi.lambda.build.start');
    expect(failure(() => parseCommand(PREFIX, event({ type: `${PREFIX}.build.complete` }))).reason).toBe('UnsupportedEventType');
    expect(failure(() => parseCommand(PREFIX, event({ data: 'text' }))).details).toContain('data: must be a JSON object');
    expect(failure(() => parseCommand(PREFIX, event({ traceparent: 'garbage' }))).details[0]).toContain('traceparent');
  });

  it('accepts service.delete and build.cancel', () => {
    expect(parseCommand(PREFIX, event({ type: `${PREFIX}.service.delete` })).kind).toBe('service.delete');
    expect(parseCommand(PREFIX, event({ type: `${PREFIX}.build.cancel`, data: { third_party_id: 'a', parser_id: 'b', build_id: 'build-b-123' } })).kind).toBe('build.cancel');
  });

  it('strips the sha256: prefix of content_hash', () => {
    const command = parseCommand(PREFIX, event({ data: { third_party_id: 'a', parser_id: 'b', content_hash: `sha256:${'0'.repeat(64)}` } }));
    expect((command.data as { content_hash: string }).content_hash).toBe('0'.repeat(64));
  });
});

describe('toEnvelope', () => {
  it('decodes JSON data from strings and bytes', () => {
    expect(toEnvelope({ id: '1', type: 't', source: 's', data: '{"a":1}' }).data).toEqual({ a: 1 });
    expect(toEnvelope({ id: '1', type: 't', source: 's', data: Buffer.from('{"a":2}') }).data).toEqual({ a: 2 });
    expect(toEnvelope({ id: '1', type: 't', source: 's', data_base64: Buffer.from('{"a":3}').toString('base64') }).data).toEqual({ a: 3 });
    expect(toEnvelope({ id: '1', type: 't', source: 's', data: 'plain' }).data).toBe('plain');
  });
});

describe('outgoingEvent', () => {
  it('carries correlation and trace context onto the emitted event', () => {
    const out = outgoingEvent(
      { prefix: PREFIX, source: '/builder' },
      EventKind.BuildStarted,
      { correlation_id: 'c', function_name: 'fn-x' },
      { correlationId: 'c', traceparent: TRACEPARENT },
      { now: new Date('2026-01-01T00:00:00Z') },
    );
    expect(out).toMatchObject({ type: `${PREFIX}.build.started`, source: '/builder', subject: 'fn-x', correlationid: 'c', traceparent: TRACEPARENT, time: '2026-01-01T00:00:00.000Z' });
    expect(out.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(outgoingEvent({ prefix: PREFIX, source: '/builder' }, EventKind.BuildStarted, { correlation_id: 'c', function_name: 'fn-x' }, { correlationId: 'c' }, { id: 'fixed' }).id).toBe('fixed');
  });
});

describe('traceparent', () => {
  it('accepts W3C trace context and refuses all-zero ids', () => {
    expect(isValidTraceparent(TRACEPARENT)).toBe(true);
    expect(isValidTraceparent(`00-${'0'.repeat(32)}-00f067aa0ba902b7-01`)).toBe(false);
    expect(isValidTraceparent(`00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`)).toBe(false);
  });
});

describe('emitted payload schemas', () => {
  it('describe every emitted kind', () => {
    const schemas = [payloads.buildStartedData, payloads.buildCompleteData, payloads.buildFailedData, payloads.buildTimeoutData, payloads.serviceReadyData, payloads.serviceFailedData, payloads.serviceDeletedData];
    expect(schemas).toHaveLength(EMITTED_KINDS.length);
  });
});
