import { mkdir, rm } from 'node:fs/promises';
import http from 'node:http';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import faas from 'faas-js-runtime';
import type { Logger } from 'pino';
import { freePort } from '../adapters/local/free-port.ts';
import { createEmbeddedBackend } from '../backends/embedded.ts';
import { ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import { CONSUMED_KINDS, eventType } from '../events/types.ts';
import { createLogger } from '../observability/logger.ts';
import { exposureProblem } from './api-token.ts';
import { EmbeddedBroker } from './broker.ts';
import { createHttpHandler } from './http-api.ts';

export interface RunningPlatform {
  url: string;
  builderUrl: string;
  close(): Promise<void>;
}

/**
 * faas-js-runtime listens on every interface, as a function in a container must, and has no
 * option for it; the embedded builder takes events from this host only (the broker), never
 * from the network past the ingress and its token.
 */
async function listenOnLoopbackOnly(server: http.Server): Promise<void> {
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
}

/** The broker, with what a previous run left undelivered; the unbounded debug journal of earlier versions goes. */
async function openBroker(config: Config, log: Logger): Promise<EmbeddedBroker> {
  await rm(path.join(config.KL_DATA_DIR, 'events.jsonl'), { force: true });
  return EmbeddedBroker.open({
    dir: path.join(config.KL_DATA_DIR, 'broker'),
    retries: config.KL_BROKER_RETRIES,
    backoffMs: config.KL_BROKER_BACKOFF_MS,
    eventTypePrefix: config.KL_EVENT_TYPE_PREFIX,
    log,
    journalMaxBytes: config.KL_BROKER_JOURNAL_MAX_BYTES,
    limits: { maxEntries: config.KL_BROKER_FEED_MAX_ENTRIES, maxBytes: config.KL_BROKER_FEED_MAX_BYTES, deadLetters: config.KL_BROKER_DEAD_LETTERS_MAX, dedupeWindow: config.KL_BROKER_DEDUPE_WINDOW },
  });
}

/**
 * The whole platform in one process: broker, builder function (served by faas-js-runtime
 * exactly as on a cluster), host builds, local functions and the router in front of them.
 * Throws a ConfigError, before listening, when it would be open to the network without a token.
 */
export async function startEmbeddedPlatform(config: Config): Promise<RunningPlatform> {
  const exposure = exposureProblem(config.KL_PLATFORM_HOST, config.KL_API_TOKEN);
  if (exposure) throw new ConfigError([exposure]);
  const log = createLogger(config.KL_LOG_LEVEL, 'platform');
  await mkdir(config.KL_DATA_DIR, { recursive: true });
  // Listening comes first (the router's URL needs the port); until everything is ready, a request gets a 503 rather than no answer.
  let handle: http.RequestListener = (_request, response) => void response.writeHead(503, { 'retry-after': '1' }).end('starting');
  const server = http.createServer((request, response) => handle(request, response));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.KL_PLATFORM_PORT, config.KL_PLATFORM_HOST, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${config.KL_PLATFORM_HOST.includes(':') ? `[${config.KL_PLATFORM_HOST}]` : config.KL_PLATFORM_HOST}:${address.port}`;

  const broker = await openBroker(config, log);
  const backend = await createEmbeddedBackend(config, { sink: broker, routerUrl: url, log });

  const builder = await import('../../function/index.ts');
  const { startPlatformFunction } = await import('../../function/server.ts');
  builder.useBackend(backend.deps);
  const builderPort = await freePort();
  const builderServer = await startPlatformFunction(builderPort, config.KL_LOG_LEVEL === 'debug' || config.KL_LOG_LEVEL === 'trace' ? 'info' : 'warn', 'knative-lambda-embedded');
  await listenOnLoopbackOnly(builderServer);
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
  // The builder's own cap, so that the ingress and the builder refuse the same sizes.
  handle = createHttpHandler({ backend, broker, info, maxEventBytes: faas.defaults.BODY_LIMIT, apiToken: config.KL_API_TOKEN });
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
      await broker.close();
    })();
    return closing;
  };
  builder.onShutdown(close);
  return { url, builderUrl, close };
}
