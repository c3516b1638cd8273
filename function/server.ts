/**
 * Starts the builder function with faas-js-runtime on a port. faas-js-runtime answers
 * a CloudEvent that fails validation with 500, which the broker would retry forever;
 * marking the SDK's validation errors as 400 makes them the permanent failures they are.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import faas from 'faas-js-runtime';
import * as builder from './index.ts';

const requireFromRuntime = createRequire(createRequire(import.meta.url).resolve('faas-js-runtime'));
const runtimeCloudEvents = requireFromRuntime('cloudevents') as { ValidationError: { prototype: object } };
Object.defineProperty(runtimeCloudEvents.ValidationError.prototype, 'statusCode', { value: 400, configurable: true });

export async function startBuilder(port: number, logLevel = 'warn'): Promise<Server> {
  return faas.start(builder as unknown as Parameters<typeof faas.start>[0], { port, logLevel: logLevel as never });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  await startBuilder(Number(process.env.PORT ?? 8080), process.env.FUNC_LOG_LEVEL ?? 'warn');
}
