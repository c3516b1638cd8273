// Serves a built Node.js function with faas-js-runtime: HTTP and CloudEvents on $PORT,
// /health/liveness and /health/readiness. AWS Lambda style handlers are adapted here.
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import faas from 'faas-js-runtime';

const root = process.cwd();
const build = JSON.parse(readFileSync(path.join(root, 'runtime', 'build.json'), 'utf8'));
const mod = await import(pathToFileURL(path.join(root, 'function', build.entry)).href);
const exported = build.exportName === 'default' ? mod.default : (mod[build.exportName] ?? mod.default?.[build.exportName]);
const functionName = process.env.K_SERVICE ?? 'function';
const timeoutSeconds = Number(process.env.FUNCTION_TIMEOUT_SECONDS ?? 300);

/** API Gateway HTTP API (payload 2.0) shaped event for a plain HTTP request. */
function httpEvent(context, body) {
  const raw = context.rawBody ?? (Buffer.isBuffer(body) ? body : body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body));
  const binary = Buffer.isBuffer(raw);
  const query = new URLSearchParams(Object.entries(context.query ?? {}).map(([k, v]) => [k, String(v)])).toString();
  return {
    version: '2.0',
    routeKey: '$default',
    rawPath: '/',
    rawQueryString: query,
    headers: context.headers,
    queryStringParameters: context.query,
    requestContext: { http: { method: context.method, path: '/', protocol: `HTTP/${context.httpVersion}` }, requestId: randomUUID(), timeEpoch: Date.now() },
    body: raw === undefined ? undefined : binary ? raw.toString('base64') : raw,
    isBase64Encoded: binary,
  };
}

function lambdaContext(requestId) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  return {
    awsRequestId: requestId,
    functionName,
    functionVersion: process.env.K_REVISION ?? '$LATEST',
    memoryLimitInMB: process.env.FUNCTION_MEMORY_MB ?? '',
    callbackWaitsForEmptyEventLoop: false,
    getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
  };
}

/** Calls a Lambda handler written either async or with a callback. */
function invokeLambda(handler, event, context) {
  if (handler.length < 3) return Promise.resolve(handler(event, context));
  return new Promise((resolve, reject) => {
    const returned = handler(event, context, (error, result) => (error ? reject(error) : resolve(result)));
    if (returned && typeof returned.then === 'function') returned.then(resolve, reject);
  });
}

/** Lambda proxy responses ({statusCode, headers, body}) map to HTTP; anything else becomes JSON. */
function toResponse(result) {
  if (result && typeof result === 'object' && 'statusCode' in result) {
    const body = result.isBase64Encoded && typeof result.body === 'string' ? Buffer.from(result.body, 'base64') : result.body;
    return { statusCode: result.statusCode, headers: result.headers ?? {}, body: body ?? '' };
  }
  if (result === undefined || result === null) return { statusCode: 204, body: '' };
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: result };
}

function lambdaAdapter(handler) {
  return async function handle(context, body) {
    const ce = context.cloudevent;
    const event = ce ? ce.toJSON() : httpEvent(context, body);
    const lambdaCtx = lambdaContext(ce?.id ?? randomUUID());
    return toResponse(await invokeLambda(handler, event, lambdaCtx));
  };
}

if (typeof exported !== 'function') {
  console.error(`handler "${build.exportName}" is not a function`);
  process.exit(1);
}

const lifecycle = build.style === 'faas' ? mod : {};
await faas.start(
  {
    handle: build.style === 'faas' ? exported : lambdaAdapter(exported),
    init: lifecycle.init,
    shutdown: lifecycle.shutdown,
    liveness: lifecycle.liveness,
    readiness: lifecycle.readiness,
  },
  { port: Number(process.env.PORT ?? 8080), logLevel: process.env.FUNC_LOG_LEVEL ?? 'warn', includeRaw: true },
);
