import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  buildName,
  functionName,
  imageTag,
  isDns1035Label,
  isImageTag,
  isLabelValue,
  labelValue,
  MAX_BUILD_NAME,
  MAX_LABEL_VALUE,
  MAX_SERVICE_NAME,
} from '../../lib/naming.ts';

const hostile = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.constantFrom('', '-', '..', '../../etc', '\u0000', 'A'.repeat(500), 'ÄÖÜ-ß', '🙂🙂', '--a--', 'a_b', 'a-b', 'UPPER', '0123'),
);
const digest = fc.uint8Array({ minLength: 32, maxLength: 32 }).map((bytes) => Buffer.from(bytes).toString('hex'));

describe('functionName', () => {
  it('is a DNS-1035 label short enough for the Knative revision suffix, for any ids', () => {
    fc.assert(
      fc.property(hostile, hostile, (thirdPartyId, parserId) => {
        const name = functionName({ thirdPartyId, parserId });
        expect(isDns1035Label(name, MAX_SERVICE_NAME)).toBe(true);
        expect(isDns1035Label(`${name}-00001-private`)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('is deterministic', () => {
    fc.assert(fc.property(hostile, hostile, (a, b) => {
      expect(functionName({ thirdPartyId: a, parserId: b })).toBe(functionName({ thirdPartyId: a, parserId: b }));
    }));
  });

  it('keeps distinct identities distinct, even when they sanitise or truncate alike', () => {
    const pairs = [
      [{ thirdPartyId: 'a-b', parserId: 'c' }, { thirdPartyId: 'a', parserId: 'b-c' }],
      [{ thirdPartyId: 'A_b', parserId: 'x' }, { thirdPartyId: 'a-b', parserId: 'x' }],
      [{ thirdPartyId: 'x'.repeat(200) + '1', parserId: 'p' }, { thirdPartyId: 'x'.repeat(200) + '2', parserId: 'p' }],
    ];
    for (const [left, right] of pairs) expect(functionName(left!)).not.toBe(functionName(right!));
    fc.assert(
      fc.property(hostile, hostile, hostile, hostile, (a, b, c, d) => {
        fc.pre(a !== c || b !== d);
        expect(functionName({ thirdPartyId: a, parserId: b })).not.toBe(functionName({ thirdPartyId: c, parserId: d }));
      }),
      { numRuns: 500 },
    );
  });

  it('stays readable for ordinary ids', () => {
    expect(functionName({ thirdPartyId: 'acme', parserId: 'invoice-parser' })).toMatch(/^fn-acme-invoice-parser-[0-9a-f]{12}$/);
  });
});

describe('buildName', () => {
  it('is a valid Job name that differs per source digest and per tenant', () => {
    fc.assert(
      fc.property(hostile, hostile, digest, digest, (tenant, parser, d1, d2) => {
        const id = { thirdPartyId: tenant, parserId: parser };
        const name = buildName(id, d1);
        expect(isDns1035Label(name, MAX_BUILD_NAME)).toBe(true);
        expect(buildName(id, d1)).toBe(name);
        if (d1 !== d2) expect(buildName(id, d2)).not.toBe(name);
        expect(buildName({ thirdPartyId: `${tenant}x`, parserId: parser }, d1)).not.toBe(name);
      }),
      { numRuns: 300 },
    );
  });
});

describe('labelValue', () => {
  it('is always a valid label value, and keeps valid ones as they are', () => {
    fc.assert(
      fc.property(hostile, (raw) => {
        const value = labelValue(raw);
        expect(isLabelValue(value)).toBe(true);
        expect(value.length).toBeLessThanOrEqual(MAX_LABEL_VALUE);
        if (isLabelValue(raw)) expect(value).toBe(raw);
      }),
      { numRuns: 1000 },
    );
  });

  it('keeps long values distinct after truncation', () => {
    expect(labelValue('a'.repeat(70) + '1')).not.toBe(labelValue('a'.repeat(70) + '2'));
  });
});

describe('imageTag', () => {
  it('is a valid registry tag for any digest', () => {
    fc.assert(fc.property(digest, (d) => {
      expect(isImageTag(imageTag(d))).toBe(true);
    }));
    expect(imageTag(`sha256:${'a'.repeat(64)}`)).toBe(`sha256-${'a'.repeat(64)}`);
  });
  it('refuses what is not a digest', () => {
    expect(() => imageTag('latest')).toThrow('not a sha256 digest');
  });
});
