import http from 'node:http';
import { HTTP, type CloudEvent } from 'cloudevents';
import { readCappedBody, writeRefusal } from '../adapters/events/door-http.ts';
import type { EmbeddedBackend } from '../backends/embedded.ts';
import { admitCloudEvent } from '../events/admission.ts';
import { toEnvelope } from '../events/envelope.ts';
import { permanent, PlatformError } from '../errors.ts';
import { tailFile } from '../adapters/local/log-tail.ts';
import { serveMetrics } from '../observability/exposition.ts';
import { bearerAccepted } from './api-token.ts';
import type { EmbeddedBroker } from './broker.ts';
import { routeToFunction } from './router.ts';

export interface ApiContext {
  backend: EmbeddedBackend;
  broker: EmbeddedBroker;
  info: Record<string, unknown>;
  maxEventBytes: number;
  /** When set, every route but /health/* requires it as a bearer token. */
  apiToken?: string | undefined;
}

function json(response: http.ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

/** Broker ingress: one valid CloudEvent (either content mode) is accepted with 202 and delivered later. */
async function ingress(context: ApiContext, request: http.IncomingMessage, response: http.ServerResponse): Promise<void> {
  const body = await readCappedBody(request, context.maxEventBytes);
  const { headers } = admitCloudEvent(request.headers, body);
  let event: CloudEvent<unknown>;
  try {
    event = HTTP.toEvent({ headers, body: body.toString('utf8') }) as CloudEvent<unknown>;
    event.validate();
  } catch (error) {
    const details = ((error as { errors?: unknown[] }).errors ?? []).map((e) => JSON.stringify(e));
    throw permanent('InvalidCloudEvent', (error as Error).message, details, 400);
  }
  // 202 only once the event is on disk: an acknowledged event survives a crash.
  await context.broker.publish(toEnvelope(event as unknown as Record<string, unknown>));
  response.writeHead(202).end();
}

async function functionsList(context: ApiContext): Promise<unknown[]> {
  const { deployer } = context.backend;
  return (await deployer.list()).map((s) => ({
    name: s.spec.name,
    third_party_id: s.spec.identity.thirdPartyId,
    parser_id: s.spec.identity.parserId,
    runtime: s.spec.runtime,
    phase: s.status.phase,
    reason: s.status.reason,
    message: s.status.message,
    url: s.status.url ?? deployer.url(s.spec.name),
    revision: s.revision,
    build: s.spec.buildName,
    running: deployer.isRunning(s.spec.name),
  }));
}

/** Dead letters published again (with the seq of the event each became), and those that could not be. */
export interface ReplayReport {
  replayed: Array<{ dead_letter: number; seq: number }>;
  failed: Array<{ dead_letter: number; error: string }>;
}

/** Every dead letter published again, in turn; one that cannot be is reported and does not stop the others. */
async function replayAll(broker: EmbeddedBroker): Promise<ReplayReport> {
  const report: ReplayReport = { replayed: [], failed: [] };
  for (const { seq: deadLetter } of broker.deadLetters()) {
    try {
      const seq = await broker.replay(deadLetter);
      if (seq !== undefined) report.replayed.push({ dead_letter: deadLetter, seq });
    } catch (error) {
      report.failed.push({ dead_letter: deadLetter, error: (error as Error).message });
    }
  }
  return report;
}

const NAME = '([a-z0-9-]{1,63})';
/** Probes stay open: a kubelet or load balancer has no token. */
const OPEN = /^\/health\//;

function unauthorized(response: http.ServerResponse): void {
  response.writeHead(401, { 'content-type': 'application/json', 'www-authenticate': 'Bearer' }).end(JSON.stringify({ error: 'Unauthorized', message: 'This platform requires its token (KL_API_TOKEN) as a bearer token: Authorization: Bearer <token>' }));
}

/** The embedded platform's HTTP surface: ingress, function router, and a read-only API for the CLI. */
export function createHttpHandler(context: ApiContext): http.RequestListener {
  const { backend, broker } = context;
  const routes: Array<[string, RegExp, (m: RegExpMatchArray, url: URL, req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>]> = [
    ['POST', /^\/events\/?$/, async (_m, _u, req, res) => ingress(context, req, res)],
    ['GET', /^\/api\/platform$/, async (_m, _u, _req, res) => json(res, 200, context.info)],
    [
      'GET',
      /^\/api\/events$/,
      async (_m, url, _req, res) => {
        const after = Number(url.searchParams.get('after') ?? 0) || 0;
        const wait = Math.min(Number(url.searchParams.get('wait') ?? 0) || 0, 30);
        json(res, 200, await broker.feed(after, url.searchParams.get('correlationid') ?? undefined, wait * 1000));
      },
    ],
    ['GET', /^\/api\/dead-letters$/, async (_m, _u, _req, res) => json(res, 200, broker.deadLetters())],
    ['POST', /^\/api\/dead-letters\/replay$/, async (_m, _u, _req, res) => json(res, 200, await replayAll(broker))],
    [
      'POST',
      /^\/api\/dead-letters\/(\d{1,15})\/replay$/,
      async (m, _u, _req, res) => {
        const deadLetter = Number(m[1]);
        const seq = await broker.replay(deadLetter);
        if (seq === undefined) return json(res, 404, { error: 'NoSuchDeadLetter', message: `No dead letter ${deadLetter}: \`klambda dead-letters\` lists them` });
        json(res, 200, { replayed: [{ dead_letter: deadLetter, seq }], failed: [] } satisfies ReplayReport);
      },
    ],
    ['GET', /^\/api\/functions$/, async (_m, _u, _req, res) => json(res, 200, await functionsList(context))],
    [
      'GET',
      new RegExp(`^/api/functions/${NAME}$`),
      async (m, _u, _req, res) => {
        const found = (await functionsList(context)).find((f) => (f as { name: string }).name === m[1]);
        return found ? json(res, 200, found) : json(res, 404, { error: `No function named "${m[1]}"` });
      },
    ],
    [
      'GET',
      new RegExp(`^/api/functions/${NAME}/logs$`),
      async (m, url, _req, res) => {
        if (!(await backend.deployer.get(m[1] ?? ''))) return json(res, 404, { error: `No function named "${m[1]}"` });
        const lines = Math.min(Number(url.searchParams.get('lines') ?? 200) || 200, 5000);
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(await tailFile(backend.deployer.logFile(m[1] ?? ''), lines, 1024 * 1024));
      },
    ],
    [
      'GET',
      /^\/api\/builds$/,
      async (_m, url, _req, res) => {
        const fn = url.searchParams.get('function');
        const builds = await backend.executor.list();
        json(res, 200, builds.filter((b) => !fn || b.spec.functionName === fn).map((b) => ({ name: b.name, function: b.spec.functionName, digest: b.spec.contentDigest, ...b.status, logTail: undefined })));
      },
    ],
    [
      'GET',
      new RegExp(`^/api/builds/${NAME}/logs$`),
      async (m, _u, _req, res) => {
        res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(await tailFile(backend.executor.logFile(m[1] ?? ''), 5000, 1024 * 1024));
      },
    ],
    ['GET', /^\/metrics$/, async (_m, _u, req, res) => serveMetrics(req, res)],
    ['GET', /^\/health\/(?:readiness|liveness)$/, async (_m, _u, _req, res) => void res.writeHead(200, { 'content-type': 'text/plain' }).end('OK')],
  ];

  return (request, response) => {
    // A request target such as `//` is no URL: `new URL` would throw out of the listener and end the process.
    const url = URL.parse(request.url ?? '/', 'http://platform');
    if (!url) return json(response, 400, { error: 'InvalidRequestTarget', message: `"${request.url}" is not a path` });
    if (context.apiToken !== undefined && !OPEN.test(url.pathname)) {
      if (!bearerAccepted(request.headers.authorization, context.apiToken)) return unauthorized(response);
      // The token is the platform's: the functions behind the router must never see it.
      delete request.headers.authorization;
    }
    const fn = /^\/functions\/([a-z0-9-]{1,63})(\/.*)?$/.exec(url.pathname);
    const handle = async (): Promise<void> => {
      if (fn) return routeToFunction(backend.deployer, fn[1] ?? '', `${fn[2] ?? '/'}${url.search}`, request, response);
      const route = routes.find(([method, pattern]) => method === request.method && pattern.test(url.pathname));
      if (!route) return json(response, 404, { error: `No route for ${request.method} ${url.pathname}` });
      await route[2](url.pathname.match(route[1]) as RegExpMatchArray, url, request, response);
    };
    handle().catch((error: Error) => {
      if (response.headersSent) response.destroy(error);
      else if (error instanceof PlatformError) writeRefusal(response, error);
      else json(response, 500, { error: error.message });
    });
  };
}
