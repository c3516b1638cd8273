/**
 * Starts the platform's function with faas-js-runtime on a port, with two listeners in
 * front of the runtime's own:
 * - the door (door.ts) refuses, with a 4xx, any request that is not one valid CloudEvent
 *   before faas-js-runtime parses it, so that nothing a client sent is answered with 500
 *   (which the broker would retry forever);
 * - GET /metrics serves the platform's own registry (CloudEvent, pipeline and dependency
 *   metrics, with exemplars in OpenMetrics) instead of faas-js-runtime's generic one.
 */
import type { RequestListener, Server } from 'node:http';
import faas from 'faas-js-runtime';
import { CONSUMED_KINDS } from '../lib/events/types.ts';
import { serveMetrics } from '../lib/observability/exposition.ts';
import { initialiseSeries } from '../lib/observability/metrics.ts';
import { runtimeNames } from '../lib/runtimes/registry.ts';
import { startTracing } from '../lib/observability/tracing.ts';
import { withDoor } from './door.ts';
import * as platformFunction from './index.ts';

function withOwnMetrics(next: RequestListener): RequestListener {
  return (request, response) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      serveMetrics(request, response).catch((error: Error) => response.writeHead(500).end(error.message));
      return;
    }
    next(request, response);
  };
}

/** Composes listeners around the runtime's own: faas-js-runtime offers no hook before it parses a request. */
function frontRuntime(server: Server, front: (runtime: RequestListener) => RequestListener): void {
  const [runtime] = server.listeners('request') as RequestListener[];
  if (!runtime) return;
  server.removeAllListeners('request');
  server.on('request', front(runtime));
}

export async function startPlatformFunction(port: number, logLevel = 'warn', serviceName = `knative-lambda-${process.env.KL_ROLE ?? 'builder'}`): Promise<Server> {
  const tracing = await startTracing(serviceName);
  initialiseSeries(runtimeNames(), CONSUMED_KINDS);
  platformFunction.onShutdown(() => tracing.shutdown());
  const server = await faas.start(platformFunction as unknown as Parameters<typeof faas.start>[0], { port, logLevel: logLevel as never });
  frontRuntime(server, (runtime) => withOwnMetrics(withDoor(runtime)));
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startPlatformFunction(Number(process.env.PORT ?? 8080), process.env.FUNC_LOG_LEVEL ?? 'warn');
}
