import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config/load.ts';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { parseCommand } from '../../lib/events/incoming.ts';
import { createTenantPolicy, tenantKeyPrefix, TenantRefusal, type TenantDecision, type TenantRules } from '../../lib/tenancy/tenant-policy.ts';

const PREFIX = 'network.notifi.lambda';
const rules: TenantRules = { sourceKeyTemplate: 'sources/{third_party_id}/{parser_id}/{content_hash}', bucket: 'knative-lambda', allowedBuckets: ['shared-sources'] };

function decide(kind: string, data: Record<string, unknown>, attributes: Partial<EventEnvelope> = {}, with_: TenantRules = rules): TenantDecision {
  const event: EventEnvelope = { id: '1', type: `${PREFIX}.${kind}`, source: 'tests', data, ...attributes };
  return createTenantPolicy(with_).decide(parseCommand(PREFIX, event));
}

function refusedFor(decision: TenantDecision): string | undefined {
  return decision.allowed ? undefined : decision.reason;
}

/** Tenant ids as the payload schema accepts them. */
const tenantId = fc.stringMatching(/^[A-Za-z0-9](?:[A-Za-z0-9._~-]{0,20}[A-Za-z0-9])?$/);

describe('the acting tenant', () => {
  it('is the data\'s third_party_id, or the one its network.notifi source names', () => {
    expect(decide('build.start', { third_party_id: 'acme', parser_id: 'fn' })).toEqual({ allowed: true, tenant: 'acme' });
    expect(decide('build.start', { parser_id: 'fn' }, { source: 'network.notifi.acme' })).toEqual({ allowed: true, tenant: 'acme' });
  });

  it('must be the same tenant when the data and the source both name one', () => {
    fc.assert(
      fc.property(tenantId, tenantId, fc.constantFrom('build.start', 'service.delete', 'build.cancel'), (named, claimed, kind) => {
        const decision = decide(kind, { third_party_id: claimed, parser_id: 'fn' }, { source: `network.notifi.${named}` });
        expect(refusedFor(decision)).toBe(named === claimed ? undefined : TenantRefusal.Mismatch);
      }),
    );
  });

  it('refuses a service.delete for globex sent from acme\'s source', () => {
    const decision = decide('service.delete', { third_party_id: 'globex', parser_id: 'invoice' }, { source: 'network.notifi.acme' });
    expect(decision).toMatchObject({ allowed: false, reason: 'TenantMismatch', message: expect.stringContaining('globex') });
  });
});

describe('what build.start may name', () => {
  it('only keys under the acting tenant\'s prefix', () => {
    fc.assert(
      fc.property(tenantId, tenantId, fc.stringMatching(/^[a-z0-9]{1,8}(?:\/[a-z0-9][a-z0-9.]{0,7}){0,3}$/), (actor, owner, rest) => {
        const key = `${tenantKeyPrefix(rules.sourceKeyTemplate, owner)}${rest}`;
        const decision = decide('build.start', { third_party_id: actor, parser_id: 'fn', source: { key } });
        expect(refusedFor(decision)).toBe(actor === owner ? undefined : TenantRefusal.ForeignSourceKey);
      }),
    );
  });

  it('refuses keys that only share the tenant id as a string prefix', () => {
    expect(refusedFor(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key: 'sources/acme-evil/fn/x.js' } }))).toBe('ForeignSourceKey');
    expect(refusedFor(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key: 'sources/acme' } }))).toBe('ForeignSourceKey');
    expect(refusedFor(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key: 'other/acme/fn/x.js' } }))).toBe('ForeignSourceKey');
  });

  it('the configured bucket and the allowed ones only', () => {
    const key = 'sources/acme/fn/x.js';
    expect(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key, bucket: 'knative-lambda' } }).allowed).toBe(true);
    expect(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key, bucket: 'shared-sources' } }).allowed).toBe(true);
    expect(refusedFor(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', source: { key, bucket: 'globex-private' } }))).toBe('BucketNotAllowed');
  });

  it('secrets only for tenant ids that can prefix a secret name', () => {
    const secret_env = { DB_PASSWORD: { secret: 'db', key: 'password' } };
    expect(decide('build.start', { third_party_id: 'acme', parser_id: 'fn', secret_env }).allowed).toBe(true);
    expect(refusedFor(decide('build.start', { third_party_id: 'Acme_Corp', parser_id: 'fn', secret_env }))).toBe('SecretsUnavailable');
  });
});

describe('strict tenant mode', () => {
  const strict: TenantRules = { ...rules, tenantSources: { acme: ['network.notifi.acme', '/ci/acme'] } };

  it('lets only the configured sources act for a tenant', () => {
    expect(decide('build.start', { third_party_id: 'acme', parser_id: 'fn' }, { source: '/ci/acme' }, strict).allowed).toBe(true);
    expect(refusedFor(decide('build.start', { third_party_id: 'acme', parser_id: 'fn' }, { source: '/ci/globex' }, strict))).toBe('SourceNotAllowed');
    expect(refusedFor(decide('service.delete', { third_party_id: 'globex', parser_id: 'fn' }, { source: '/ci/globex' }, strict))).toBe('TenantUnknown');
  });
});

describe('configuration', () => {
  it('takes the allowed buckets as a list and the strict mode as JSON', () => {
    const config = loadConfig({ KL_ALLOWED_SOURCE_BUCKETS: 'a-bucket, other.bucket,', KL_TENANT_SOURCES: '{"acme":["network.notifi.acme"]}' });
    expect(config.KL_ALLOWED_SOURCE_BUCKETS).toEqual(['a-bucket', 'other.bucket']);
    expect(config.KL_TENANT_SOURCES).toEqual({ acme: ['network.notifi.acme'] });
    expect(() => loadConfig({ KL_TENANT_SOURCES: '{"acme":[]}' })).toThrow('KL_TENANT_SOURCES');
    expect(() => loadConfig({ KL_ALLOWED_SOURCE_BUCKETS: 'Not_A_Bucket' })).toThrow('KL_ALLOWED_SOURCE_BUCKETS');
  });

  it('refuses key layouts where one tenant\'s prefix could hold another\'s keys', () => {
    expect(() => loadConfig({ KL_SOURCE_KEY_TEMPLATE: 'sources/{third_party_id}-{parser_id}' })).toThrow('whole key segment');
    expect(() => loadConfig({ KL_SOURCE_KEY_TEMPLATE: 'sources/{parser_id}/{third_party_id}/x' })).toThrow('whole key segment');
    expect(() => loadConfig({ KL_SOURCE_KEY_TEMPLATE: 'sources/{parser_id}/{third_party_id}' })).toThrow('whole key segment');
    expect(tenantKeyPrefix('{third_party_id}/{parser_id}', 'acme')).toBe('acme/');
  });
});
