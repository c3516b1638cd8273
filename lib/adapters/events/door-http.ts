/** The door's side of HTTP: a request body read up to a cap, a refusal written back. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { permanent, type PlatformError } from '../../errors.ts';

/**
 * A request's body, refused with 413 past `limit` bytes. The request is left undestroyed
 * so the refusal can still be answered on its connection.
 */
export async function readCappedBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request.iterator({ destroyOnReturn: false })) {
    size += (chunk as Buffer).length;
    if (size > limit) throw permanent('PayloadTooLarge', `The request body is larger than ${limit} bytes`, [], 413);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** The body the function's own refusals have: `{error, message, details}`. */
export function writeRefusal(response: ServerResponse, failure: PlatformError): void {
  // Past the size cap the rest of the body is left unread: the connection cannot be reused.
  const close = failure.statusCode === 413 ? { connection: 'close' } : {};
  response.writeHead(failure.statusCode, { 'content-type': 'application/json', ...close }).end(JSON.stringify({ error: failure.reason, message: failure.message, details: failure.details }));
}
