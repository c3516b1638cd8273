// fast-check arbitraries of CloudEvents, valid and hostile, shared by the attribute
// properties (unit) and the event fuzz (e2e).
import fc from 'fast-check';

export const PREFIX = 'network.notifi.lambda';

const fromCodes = (min: number, max: number) => fc.integer({ min, max }).map((code) => String.fromCharCode(code));

/** Any UTF-16 code unit: control characters and lone surrogates included. */
const anyCodeUnits = fc.string({ unit: fromCodes(0, 0xffff), maxLength: 40 });
/** Printable Latin-1, the C1 controls (U+0080–U+009F) aside. */
const latin1 = fc.string({ unit: fc.oneof(fromCodes(0x20, 0x7e), fromCodes(0xa0, 0xff)), minLength: 1, maxLength: 40 });
/** Valid Unicode beyond Latin-1: legal in CloudEvents, impossible in HTTP headers. */
const beyondLatin1 = fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('日本', 'Ω', '😀', 'ĉ', '\u2028', '\ufeff'), fc.string({ maxLength: 10 })).map((parts) => parts.join(''));
const control = fc.constantFrom('\u0000', '\t', '\n', '\r', '\u001b', '\u001f', '\u007f', '\u0085', '\u009f');
const withControl = fc.tuple(fc.string({ maxLength: 10 }), control, fc.string({ maxLength: 10 })).map((parts) => parts.join(''));
const loneSurrogate = fc.tuple(fc.string({ maxLength: 10 }), fc.constantFrom('\ud800', '\udfff', '\udc00x'), fc.string({ maxLength: 10 })).map((parts) => parts.join(''));
const huge = fc.integer({ min: 1000, max: 4000 }).map((length) => 'v'.repeat(length));
const spaced = fc.string({ minLength: 1, maxLength: 10 }).map((text) => ` ${text} `);

/** Strings that are legal values of extensions and of most context attributes. */
const legalString = fc.oneof({ weight: 4, arbitrary: fc.string({ minLength: 1, maxLength: 40 }) }, { weight: 2, arbitrary: latin1 }, { weight: 2, arbitrary: beyondLatin1 }, { weight: 1, arbitrary: spaced });

/** Legal strings, and strings that are not. */
export const attributeString = fc.oneof(
  { weight: 8, arbitrary: legalString },
  { weight: 1, arbitrary: anyCodeUnits },
  { weight: 1, arbitrary: withControl },
  { weight: 1, arbitrary: loneSurrogate },
  { weight: 1, arbitrary: huge },
  { weight: 1, arbitrary: fc.constant('') },
);

export const attributeValue = fc.oneof(
  { weight: 8, arbitrary: attributeString },
  { weight: 1, arbitrary: fc.oneof(fc.boolean(), fc.integer(), fc.double(), fc.constant(null)) },
  { weight: 1, arbitrary: fc.oneof(fc.object({ maxDepth: 1 }), fc.array(fc.string(), { maxLength: 3 })) },
);

const knownNames = fc.constantFrom('id', 'source', 'specversion', 'type', 'subject', 'time', 'datacontenttype', 'dataschema', 'correlationid', 'traceparent', 'tracestate', 'knativeerrordest', 'knativeerrorcode', 'schemaurl', 'data_base64');
export const attributeName = fc.oneof(knownNames, fc.stringMatching(/^[a-z0-9]{1,24}$/), fc.string({ maxLength: 30 }));

export const commandType = fc.constantFrom(`${PREFIX}.build.start`, `${PREFIX}.service.delete`, `${PREFIX}.build.cancel`);

const validTime = fc.date({ min: new Date('0001-01-01T00:00:00Z'), max: new Date('9999-12-31T23:59:59Z'), noInvalidDate: true }).map((date) => date.toISOString());
const oddTime = fc.constantFrom('2026-11-26T10:00:00+02:00', '2026-11-26t10:00:00z', '2016-12-31T23:59:60Z', '2021-02-30T00:00:00Z', 'yesterday', '2026-11-26');
const source = fc.constantFrom('tests', '/fuzz', 'network.notifi.acme', 'urn:uuid:6e8bc430-9c3a-11d9-9669-0800200c9a66', 'https://example.com/x');
const mediaType = fc.constantFrom('application/json', 'application/json; charset=utf-8', 'text/plain', 'application/vnd.x+json', 'application/octet-stream');
const traceparent = fc.constant('00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01');
const manyExtensions = fc.dictionary(fc.stringMatching(/^[a-z]{1,20}$/), fc.string({ maxLength: 8 }), { minKeys: 60, maxKeys: 80 });

/** Attribute maps (data aside) of events with legal attributes only, in every character range the spec allows. */
export const legalAttributeMap = fc
  .tuple(
    fc.record({ specversion: fc.constant('1.0'), id: fc.oneof(fc.uuid(), legalString), source, type: fc.oneof(commandType, legalString) }),
    fc.record({ subject: legalString, time: validTime, datacontenttype: mediaType, correlationid: legalString, traceparent, tracestate: legalString }, { requiredKeys: [] }),
    fc.dictionary(fc.stringMatching(/^[a-z0-9]{1,20}$/), fc.oneof(legalString, fc.boolean(), fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), { maxKeys: 4 }),
  )
  .map(([required, optional, extensions]) => ({ ...extensions, ...required, ...optional }));

const oneOf = <T>(usual: fc.Arbitrary<T>) => fc.oneof({ weight: 4, arbitrary: usual as fc.Arbitrary<unknown> }, { weight: 1, arbitrary: attributeValue });

/** Attribute maps (data aside) as a structured-mode body holds them: nearly valid and hostile. */
const hostileAttributeMap = fc
  .tuple(
    fc.record({
      specversion: fc.oneof({ weight: 19, arbitrary: fc.constant('1.0') }, { weight: 1, arbitrary: fc.constantFrom('0.3', '1.1', '') }),
      id: oneOf(fc.uuid()),
      source: oneOf(source),
      type: oneOf(commandType),
    }),
    fc.record({ subject: attributeString, time: fc.oneof(validTime, oddTime, attributeString), datacontenttype: oneOf(mediaType), correlationid: attributeString, traceparent: oneOf(traceparent), tracestate: attributeString }, { requiredKeys: [] }),
    fc.oneof({ weight: 3, arbitrary: fc.dictionary(attributeName, attributeValue, { maxKeys: 6 }) }, { weight: 1, arbitrary: manyExtensions }),
    fc.subarray(['id', 'source', 'type', 'specversion'], { minLength: 1, maxLength: 1 }).chain((drop) => fc.oneof({ weight: 5, arbitrary: fc.constant([] as string[]) }, { weight: 1, arbitrary: fc.constant(drop) })),
  )
  .map(([required, optional, extra, drop]) => {
    const map: Record<string, unknown> = { ...extra, ...required, ...optional };
    for (const name of drop) delete map[name];
    return map;
  });

export const attributeMap = fc.oneof(legalAttributeMap, hostileAttributeMap);

const identifier = fc.oneof({ weight: 3, arbitrary: fc.stringMatching(/^[a-z0-9][a-z0-9_-]{0,14}[a-z0-9]$/) }, { weight: 1, arbitrary: fc.string({ maxLength: 20 }) });

const name = fc.stringMatching(/^[a-z][a-z0-9-]{0,10}[a-z0-9]$/);

/** Payloads that pass the schemas, for sources that do not exist: they get as far as the store. */
const wellFormedCommandData = fc
  .record({ tenant: name, fn: name, hash: fc.stringMatching(/^[0-9a-f]{64}$/), file: fc.stringMatching(/^[0-9a-f]{8}\.js$/), correlation: fc.uuid(), withKey: fc.boolean() })
  .map(({ tenant, fn, hash, file, correlation, withKey }) => ({
    third_party_id: tenant,
    parser_id: fn,
    content_hash: hash,
    correlation_id: correlation,
    ...(withKey ? { source: { key: `sources/${tenant}/${fn}/${file}` } } : {}),
  }));

/** Payloads with random, often wrong, fields. */
const looseCommandData = fc.record(
  {
    third_party_id: identifier,
    parser_id: identifier,
    content_hash: fc.oneof(fc.stringMatching(/^[0-9a-f]{64}$/), fc.string({ maxLength: 10 })),
    source: fc.record({ key: fc.oneof(fc.stringMatching(/^sources\/[a-z]{1,8}\/[a-z]{1,8}\/[0-9a-f]{8}\.js$/), fc.string({ maxLength: 30 })) }, { requiredKeys: [] }),
    build_id: fc.string({ maxLength: 20 }),
    correlation_id: attributeString,
    timeout_seconds: fc.oneof(fc.integer({ min: -5, max: 5000 }), fc.string({ maxLength: 4 })),
  },
  { requiredKeys: ['third_party_id', 'parser_id'] },
);

/** Payloads of build.start, service.delete and build.cancel: right, wrong, or pointing at sources that do not exist. */
export const commandData = fc.oneof({ weight: 2, arbitrary: wellFormedCommandData }, { weight: 1, arbitrary: looseCommandData });

export const data = fc.oneof({ weight: 4, arbitrary: commandData }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 4 }) });

/** JSON arrays nested `depth` levels deep. */
export function nested(depth: number): string {
  return `${'['.repeat(depth)}${']'.repeat(depth)}`;
}
