import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { buildStartData } from '../../lib/events/payloads.ts';
import { checkServingLimits, quantityValue, servingLimitProblems } from '../../lib/pipeline/serving-limits.ts';

const limits = { maxTimeoutSeconds: 600 };
const data = (extra: Record<string, unknown>) => buildStartData.parse({ third_party_id: 'acme', parser_id: 'fn', ...extra });

describe('Knative Serving limits at build.start', () => {
  it('refuses a timeout above the cluster\'s max-revision-timeout-seconds, naming the limit', () => {
    expect(servingLimitProblems(data({ timeout_seconds: 600 }), limits)).toEqual([]);
    expect(() => checkServingLimits(data({ timeout_seconds: 601 }), limits)).toThrow(expect.objectContaining({ statusCode: 422, reason: 'ServingLimitExceeded', details: [expect.stringContaining('limit of 600')] }));
    expect(servingLimitProblems(data({ timeout_seconds: 3600 }), { maxTimeoutSeconds: 3600 })).toEqual([]);
  });

  it('refuses requests above limits, in any units', () => {
    expect(servingLimitProblems(data({ resources: { requests: { memory: '1Gi', cpu: '500m' }, limits: { memory: '512Mi', cpu: '0.25' } } }), limits)).toEqual([
      'resources.requests.cpu: 500m is more than the limit 0.25',
      'resources.requests.memory: 1Gi is more than the limit 512Mi',
    ]);
    expect(servingLimitProblems(data({ resources: { requests: { memory: '1G' }, limits: { memory: '1Gi' } } }), limits)).toEqual([]);
  });

  it('reads quantities the way Kubernetes does', () => {
    expect(quantityValue('250m')).toBe(0.25);
    expect(quantityValue('1.5')).toBe(1.5);
    expect(quantityValue('256Mi')).toBe(256 * 2 ** 20);
    expect(quantityValue('1G')).toBe(1e9);
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 100_000 }), (n) => {
        expect(quantityValue(`${n}m`)).toBeCloseTo(n / 1000);
      }),
    );
  });
});
