import { CloudEvent, HTTP } from 'cloudevents';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { httpMessage } from '../../lib/adapters/events/http-sink.ts';
import { admitCloudEvent } from '../../lib/events/admission.ts';
import { attributeProblems, MAX_DATA_DEPTH, MAX_EXTENSIONS, MAX_PROBLEMS, nestsDeeperThan } from '../../lib/events/attributes.ts';
import { toEnvelope, type EventEnvelope } from '../../lib/events/envelope.ts';
import { PlatformError } from '../../lib/errors.ts';
import { attributeMap, attributeName, attributeValue, data, legalAttributeMap, nested } from '../support/cloudevent-arbitraries.ts';

const valid = { specversion: '1.0', id: 'e1', source: 'tests', type: 'network.notifi.lambda.build.start' };

function refusal(fn: () => unknown): PlatformError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(PlatformError);
    return error as PlatformError;
  }
  throw new Error('expected a refusal');
}

function admits(admit: () => unknown): boolean {
  try {
    admit();
    return true;
  } catch {
    return false;
  }
}

const structured = (event: unknown) => admitCloudEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from(typeof event === 'string' ? event : JSON.stringify(event)));

describe('attributeProblems', () => {
  it('accepts a valid event, with extensions of the three scalar types', () => {
    expect(attributeProblems({ ...valid, subject: 'fn', time: '2026-11-26T10:00:00Z', datacontenttype: 'application/json', correlationid: 'é日本', count: 3, flag: true })).toEqual([]);
  });

  it('lists every problem, each naming its attribute', () => {
    const problems = attributeProblems({ specversion: '0.3', id: '', source: 'a b', time: 'yesterday', datacontenttype: 'json', 'Bad-Name': 'x', subject: 'a\u0000b', tracestate: 'x\ud800', ratio: 1.5, schemaurl: 'x' });
    expect(problems).toEqual(
      expect.arrayContaining([
        'type: required',
        'specversion: must be 1.0',
        'id: must not be empty',
        expect.stringMatching(/^source: must match format "uri-reference"/),
        expect.stringMatching(/^time: must be an RFC 3339 timestamp/),
        expect.stringMatching(/^datacontenttype: must be a media type/),
        expect.stringMatching(/^"Bad-Name": attribute names are 1 to 20 lowercase letters/),
        expect.stringMatching(/^subject: must not contain control characters/),
        expect.stringMatching(/^tracestate: must be valid Unicode/),
        'ratio: must be a string, a boolean or a 32-bit integer',
        expect.stringMatching(/^schemaurl: a CloudEvents 0.3 attribute/),
      ]),
    );
  });

  it('caps names, values and the count of extensions', () => {
    expect(attributeProblems({ ...valid, abcdefghijklmnopqrstu: 'x' })[0]).toMatch(/at most|1 to 20/);
    expect(attributeProblems({ ...valid, id: 'i'.repeat(257) })).toEqual(['id: at most 256 characters (got 257)']);
    expect(attributeProblems({ ...valid, correlationid: 'c'.repeat(2049) })).toEqual(['correlationid: at most 2048 characters (got 2049)']);
    const many = Object.fromEntries(Array.from({ length: MAX_EXTENSIONS + 1 }, (_, i) => [`x${i}`, 'v']));
    expect(attributeProblems({ ...valid, ...many })).toEqual([`extensions: at most ${MAX_EXTENSIONS} extension attributes (got ${MAX_EXTENSIONS + 1})`]);
  });

  it('refuses a time JavaScript cannot represent (a leap second) or the calendar lacks', () => {
    expect(attributeProblems({ ...valid, time: '2016-12-31T23:59:60Z' })).toHaveLength(1);
    expect(attributeProblems({ ...valid, time: '2021-02-30T00:00:00Z' })).toHaveLength(1);
    expect(attributeProblems({ ...valid, time: '2026-11-26T10:00:00.123456+02:00' })).toEqual([]);
  });

  it('says how many more problems there are past the cap', () => {
    const bad = Object.fromEntries(Array.from({ length: 100 }, (_, i) => [`X${i}`, 'v']));
    const problems = attributeProblems({ ...valid, ...bad });
    expect(problems).toHaveLength(MAX_PROBLEMS + 1);
    expect(problems.at(-1)).toMatch(/more problems/);
  });

  it('never throws, whatever it is given', () => {
    fc.assert(
      fc.property(fc.oneof(attributeMap, fc.dictionary(attributeName, attributeValue), fc.dictionary(fc.string(), fc.anything())), (attributes) => {
        expect(Array.isArray(attributeProblems(attributes))).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });

  it('accepts nothing the SDK would refuse', () => {
    fc.assert(
      fc.property(attributeMap, (attributes) => {
        fc.pre(attributeProblems(attributes).length === 0);
        expect(() => new CloudEvent(attributes)).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});

describe('nestsDeeperThan', () => {
  it('counts arrays and objects, not brackets inside strings, without recursion', () => {
    expect(nestsDeeperThan(nested(100_000), MAX_DATA_DEPTH)).toBe(true);
    expect(nestsDeeperThan(nested(MAX_DATA_DEPTH), MAX_DATA_DEPTH)).toBe(false);
    expect(nestsDeeperThan(`{"a":"${'['.repeat(100)}\\"[[["}`, 2)).toBe(false);
  });
});

describe('admitCloudEvent', () => {
  it('tells the content mode and refuses batch mode, other formats and non-events', () => {
    expect(structured(valid).mode).toBe('structured');
    expect(admitCloudEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': 's', 'ce-type': 't' }, Buffer.alloc(0)).mode).toBe('binary');
    expect(refusal(() => admitCloudEvent({ 'content-type': 'application/cloudevents-batch+json' }, Buffer.from(`[${JSON.stringify(valid)}]`)))).toMatchObject({ reason: 'BatchModeUnsupported', statusCode: 400 });
    expect(refusal(() => admitCloudEvent({ 'content-type': 'application/cloudevents+xml' }, Buffer.from('<x/>')))).toMatchObject({ reason: 'UnsupportedEventFormat', statusCode: 400 });
    expect(refusal(() => admitCloudEvent({ 'content-type': 'application/json' }, Buffer.from('{}')))).toMatchObject({ reason: 'NotACloudEvent', statusCode: 400 });
  });

  it('hands a structured event on with the one content type spelling the SDK reads', () => {
    const admitted = admitCloudEvent({ 'content-type': 'Application/CloudEvents+JSON;charset=UTF-8' }, Buffer.from(JSON.stringify(valid)));
    expect(admitted.headers['content-type']).toBe('application/cloudevents+json');
  });

  it('refuses data nested too deep, in either mode, before parsing it', () => {
    expect(refusal(() => structured(`{"specversion":"1.0","id":"1","source":"s","type":"t","data":${nested(5000)}}`)).details).toEqual([`data: nested deeper than ${MAX_DATA_DEPTH} levels`]);
    const binary = refusal(() => admitCloudEvent({ 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': 's', 'ce-type': 't' }, Buffer.from(nested(5000))));
    expect(binary.details).toEqual([`data: nested deeper than ${MAX_DATA_DEPTH} levels`]);
  });

  it('refuses what the builder\'s JSON parser refuses, and bodies that are not UTF-8 JSON objects', () => {
    expect(refusal(() => structured({ ...valid, data: { a: JSON.parse('{"__proto__": {"x": 1}}') } })).details[0]).toMatch(/__proto__/);
    expect(refusal(() => structured('{"specversion":')).details[0]).toMatch(/^body: not JSON/);
    expect(refusal(() => structured('[1]')).details).toEqual(['body: must be a JSON object']);
    expect(refusal(() => admitCloudEvent({ 'content-type': 'application/cloudevents+json' }, Buffer.from([0x7b, 0xff, 0x7d]))).details).toEqual(['body: must be UTF-8']);
  });

  it('in binary mode, data is the body and its type the Content-Type header', () => {
    const problems = refusal(() => admitCloudEvent({ 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': 's', 'ce-type': 't', 'ce-datacontenttype': 'text/plain', 'ce-data': 'x' }, Buffer.alloc(0))).details;
    expect(problems).toEqual(expect.arrayContaining([expect.stringMatching(/^datacontenttype: in binary mode/), expect.stringMatching(/^data: in binary mode/)]));
  });

  it('admits what the SDK reads without error (structured mode)', () => {
    fc.assert(
      fc.property(attributeMap, data, (attributes, payload) => {
        const body = Buffer.from(JSON.stringify({ ...attributes, data: payload }));
        fc.pre(admits(() => admitCloudEvent({ 'content-type': 'application/cloudevents+json' }, body)));
        const admitted = admitCloudEvent({ 'content-type': 'application/cloudevents+json' }, body);
        const event = HTTP.toEvent({ headers: admitted.headers, body: body.toString('utf8') }) as CloudEvent<unknown>;
        expect(() => event.validate()).not.toThrow();
      }),
      { numRuns: 1000 },
    );
  });
});

/**
 * What must survive delivery: the SDK adds a time and a content type when there were none, an
 * event without data goes without a content type, and the SDK's structured-mode reader drops
 * falsy data (false, 0, "", null).
 */
function comparable(event: EventEnvelope, original: EventEnvelope): Record<string, unknown> {
  return {
    ...event,
    time: original.time === undefined ? undefined : Date.parse(event.time ?? ''),
    datacontenttype: original.datacontenttype === undefined || !original.data ? undefined : event.datacontenttype,
    // As JSON sees it: -0 is written 0.
    data: original.data ? JSON.parse(JSON.stringify(event.data)) : undefined,
  };
}

describe('what the door accepts, the broker delivers', () => {
  it('as an HTTP message fetch sends, that reads back equal and that the door admits again', () => {
    fc.assert(
      fc.property(legalAttributeMap, data, (attributes, payload) => {
        fc.pre(admits(() => structured({ ...attributes, data: payload })));
        const envelope = toEnvelope({ ...attributes, data: payload });
        const message = httpMessage(envelope);
        const headers = Object.fromEntries(new Headers(message.headers).entries());
        const readBack = toEnvelope(HTTP.toEvent({ headers, body: message.body }) as unknown as Record<string, unknown>);
        expect(comparable(readBack, envelope)).toEqual(comparable(envelope, envelope));
        expect(() => admitCloudEvent(headers, Buffer.from(message.body ?? ''))).not.toThrow();
      }),
      { numRuns: 1500 },
    );
  });

  it('in structured mode when an attribute cannot be a header', () => {
    expect(httpMessage({ id: '1', type: 't', source: 's', correlationid: '日本' }).mode).toBe('structured');
    expect(httpMessage({ id: '1', type: 't', source: 's', correlationid: 'café' }).mode).toBe('binary');
    expect(httpMessage({ id: '1', type: 't', source: 's', subject: ' padded' }).mode).toBe('structured');
    expect(httpMessage({ id: '1', type: 't', source: 's', tracestate: 't'.repeat(9000) }).mode).toBe('structured');
  });
});
