/**
 * Starts the platform's function with faas-js-runtime on a port, with two changes:
 * - faas-js-runtime answers a CloudEvent that fails validation with 500, which the broker
 *   would retry forever; the SDK's validation errors are marked 400, the permanent
 *   failures they are;
 * - GET /metrics serves the platform's own registry (CloudEvent, pipeline and dependency
 *   metrics, with exemplars in OpenMetrics) instead of faas-js-runtime's generic one.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import faas from 'faas-js-runtime';
import { CONSUMED_KINDS } from '../lib/events/types.ts';
import { serveMetrics } from '../lib/observability/exposition.ts';
import { initialiseSeries } from '../lib/observability/metrics.ts';
import { runtimeNames } from '../lib/runtimes/registry.ts';
import { startTracing } from '../lib/observability/tracing.ts';
import * as platformFunction from './index.ts';

const requireFromRuntime = createRequire(createRequire(import.meta.url).resolve('faas-js-runtime'));
const runtimeCloudEvents = requireFromRuntime('cloudevents') as { ValidationError: { prototype: object } };
Object.defineProperty(runtimeCloudEvents.ValidationError.prototype, 'statusCode', { value: 400, configurable: true });

type Listener = (request: IncomingMessage, response: ServerResponse) => void;

/** Puts the platform's /metrics in front of the runtime's routes. */
function serveOwnMetrics(server: Server): void {
  const [runtime] = server.listeners('request') as Listener[];
  if (!runtime) return;
  server.removeAllListeners('request');
  server.on('request', (request: IncomingMessage, response: ServerResponse) => {
    if (request.method === 'GET' && request.url?.split('?')[0] === '/metrics') {
      serveMetrics(request, response).catch((error: Error) => response.writeHead(500).end(error.message));
      return;
    }
    runtime(request, response);
  });
}

export async function startPlatformFunction(port: number, logLevel = 'warn', serviceName = `knative-lambda-${process.env.KL_ROLE ?? 'builder'}`): Promise<Server> {
  const tracing = await startTracing(serviceName);
  initialiseSeries(runtimeNames(), CONSUMED_KINDS);
  platformFunction.onShutdown(() => tracing.shutdown());
  const server = await faas.start(platformFunction as unknown as Parameters<typeof faas.start>[0], { port, logLevel: logLevel as never });
  serveOwnMetrics(server);
  return server;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startPlatformFunction(Number(process.env.PORT ?? 8080), process.env.FUNC_LOG_LEVEL ?? 'warn');
}
