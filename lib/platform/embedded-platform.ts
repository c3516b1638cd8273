import { mkdir } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { freePort } from '../adapters/local/free-port.ts';
import { createEmbeddedBackend } from '../backends/embedded.ts';
import type { Config } from '../config/schema.ts';
import { CONSUMED_KINDS, eventType } from '../events/types.ts';
import { createLogger } from '../observability/logger.ts';
import { EmbeddedBroker } from './broker.ts';
import { createHttpHandler } from './http-api.ts';

export interface RunningPlatform {
  url: string;
  builderUrl: string;
  close(): Promise<void>;
}

const MAX_EVENT_BYTES = 1024 * 1024;

/**
 * The whole platform in one process: broker, builder function (served by faas-js-runtime
 * exactly as on a cluster), host builds, local functions and the router in front of them.
 */
export async function startEmbeddedPlatform(config: Config): Promise<RunningPlatform> {
  const log = createLogger(config.KL_LOG_LEVEL, 'platform');
  await mkdir(config.KL_DATA_DIR, { recursive: true });
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.KL_PLATFORM_PORT, config.KL_PLATFORM_HOST, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${config.KL_PLATFORM_HOST.includes(':') ? `[${config.KL_PLATFORM_HOST}]` : config.KL_PLATFORM_HOST}:${address.port}`;

  const broker = new EmbeddedBroker({ retries: config.KL_BROKER_RETRIES, backoffMs: config.KL_BROKER_BACKOFF_MS, eventTypePrefix: config.KL_EVENT_TYPE_PREFIX, log, journalFile: path.join(config.KL_DATA_DIR, 'events.jsonl') });
  const backend = await createEmbeddedBackend(config, { sink: broker, routerUrl: url, log });

  const builder = await import('../../function/index.ts');
  const { startPlatformFunction } = await import('../../function/server.ts');
  builder.useBackend(backend.deps);
  const builderPort = await freePort();
  const builderServer = await startPlatformFunction(builderPort, config.KL_LOG_LEVEL === 'debug' || config.KL_LOG_LEVEL === 'trace' ? 'info' : 'warn', 'knative-lambda-embedded');
  const builderUrl = `http://127.0.0.1:${builderPort}/`;
  const consumed = new Set(CONSUMED_KINDS.map((kind) => eventType(config.KL_EVENT_TYPE_PREFIX, kind)));
  broker.subscribe({ name: 'builder', accepts: (type) => consumed.has(type), url: () => builderUrl });

  const info = {
    name: 'knative-lambda',
    backend: 'embedded',
    eventTypePrefix: config.KL_EVENT_TYPE_PREFIX,
    ingress: `${url}/events`,
    builderUrl,
    store: { kind: config.KL_STORE, location: backend.deps.store.location },
    dataDir: config.KL_DATA_DIR,
  };
  server.on('request', createHttpHandler({ backend, broker, info, maxEventBytes: MAX_EVENT_BYTES }));
  await backend.resume();
  log.info({ url, builderUrl, dataDir: config.KL_DATA_DIR }, 'embedded platform ready');

  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      await backend.shutdown();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      builderServer.closeAllConnections?.();
      await new Promise<void>((resolve) => builderServer.close(() => resolve()));
    })();
    return closing;
  };
  builder.onShutdown(close);
  return { url, builderUrl, close };
}
