import { permanent } from '../errors.ts';

export interface SourceKeyInput {
  thirdPartyId: string;
  parserId: string;
  contentHash?: string | undefined;
}

/** Fills the configured key layout. Tenant and function ids were validated as key-safe segments. */
export function sourceKey(template: string, input: SourceKeyInput): string {
  if (template.includes('{content_hash}') && input.contentHash === undefined) {
    throw permanent('MissingContentHash', 'The source key layout needs content_hash, and the event has neither content_hash nor source.key', [`layout: ${template}`]);
  }
  return template
    .replaceAll('{third_party_id}', input.thirdPartyId)
    .replaceAll('{parser_id}', input.parserId)
    .replaceAll('{content_hash}', input.contentHash ?? '');
}

/** Build contexts are content-addressed, under the tenant so one tenant's cleanup never touches another's. */
export function contextKey(thirdPartyId: string, contentDigest: string): string {
  return `contexts/${thirdPartyId}/${contentDigest}.tar.gz`;
}
