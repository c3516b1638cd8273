import http from 'node:http';
import type { LocalDeployer } from '../adapters/local/deployer.ts';
import { FunctionUnavailableError } from '../adapters/local/deployer.ts';

/** Connections kept open to one function process: bounds what one busy function holds. */
const MAX_SOCKETS_PER_FUNCTION = 256;
const MAX_IDLE_SOCKETS_PER_FUNCTION = 64;
/**
 * An idle connection is closed after this, before the servers functions commonly run on close
 * theirs (5 s is the default of Node.js and uvicorn), so that a request is not sent on a
 * connection the function is closing at that moment.
 */
const IDLE_SOCKET_MS = 4000;

/**
 * Keep-alive connections to the function processes, pooled per port. A process that stops
 * (scale to zero, redeploy, crash) closes its connections and the agent drops them from the
 * pool; a process started on another port gets a pool of its own.
 */
const upstreamAgent = new http.Agent({ keepAlive: true, maxSockets: MAX_SOCKETS_PER_FUNCTION, maxFreeSockets: MAX_IDLE_SOCKETS_PER_FUNCTION, timeout: IDLE_SOCKET_MS });

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'te', 'trailer']);

function forwardableHeaders(headers: http.IncomingHttpHeaders): http.OutgoingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

/**
 * `/functions/<name>/<rest>` → the function's process, started first if it was scaled to
 * zero. The function sees `/<rest>` as its path.
 */
export async function routeToFunction(deployer: LocalDeployer, name: string, rest: string, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  let lease: { port: number; release: () => void };
  try {
    lease = await deployer.acquire(name);
  } catch (error) {
    const status = error instanceof FunctionUnavailableError ? error.statusCode : 502;
    response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify({ error: (error as Error).message }));
    return;
  }
  const upstream = http.request(
    { agent: upstreamAgent, host: '127.0.0.1', port: lease.port, method: request.method, path: rest || '/', headers: { ...forwardableHeaders(request.headers), host: `127.0.0.1:${lease.port}` } },
    (answer) => {
      response.writeHead(answer.statusCode ?? 502, forwardableHeaders(answer.headers));
      answer.pipe(response);
      answer.on('end', lease.release);
    },
  );
  upstream.on('error', (error) => {
    lease.release();
    if (!response.headersSent) response.writeHead(502, { 'content-type': 'application/json' });
    response.end(JSON.stringify({ error: `function ${name} did not answer: ${error.message}` }));
  });
  request.pipe(upstream);
}
