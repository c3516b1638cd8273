import { tenantOfSource, type Command } from '../events/incoming.ts';
import { EventKind } from '../events/types.ts';
import { canHoldSecrets } from '../naming.ts';

/**
 * The one tenant boundary. Every command passes here before any step runs: the policy
 * decides which tenant is acting and whether that tenant may touch what the event names.
 * Pure: it decides from the command and the rules alone.
 */
export interface TenantPolicy {
  decide(command: Command): TenantDecision;
}

export type TenantDecision = { allowed: true; tenant: string } | { allowed: false; tenant?: string | undefined; reason: TenantRefusal; message: string; details: string[] };

/** Why a tenant was refused; also the `reason` label of the refusals counter. */
export const TenantRefusal = {
  /** The data and the `source` name different tenants. */
  Mismatch: 'TenantMismatch',
  /** Strict mode: the tenant is not configured. */
  Unknown: 'TenantUnknown',
  /** Strict mode: this `source` may not act for the tenant. */
  SourceNotAllowed: 'SourceNotAllowed',
  /** `source.key` lies outside the tenant's prefix. */
  ForeignSourceKey: 'ForeignSourceKey',
  /** `source.bucket` is neither the configured bucket nor allowed. */
  BucketNotAllowed: 'BucketNotAllowed',
  /** `secret_env` from a tenant whose id cannot prefix a secret name. */
  SecretsUnavailable: 'SecretsUnavailable',
} as const;
export type TenantRefusal = (typeof TenantRefusal)[keyof typeof TenantRefusal];

export interface TenantRules {
  /** The store key layout; the segments up to `{third_party_id}` are a tenant's prefix. */
  sourceKeyTemplate: string;
  bucket: string;
  allowedBuckets: readonly string[];
  /** Strict mode: the CloudEvent sources allowed to act for each tenant. */
  tenantSources?: Readonly<Record<string, readonly string[]>> | undefined;
}

/** The key prefix every store key of this tenant starts with, e.g. `sources/acme/`. */
export function tenantKeyPrefix(template: string, tenant: string): string {
  const segments = template.split('/');
  const index = segments.indexOf('{third_party_id}');
  return `${[...segments.slice(0, index), tenant].join('/')}/`;
}

type Refusal = Extract<TenantDecision, { allowed: false }>;

function refuse(reason: TenantRefusal, message: string, details: string[] = [], tenant?: string): Refusal {
  return { allowed: false, tenant, reason, message, details };
}

function checkIdentity(command: Command, rules: TenantRules): Refusal | undefined {
  const tenant = command.data.third_party_id;
  const named = tenantOfSource(command.event.source);
  if (named !== undefined && named !== tenant) {
    return refuse(TenantRefusal.Mismatch, `The event acts for tenant "${tenant}" but its source names tenant "${named}"`, [`source: ${command.event.source}`, `third_party_id: ${tenant}`], tenant);
  }
  if (!rules.tenantSources) return undefined;
  const allowed = rules.tenantSources[tenant];
  if (!allowed) return refuse(TenantRefusal.Unknown, `Tenant "${tenant}" is not configured (strict tenant mode)`, [], tenant);
  if (!allowed.includes(command.event.source)) {
    return refuse(TenantRefusal.SourceNotAllowed, `Source "${command.event.source}" may not act for tenant "${tenant}"`, [`allowed sources: ${allowed.join(', ')}`], tenant);
  }
  return undefined;
}

function checkBuildStart(command: Extract<Command, { kind: typeof EventKind.BuildStart }>, rules: TenantRules): Refusal | undefined {
  const { data } = command;
  const tenant = data.third_party_id;
  const bucket = data.source?.bucket;
  if (bucket !== undefined && bucket !== rules.bucket && !rules.allowedBuckets.includes(bucket)) {
    return refuse(TenantRefusal.BucketNotAllowed, `Bucket "${bucket}" is not one sources may come from`, [`allowed: ${[rules.bucket, ...rules.allowedBuckets].join(', ')}`], tenant);
  }
  const key = data.source?.key;
  const prefix = tenantKeyPrefix(rules.sourceKeyTemplate, tenant);
  if (key !== undefined && !key.startsWith(prefix)) {
    return refuse(TenantRefusal.ForeignSourceKey, `Source key "${key}" is not under tenant "${tenant}"'s prefix "${prefix}"`, [], tenant);
  }
  if (Object.keys(data.secret_env ?? {}).length > 0 && !canHoldSecrets(tenant)) {
    return refuse(
      TenantRefusal.SecretsUnavailable,
      `Tenant "${tenant}" cannot use secret_env: secret names start with the tenant id, which must then be lowercase letters, digits, "-" and "." (at most 63)`,
      [],
      tenant,
    );
  }
  return undefined;
}

/**
 * The default policy. `service.delete` and `build.cancel` name functions by the acting tenant's
 * own id, so once the identity is settled they can reach no other tenant's function.
 */
export function createTenantPolicy(rules: TenantRules): TenantPolicy {
  return {
    decide(command) {
      const refusal = checkIdentity(command, rules) ?? (command.kind === EventKind.BuildStart ? checkBuildStart(command, rules) : undefined);
      return refusal ?? { allowed: true, tenant: command.data.third_party_id };
    },
  };
}
