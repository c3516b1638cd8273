import { createHash } from 'node:crypto';

/**
 * Names derived from function identities. Every name is deterministic, valid where it
 * is used, and keeps a hash of the raw input so that truncation and sanitising never
 * make two identities share a name.
 */

/** Knative appends `-00001` to name revisions and `-private` to their Services: 63 - 6 - 8. */
export const MAX_SERVICE_NAME = 49;
/** Job names become pod names with a 6-character suffix and the `job-name` label (63). */
export const MAX_BUILD_NAME = 52;
export const MAX_LABEL_VALUE = 63;
export const MAX_IMAGE_TAG = 128;
const HASH_LENGTH = 12;

const DNS_1035_LABEL = /^[a-z](?:[a-z0-9-]*[a-z0-9])?$/;
const LABEL_VALUE = /^(?:[A-Za-z0-9](?:[A-Za-z0-9_.-]*[A-Za-z0-9])?)?$/;
const IMAGE_TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;

export function isDns1035Label(value: string, max = 63): boolean {
  return value.length <= max && DNS_1035_LABEL.test(value);
}

export function isLabelValue(value: string): boolean {
  return value.length <= MAX_LABEL_VALUE && LABEL_VALUE.test(value);
}

export function isImageTag(value: string): boolean {
  return IMAGE_TAG.test(value);
}

/** Lowercase hex of SHA-256 over the parts, separated so that ("ab","c") and ("a","bc") differ. */
export function stableHash(parts: readonly string[], length = HASH_LENGTH): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(`${Buffer.byteLength(part)}:${part}\u0000`);
  return hash.digest('hex').slice(0, length);
}

function sanitize(value: string): string {
  return value
    .normalize('NFKD')
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

/** `<prefix>-<readable parts>-<hash>`, cut to `max` characters, always a DNS-1035 label. */
function hashedLabel(prefix: string, readable: readonly string[], hashed: readonly string[], max: number): string {
  const suffix = `-${stableHash(hashed)}`;
  const room = max - prefix.length - suffix.length;
  const body = readable.map(sanitize).filter(Boolean).join('-').slice(0, Math.max(0, room - 1)).replace(/-+$/, '');
  return body ? `${prefix}-${body}${suffix}` : `${prefix}${suffix}`;
}

export interface FunctionIdentity {
  thirdPartyId: string;
  parserId: string;
}

/** Name of the function: the Knative Service, the local process and the router path. */
export function functionName(id: FunctionIdentity): string {
  return hashedLabel('fn', [id.thirdPartyId, id.parserId], [id.thirdPartyId, id.parserId], MAX_SERVICE_NAME);
}

/** Name of the build of one source digest for one function (the Job name on a cluster). */
export function buildName(id: FunctionIdentity, contentDigest: string): string {
  return hashedLabel('build', [id.parserId], [id.thirdPartyId, id.parserId, contentDigest], MAX_BUILD_NAME);
}

/** Image tag from a content digest (`sha256-<hex>`), valid under the registry tag rules. */
export function imageTag(contentDigest: string): string {
  const hex = contentDigest.replace(/^sha256:/, '');
  if (!/^[0-9a-f]{64}$/.test(hex)) throw new Error(`not a sha256 digest: ${contentDigest}`);
  return `sha256-${hex}`;
}

/** A Kubernetes label value: the raw value when valid, otherwise a sanitised prefix plus hash. */
export function labelValue(raw: string): string {
  if (isLabelValue(raw)) return raw;
  const suffix = stableHash([raw]);
  const body = raw
    .replace(/[^A-Za-z0-9_.-]+/g, '-')
    .replace(/^[^A-Za-z0-9]+/, '')
    .slice(0, MAX_LABEL_VALUE - suffix.length - 1)
    .replace(/[^A-Za-z0-9]+$/, '');
  return body ? `${body}-${suffix}` : suffix;
}

/**
 * Name of a tenant's secret: `<third_party_id>.<secret>`. The secret part is a DNS label (no
 * dot), so the name splits back at its last dot and no tenant can name another's secret, nor
 * the platform's own (whose names hold no dot).
 */
export function tenantSecretName(thirdPartyId: string, secret: string): string {
  return `${thirdPartyId}.${secret}`;
}

const DNS_1123_SUBDOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/;

/** Secret names must be DNS subdomains, and the tenant part is also its label value (the admission policy compares them). */
export function canHoldSecrets(thirdPartyId: string): boolean {
  return DNS_1123_SUBDOMAIN.test(thirdPartyId) && isLabelValue(thirdPartyId);
}

/** Label keys and annotation keys, named once. */
export const LABEL_DOMAIN = 'knative-lambda.io';
export const Labels = {
  ManagedBy: 'app.kubernetes.io/managed-by',
  PartOf: 'app.kubernetes.io/part-of',
  Component: 'app.kubernetes.io/component',
  ThirdPartyId: `${LABEL_DOMAIN}/third-party-id`,
  ParserId: `${LABEL_DOMAIN}/parser-id`,
  Function: `${LABEL_DOMAIN}/function`,
  Runtime: `${LABEL_DOMAIN}/runtime`,
} as const;

export const Annotations = {
  ThirdPartyId: `${LABEL_DOMAIN}/third-party-id`,
  ParserId: `${LABEL_DOMAIN}/parser-id`,
  ContentDigest: `${LABEL_DOMAIN}/content-digest`,
  ServiceSpec: `${LABEL_DOMAIN}/service-spec`,
  CorrelationId: `${LABEL_DOMAIN}/correlation-id`,
  TraceParent: `${LABEL_DOMAIN}/traceparent`,
  RequestedAt: `${LABEL_DOMAIN}/requested-at`,
  ContextKey: `${LABEL_DOMAIN}/context-key`,
  BuildTimeout: `${LABEL_DOMAIN}/build-timeout-seconds`,
  Cancelled: `${LABEL_DOMAIN}/cancelled`,
  Revision: `${LABEL_DOMAIN}/revision`,
  /** The outcome, or the revision and phase, whose event was emitted: replays emit nothing twice. */
  Announced: `${LABEL_DOMAIN}/announced`,
} as const;

export const MANAGED_BY = 'knative-lambda';
