// Requests a hostile client could send to the builder or the broker ingress: valid and
// invalid CloudEvents in every content mode, deep JSON, batches, truncated and oversized
// bodies. Shared by the fuzz test and the memory benchmark.
import fc from 'fast-check';
import { attributeMap, commandData, commandType, data, legalAttributeMap, nested } from './cloudevent-arbitraries.ts';

const ONE_MIB = 1024 * 1024;
/** The seed CI and the memory bench use, so that both send the same requests. */
export const FUZZ_SEED = 20_261_130;

interface Shape {
  kind: string;
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
}

export interface FuzzRequest extends Shape {
  target: 'builder' | 'ingress';
}

/** What undici's dispatcher lets through in a header value (stricter than `new Headers()`). */
const DISPATCHABLE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Header pairs fetch sends unchanged; the others are left out (a server never sees them). */
function sendable(pairs: Array<[string, string]>): Record<string, string> {
  return Object.fromEntries(
    pairs.filter(([name, value]) => {
      try {
        return DISPATCHABLE.test(value) && new Headers([[name, value]]).get(name) === value;
      } catch {
        return false;
      }
    }),
  );
}

const event = fc.tuple(attributeMap, data);

const STRUCTURED: Record<string, string> = { 'content-type': 'application/cloudevents+json' };
const binaryAttributes = (id: string): Record<string, string> => ({ 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': id, 'ce-source': 'fuzz', 'ce-type': 'network.notifi.lambda.build.start' });

const structuredContentType = fc.oneof(
  { weight: 9, arbitrary: fc.constantFrom('application/cloudevents+json', 'application/cloudevents+json; charset=utf-8', 'Application/CloudEvents+JSON;charset=UTF-8') },
  { weight: 1, arbitrary: fc.constant('application/cloudevents+json; charset=latin1') },
);

const asStructured = (kind: string, events: fc.Arbitrary<[Record<string, unknown>, unknown]>): fc.Arbitrary<Shape & { body: string }> =>
  fc.tuple(events, structuredContentType).map(([[attributes, payload], contentType]) => ({ kind, headers: { 'content-type': contentType }, body: JSON.stringify({ ...attributes, data: payload }) }));

const structured = asStructured('structured', event);

const binaryBody = fc.oneof(
  data.map((payload) => JSON.stringify(payload)),
  fc.string({ maxLength: 60 }),
  fc.integer({ min: 1, max: 200 }).map(nested),
  fc.constant(''),
);

const asBinary = (kind: string, attributeMaps: fc.Arbitrary<Record<string, unknown>>, bodies: fc.Arbitrary<string>): fc.Arbitrary<Shape> => fc.tuple(attributeMaps, bodies, fc.option(fc.constantFrom('application/json', 'text/plain', 'application/octet-stream', 'application/vnd.x+json; charset=utf-8', 'garbage', 'application/json; charset="'))).map(([attributes, body, contentType]) => {
  const pairs = Object.entries(attributes).map(([name, value]): [string, string] => [`ce-${name}`, typeof value === 'string' ? value : (JSON.stringify(value) ?? '')]);
  if (typeof attributes.datacontenttype === 'string') pairs.push(['content-type', attributes.datacontenttype]);
  else if (contentType !== null) pairs.push(['content-type', contentType]);
  return { kind, headers: sendable(pairs), body };
});

const binary = asBinary('binary', attributeMap, binaryBody);

/** Commands with legal attributes, whose payloads are right or wrong and whose sources do not exist. */
const commandAttributes = fc.tuple(legalAttributeMap, commandType).map(([attributes, type]) => ({ ...attributes, type }));
const command = fc.oneof(asStructured('command', fc.tuple(commandAttributes, commandData)), asBinary('command', commandAttributes, commandData.map((payload) => JSON.stringify(payload))));

const deep: fc.Arbitrary<Shape> = fc.tuple(fc.oneof(fc.integer({ min: 60, max: 70 }), fc.integer({ min: 500, max: 5000 })), fc.boolean()).map(([depth, asStructured]) =>
  asStructured
    ? { kind: 'deep', headers: STRUCTURED, body: `{"specversion":"1.0","id":"deep","source":"fuzz","type":"network.notifi.lambda.service.delete","data":${nested(depth)}}` }
    : { kind: 'deep', headers: binaryAttributes('deep'), body: nested(depth) },
);

const batch: fc.Arbitrary<Shape> = fc.array(event, { maxLength: 3 }).map((events) => ({ kind: 'batch', headers: { 'content-type': 'application/cloudevents-batch+json' }, body: JSON.stringify(events.map(([attributes, payload]) => ({ ...attributes, data: payload }))) }));

const truncated: fc.Arbitrary<Shape> = fc.tuple(structured, fc.double({ min: 0, max: 1, noNaN: true })).map(([request, at]) => ({ ...request, kind: 'truncated', body: request.body.slice(0, Math.floor(request.body.length * at)) }));

const wrongContentType: fc.Arbitrary<Shape> = fc.tuple(event, fc.option(fc.constantFrom('text/plain', 'application/xml', 'application/json', 'application/cloudevents+xml', 'application/cloudevents', 'multipart/form-data; boundary=x', 'application/x-www-form-urlencoded', '*/*', ';;;'))).map(([[attributes, payload], contentType]) => ({
  kind: 'wrong-content-type',
  headers: Object.fromEntries(contentType === null ? [] : [['content-type', contentType]]),
  body: JSON.stringify({ ...attributes, data: payload }),
}));

const notUtf8: fc.Arbitrary<Shape> = fc.uint8Array({ minLength: 1, maxLength: 64 }).map((bytes) => ({ kind: 'bytes', headers: STRUCTURED, body: Uint8Array.from([0x7b, 0xff, ...bytes]) }));

const oversized: fc.Arbitrary<FuzzRequest> = fc.tuple(fc.constantFrom('structured', 'binary'), fc.constantFrom('builder' as const, 'ingress' as const)).map(([mode, target]) => ({
  kind: 'oversized',
  target,
  headers: mode === 'binary' ? binaryAttributes('big') : STRUCTURED,
  body: JSON.stringify({ specversion: '1.0', id: 'big', source: 'fuzz', type: 'network.notifi.lambda.build.start', data: { padding: 'x'.repeat(ONE_MIB) } }),
}));

const fuzzRequest: fc.Arbitrary<FuzzRequest> = fc
  .tuple(
    fc.oneof(
      { weight: 30, arbitrary: command },
      { weight: 20, arbitrary: structured },
      { weight: 20, arbitrary: binary },
      { weight: 5, arbitrary: deep },
      { weight: 5, arbitrary: batch },
      { weight: 8, arbitrary: truncated },
      { weight: 8, arbitrary: wrongContentType },
      { weight: 3, arbitrary: notUtf8 },
    ),
    fc.constantFrom('builder' as const, 'ingress' as const),
  )
  .map(([request, target]) => ({ ...request, target }));

/** `runs` generated requests and four over the size cap, the same for the same seed. */
export function fuzzRequests(runs: number, seed: number): FuzzRequest[] {
  return [...fc.sample(fuzzRequest, { numRuns: runs, seed }), ...fc.sample(oversized, { numRuns: 4, seed })];
}
