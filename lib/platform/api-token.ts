/**
 * Who may use the embedded platform's HTTP surface: anyone on this host when it listens on
 * loopback; otherwise only holders of KL_API_TOKEN, sent as a bearer token.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { BlockList, isIP } from 'node:net';

const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

export function isLoopback(host: string): boolean {
  const address = host.replace(/^\[(.*)\]$/, '$1');
  if (address.toLowerCase() === 'localhost') return true;
  const family = isIP(address);
  return family !== 0 && loopback.check(address, family === 4 ? 'ipv4' : 'ipv6');
}

/** Why the platform must not start with this bind address and token, if it must not. */
export function exposureProblem(host: string, token: string | undefined): string | undefined {
  if (token !== undefined || isLoopback(host)) return undefined;
  return `KL_PLATFORM_HOST=${JSON.stringify(host)}: not a loopback address, so the API would be open to the network; set KL_API_TOKEN (16 characters or more) to require it as a bearer token, or listen on 127.0.0.1`;
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** Compares digests, which have one length whatever was sent, so the time taken tells nothing about the token. */
export function bearerAccepted(authorization: string | undefined, token: string): boolean {
  const presented = /^Bearer +(\S+) *$/i.exec(authorization ?? '')?.[1] ?? '';
  return timingSafeEqual(digest(presented), digest(token));
}
