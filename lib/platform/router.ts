import http from 'node:http';
import type { LocalDeployer } from '../adapters/local/deployer.ts';
import { FunctionUnavailableError } from '../adapters/local/deployer.ts';

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
    { host: '127.0.0.1', port: lease.port, method: request.method, path: rest || '/', headers: { ...forwardableHeaders(request.headers), host: `127.0.0.1:${lease.port}` } },
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
