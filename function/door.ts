/**
 * The builder's door, in front of faas-js-runtime's request listener. faas-js-runtime parses
 * every request that looks like a CloudEvent, on any route, and answers 500 for whatever its
 * SDK refuses (batch mode, an invalid event): the broker would retry those forever. The door
 * reads such requests, and every POST /, first: it refuses what is not one valid CloudEvent
 * with a 4xx of its own, and hands the rest on with the body it read.
 */
import { IncomingMessage, type IncomingHttpHeaders, type RequestListener } from 'node:http';
import faas from 'faas-js-runtime';
import { readCappedBody, writeRefusal } from '../lib/adapters/events/door-http.ts';
import { admitCloudEvent, carriesCloudEvent } from '../lib/events/admission.ts';
import { asPlatformError } from '../lib/errors.ts';

function isInvocation(request: IncomingMessage): boolean {
  return request.method === 'POST' && request.url?.split('?')[0] === '/';
}

/** The request again, as a fresh stream holding the body already read. */
function replay(request: IncomingMessage, headers: IncomingHttpHeaders, body: Buffer): IncomingMessage {
  const copy = new IncomingMessage(request.socket);
  Object.assign(copy, {
    method: request.method,
    url: request.url,
    httpVersion: request.httpVersion,
    httpVersionMajor: request.httpVersionMajor,
    httpVersionMinor: request.httpVersionMinor,
    headers,
    rawHeaders: Object.entries(headers).flatMap(([name, value]) => [name, String(value)]),
    // The whole body is there: a message not marked complete destroys the socket when it ends, as if aborted.
    complete: true,
  });
  copy.push(body);
  copy.push(null);
  return copy;
}

export function withDoor(runtime: RequestListener): RequestListener {
  return (request, response) => {
    if (!isInvocation(request) && !carriesCloudEvent(request.headers)) {
      runtime(request, response);
      return;
    }
    readCappedBody(request, faas.defaults.BODY_LIMIT)
      .then((body) => ({ body, admitted: admitCloudEvent(request.headers, body) }))
      .then(
        ({ body, admitted }) => runtime(replay(request, admitted.headers, body), response),
        (error: unknown) => writeRefusal(response, asPlatformError(error)),
      );
  };
}
