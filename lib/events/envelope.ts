/**
 * A CloudEvent as the pipeline sees it, independent of the SDK class and transport.
 * Extensions the platform relies on are first-class fields.
 */
export interface EventEnvelope {
  id: string;
  type: string;
  source: string;
  subject?: string | undefined;
  time?: string | undefined;
  datacontenttype?: string | undefined;
  data?: unknown;
  correlationid?: string | undefined;
  traceparent?: string | undefined;
  tracestate?: string | undefined;
  /** Set by Knative on an event its broker gave up delivering (knativeerrordest, -code, -data). */
  deadLetter?: DeadLetterInfo | undefined;
}

export interface DeadLetterInfo {
  destination: string;
  code?: string | undefined;
  data?: string | undefined;
}

/** The trace context and correlation every event emitted for an incoming event carries on. */
export interface Correlation {
  correlationId: string;
  traceparent?: string | undefined;
  tracestate?: string | undefined;
}

const TRACEPARENT = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;

export function isValidTraceparent(value: string): boolean {
  return TRACEPARENT.test(value) && !/^[0-9a-f]{2}-0{32}-/.test(value) && !/-0{16}-[0-9a-f]{2}$/.test(value);
}

/** Reads any CloudEvent-shaped object (SDK class or parsed JSON) into an envelope. */
export function toEnvelope(event: Record<string, unknown>): EventEnvelope {
  const text = (key: string): string | undefined => (typeof event[key] === 'string' ? (event[key] as string) : undefined);
  return {
    id: text('id') ?? '',
    type: text('type') ?? '',
    source: text('source') ?? '',
    subject: text('subject'),
    time: text('time'),
    datacontenttype: text('datacontenttype'),
    data: decodeData(event.data ?? (event.data_base64 !== undefined ? Buffer.from(String(event.data_base64), 'base64') : undefined)),
    correlationid: text('correlationid'),
    traceparent: text('traceparent'),
    tracestate: text('tracestate'),
    deadLetter: text('knativeerrordest') === undefined ? undefined : { destination: text('knativeerrordest') ?? '', code: text('knativeerrorcode'), data: text('knativeerrordata') },
  };
}

/** JSON data may arrive as an object, a string or bytes depending on content mode and content type. */
function decodeData(data: unknown): unknown {
  if (data instanceof Uint8Array) return parseJsonOrKeep(Buffer.from(data).toString('utf8'));
  if (typeof data === 'string') return parseJsonOrKeep(data);
  return data;
}

function parseJsonOrKeep(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}
