/**
 * The door in front of every reader of CloudEvents over HTTP (the broker ingress, the
 * builder): it tells the content mode, checks the attributes and the data, and refuses
 * with a permanent error what no SDK or framework behind it should ever see. Pure.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { MIMEType } from 'node:util';
import { permanent, type PlatformError } from '../errors.ts';
import { attributeProblems, MAX_DATA_DEPTH, nestsDeeperThan } from './attributes.ts';
import { isJsonMediaType, mediaType } from './media-type.ts';

export type ContentMode = 'binary' | 'structured';

export interface AdmittedEvent {
  mode: ContentMode;
  /** The request's headers, with a structured mode's content type in the one spelling the SDK reads. */
  headers: Record<string, string>;
}

const STRUCTURED = 'application/cloudevents+json';
const EVENT_FORMAT_PREFIX = 'application/cloudevents';
const BATCH_PREFIX = 'application/cloudevents-batch';
const HEADER_PREFIX = 'ce-';
const POISONED = 'data: JSON keys __proto__ and constructor.prototype are refused';
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

function flatHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).flatMap(([name, value]) => (value === undefined ? [] : [[name, Array.isArray(value) ? value.join(', ') : value]])));
}

/** Keys fastify's JSON parser refuses (prototype poisoning): refused here in both modes, so the ingress never accepts what the builder would refuse. */
function hasPoisonedKey(value: unknown): boolean {
  const pending = [value];
  while (pending.length > 0) {
    const current = pending.pop();
    if (current === null || typeof current !== 'object') continue;
    for (const [key, child] of Object.entries(current)) {
      if (key === '__proto__' || (key === 'constructor' && child !== null && typeof child === 'object' && Object.hasOwn(child, 'prototype'))) return true;
      pending.push(child);
    }
  }
  return false;
}

function decodeUtf8(body: Uint8Array): string | undefined {
  try {
    return utf8.decode(body);
  } catch {
    return undefined;
  }
}

/** JSON text, or the problems that keep it from being read safely; `levels` is how deep it may nest. */
function readJson(what: string, body: Uint8Array, levels: number): { value?: unknown; problems: string[] } {
  const text = decodeUtf8(body);
  if (text === undefined) return { problems: [`${what}: must be UTF-8`] };
  if (nestsDeeperThan(text, levels)) return { problems: [`data: nested deeper than ${MAX_DATA_DEPTH} levels`] };
  try {
    return { value: JSON.parse(text), problems: [] };
  } catch (error) {
    return { problems: [`${what}: not JSON (${(error as Error).message})`] };
  }
}

function invalid(problems: string[]): PlatformError {
  return permanent('InvalidCloudEvent', `Invalid CloudEvent: ${problems.join('; ')}`, problems, 400);
}

function refuseIfAny(problems: string[]): void {
  if (problems.length > 0) throw invalid(problems);
}

function admitStructured(type: MIMEType, headers: Record<string, string>, body: Uint8Array): AdmittedEvent {
  const charset = type.params.get('charset');
  if (type.essence !== STRUCTURED || (charset !== null && charset.toLowerCase() !== 'utf-8')) {
    throw permanent('UnsupportedEventFormat', `Structured content mode takes the JSON event format only (${STRUCTURED}, UTF-8), not ${type.essence}`, [], 400);
  }
  const { value, problems } = readJson('body', body, MAX_DATA_DEPTH + 1);
  refuseIfAny(problems);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(['body: must be a JSON object']);
  const event = value as Record<string, unknown>;
  refuseIfAny([...attributeProblems(event), ...(hasPoisonedKey(event.data) ? [POISONED] : [])]);
  return { mode: 'structured', headers: { ...headers, 'content-type': STRUCTURED } };
}

function admitBinary(headers: Record<string, string>, body: Uint8Array): AdmittedEvent {
  const contentType = headers['content-type'];
  const attributes: Record<string, unknown> = Object.fromEntries(Object.entries(headers).filter(([name]) => name.startsWith(HEADER_PREFIX)).map(([name, value]) => [name.slice(HEADER_PREFIX.length), value]));
  const problems = 'datacontenttype' in attributes ? ['datacontenttype: in binary mode it is the Content-Type header, not ce-datacontenttype'] : [];
  if ('data' in attributes || 'data_base64' in attributes) problems.push('data: in binary mode it is the body, not a ce- header');
  problems.push(...attributeProblems({ ...attributes, data: undefined, data_base64: undefined, datacontenttype: contentType }));
  if (body.length > 0 && isJsonMediaType(mediaType(contentType))) {
    const { value, problems: dataProblems } = readJson('data', body, MAX_DATA_DEPTH);
    problems.push(...dataProblems);
    if (hasPoisonedKey(value)) problems.push(POISONED);
  }
  refuseIfAny(problems);
  // An event without data has no data content type; a JSON content type with an empty body is one fastify refuses.
  return { mode: 'binary', headers: body.length > 0 ? headers : Object.fromEntries(Object.entries(headers).filter(([name]) => name !== 'content-type')) };
}

/**
 * Admits one CloudEvent in binary or structured content mode, or throws a permanent
 * error: `NotACloudEvent`, `BatchModeUnsupported`, `UnsupportedEventFormat` or
 * `InvalidCloudEvent` with every problem found.
 */
export function admitCloudEvent(requestHeaders: IncomingHttpHeaders, body: Uint8Array): AdmittedEvent {
  const headers = flatHeaders(requestHeaders);
  const type = mediaType(headers['content-type']);
  if (type?.essence.startsWith(BATCH_PREFIX)) {
    throw permanent('BatchModeUnsupported', 'Batched content mode is not supported: send one CloudEvent per request, in binary or structured mode', [], 400);
  }
  if (type?.essence.startsWith(EVENT_FORMAT_PREFIX)) return admitStructured(type, headers, body);
  if (Object.keys(headers).some((name) => name.startsWith(HEADER_PREFIX))) return admitBinary(headers, body);
  throw permanent('NotACloudEvent', 'This endpoint accepts CloudEvents only (binary or structured content mode)', [], 400);
}

/** Whether a request claims to carry a CloudEvent, as the SDK's detection sees it: an event content type or ce- headers. */
export function carriesCloudEvent(requestHeaders: IncomingHttpHeaders): boolean {
  const contentType = requestHeaders['content-type']?.trim().toLowerCase();
  return contentType?.startsWith(EVENT_FORMAT_PREFIX) === true || Object.keys(requestHeaders).some((name) => name.startsWith(HEADER_PREFIX));
}
