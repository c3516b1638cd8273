import { CloudEvent, HTTP } from 'cloudevents';
import type { ContentMode } from '../../events/admission.ts';
import type { EventEnvelope } from '../../events/envelope.ts';
import { isJsonMediaType, mediaType } from '../../events/media-type.ts';
import { transient } from '../../errors.ts';
import type { EventSink } from '../../ports/event-sink.ts';

export interface HttpMessage {
  mode: ContentMode;
  headers: Record<string, string>;
  body: string | undefined;
}

/**
 * A header value that fetch sends and a server reads back unchanged: Latin-1 without
 * control characters, and without the leading or trailing spaces both ends strip.
 */
const HEADER_SAFE = /^[\x21-\x7e\xa0-\xff](?:[\x20-\x7e\xa0-\xff]*[\x21-\x7e\xa0-\xff])?$/;
/** Half of Node's default limit on a request's headers (16 KiB), leaving room for the rest. */
const MAX_BINARY_HEADER_BYTES = 8 * 1024;

/** The SDK event for an envelope; undefined extensions are left out, as the spec requires. */
export function toCloudEvent(event: EventEnvelope): CloudEvent<unknown> {
  const { deadLetter, ...attributes } = event;
  const knative = deadLetter ? { knativeerrordest: deadLetter.destination, knativeerrorcode: deadLetter.code, knativeerrordata: deadLetter.data } : {};
  const defined = Object.entries({ ...attributes, ...knative }).filter(([key, value]) => value !== undefined && !(key === 'datacontenttype' && event.data === undefined));
  return new CloudEvent(Object.fromEntries(defined) as ConstructorParameters<typeof CloudEvent>[0], false);
}

/** JSON data is sent as JSON text, even a string; other data as it is. */
function binaryBody(event: CloudEvent<unknown>): string | undefined {
  if (event.data === undefined || event.data === null) return undefined;
  if (typeof event.data === 'string' && !isJsonMediaType(mediaType(event.datacontenttype ?? 'application/json'))) return event.data;
  return JSON.stringify(event.data);
}

function binary(event: CloudEvent<unknown>): HttpMessage {
  const headers = { ...(HTTP.binary(event).headers as Record<string, string>) };
  const body = binaryBody(event);
  if (body === undefined) delete headers['content-type'];
  return { mode: 'binary', headers, body };
}

function fitsHeaders(headers: Record<string, string>): boolean {
  const values = Object.values(headers);
  return values.every((value) => HEADER_SAFE.test(value)) && Object.entries(headers).reduce((bytes, [name, value]) => bytes + name.length + value.length + 4, 0) <= MAX_BINARY_HEADER_BYTES;
}

/**
 * Binary content mode, as Knative's broker delivers; structured mode when an attribute
 * cannot travel as an HTTP header (characters outside Latin-1, surrounding spaces, size).
 * An event without data is sent without a body and without a content type.
 */
export function httpMessage(event: EventEnvelope): HttpMessage {
  return messageOf(toCloudEvent(event));
}

function messageOf(cloudEvent: CloudEvent<unknown>): HttpMessage {
  const message = binary(cloudEvent);
  if (fitsHeaders(message.headers)) return message;
  const structured = HTTP.structured(cloudEvent);
  return { mode: 'structured', headers: structured.headers as Record<string, string>, body: structured.body as string };
}

/**
 * What the function returns for a reply event: the SDK event, which faas-js-runtime sends
 * in binary mode, or a structured-mode reply when the attributes cannot be headers.
 */
export function replyOf(event: EventEnvelope): CloudEvent<unknown> | { statusCode: number; headers: Record<string, string>; body: string | undefined } {
  const cloudEvent = toCloudEvent(event);
  const { mode, headers, body } = messageOf(cloudEvent);
  return mode === 'binary' ? cloudEvent : { statusCode: 200, headers, body };
}

/** Posts events to a broker (Knative's K_SINK, or the embedded broker's ingress). */
export class HttpEventSink implements EventSink {
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  async emit(event: EventEnvelope): Promise<void> {
    const message = httpMessage(event);
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers: message.headers, body: message.body, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw transient('BrokerUnreachable', `The broker at ${this.url} is unreachable: ${(error as Error).message}`, error);
    }
    await response.arrayBuffer();
    if (!response.ok) throw transient('BrokerRejected', `The broker at ${this.url} answered ${response.status}`);
  }
}
