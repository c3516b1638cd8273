// Generated events, valid and hostile, against the builder and the broker ingress of a
// running platform: nothing a client sends may be answered with a 5xx, stop the platform,
// or be accepted by the ingress and then lost to a network error or a 5xx.
import { setTimeout as sleep } from 'node:timers/promises';
import fc from 'fast-check';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { attributeMap, commandData, commandType, data, legalAttributeMap, nested } from '../support/cloudevent-arbitraries.ts';

const RUNS = Number(process.env.KL_FUZZ_RUNS ?? 10_000);
/** Fixed, so that every CI run sends the same events; set KL_FUZZ_SEED to explore others. */
const SEED = Number(process.env.KL_FUZZ_SEED ?? 20_261_130);
const CONCURRENCY = 20;
/** Longer than the embedded broker's whole retry schedule at the test backoff (50 ms doubling, 5 retries). */
const QUIET_MS = 3000;
const ONE_MIB = 1024 * 1024;

interface Shape {
  kind: string;
  headers: Record<string, string>;
  body: string | Uint8Array<ArrayBuffer>;
}

interface FuzzRequest extends Shape {
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

interface Answer {
  request: FuzzRequest;
  status: number;
  body: string;
}

let requests: FuzzRequest[];
let platform: TestPlatform;
let builderUrl: string;

beforeAll(async () => {
  // Generated first: generation blocks the event loop, and a kept-alive connection the platform closes meanwhile would fail the first request.
  requests = [...fc.sample(fuzzRequest, { numRuns: RUNS, seed: SEED }), ...fc.sample(oversized, { numRuns: 4, seed: SEED })];
  platform = await startPlatform({ KL_LOG_LEVEL: 'warn' });
  builderUrl = (await platform.api<{ builderUrl: string }>('/api/platform')).builderUrl;
});
afterAll(async () => {
  await platform?.stop();
});

async function send(request: FuzzRequest): Promise<Answer> {
  const url = request.target === 'builder' ? builderUrl : `${platform.url}/events`;
  try {
    const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
    return { request, status: response.status, body: (await response.text()).slice(0, 300) };
  } catch (error) {
    return { request, status: 0, body: String((error as Error).cause ?? error) };
  }
}

/** Waits until the feed has had no new entry for QUIET_MS: every delivery and retry is over. */
async function settle(): Promise<void> {
  let last = 0;
  let quietSince = Date.now();
  while (Date.now() - quietSince < QUIET_MS) {
    const entries = await platform.api<Array<{ seq: number }>>(`/api/events?after=${last}`);
    if (entries.length > 0) {
      last = Math.max(...entries.map((entry) => entry.seq));
      quietSince = Date.now();
    }
    await sleep(250);
  }
}

function summary(answers: Answer[]): string {
  return answers
    .slice(0, 5)
    .map((a) => `${a.request.target} ${a.request.kind} → ${a.status} ${a.body}\n  headers ${JSON.stringify(a.request.headers).slice(0, 400)}\n  body ${String(a.request.body).slice(0, 200)}`)
    .join('\n');
}

describe(`${RUNS} generated events against the builder and the ingress (seed ${SEED})`, () => {
  it('get no 5xx, leave the platform up, and lose no accepted event to a 5xx or a network error', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const limit = pLimit(CONCURRENCY);
    const answers = await Promise.all(requests.map((request) => limit(() => send(request))));

    // Past the cap the server closes the connection while a client may still be writing.
    const unanswered = answers.filter((a) => a.status === 0 && a.request.kind !== 'oversized');
    expect(unanswered, summary(unanswered)).toEqual([]);
    const failed = answers.filter((a) => a.status >= 500);
    expect(failed, summary(failed)).toEqual([]);
    expect(answers.filter((a) => a.request.kind === 'oversized' && a.status !== 0).every((a) => a.status === 413)).toBe(true);
    const shapeless = answers.filter((a) => a.status >= 400 && !/^\{"error":"\w+","message":/.test(a.body));
    expect(shapeless, summary(shapeless)).toEqual([]);

    expect((await fetch(`${platform.url}/health/liveness`)).status).toBe(200);
    expect((await fetch(new URL('/health/liveness', builderUrl))).status).toBe(200);

    await settle();
    const deadLetters = await platform.api<Array<{ event: { id: string; type: string }; status: number; reason: string }>>('/api/dead-letters');
    const lost = deadLetters.filter((d) => d.status === 0 || d.status >= 500);
    expect(lost, JSON.stringify(lost.slice(0, 5), null, 1)).toEqual([]);

    const accepted = answers.filter((a) => a.request.target === 'ingress' && a.status === 202).length;
    const byStatus = Object.entries(Object.groupBy(answers, (a) => `${a.request.target} ${a.status} ${/"error":"(\w+)"/.exec(a.body)?.[1] ?? ''}`)).map(([key, group]) => `${key}: ${group?.length}`);
    process.stdout.write(`event fuzz: ${answers.length} requests, ${accepted} accepted by the ingress, ${deadLetters.length} dead letters (all 4xx), ${((Date.now() - started) / 1000).toFixed(1)}s, seed ${SEED}\n  ${byStatus.sort().join('\n  ')}\n`);
  });
});
