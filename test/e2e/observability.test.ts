// Drives builds through the running platform, then reads its /metrics and its logs:
// the recorded values match what happened, exemplars carry the trace id, and no
// secret reaches a log line.
import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionName } from '../../lib/naming.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { publish, waitForEntry } from '../support/platform-events.ts';

const PREFIX = 'network.notifi.lambda';
const SECRET = `s3cr3t-${randomUUID()}`;
const STORE_SECRET = `aws-${randomUUID()}`;
const traceId = randomBytes(16).toString('hex');
const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`;
const correlationid = `obs-${randomUUID()}`;
let platform: TestPlatform;

function value(text: string, series: string): number {
  const escaped = series.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  const match = new RegExp(`^${escaped} ([0-9.e+-]+)$`, 'm').exec(text);
  return match ? Number(match[1]) : 0;
}

async function scrape(accept = 'text/plain'): Promise<string> {
  const response = await fetch(`${platform.url}/metrics`, { headers: { accept } });
  expect(response.status).toBe(200);
  return response.text();
}

async function send(event: Record<string, unknown>): Promise<void> {
  expect((await publish(platform.url, event)).status).toBe(202);
}

/** Waits until `count` events of the type were caused by this test's correlation id. */
async function waitFor(type: string, count = 1): Promise<void> {
  await waitForEntry(platform.url, (entries) => entries.filter((e) => e.event.type === `${PREFIX}.${type}`)[count - 1], { correlationId: correlationid });
}

let buildStart: Record<string, unknown>;

beforeAll(async () => {
  platform = await startPlatform({ AWS_SECRET_ACCESS_KEY: STORE_SECRET });
  const source = Buffer.from('export const handler = async () => ({ statusCode: 200, body: "observed" });\n');
  const hash = sha256Hex(source);
  const key = `sources/acme/observed/${hash}.mjs`;
  await putSource(platform.dataDir, key, source);
  buildStart = { type: `${PREFIX}.build.start`, correlationid, traceparent, data: { third_party_id: 'acme', parser_id: 'observed', content_hash: hash, source: { key }, env: { DB_PASSWORD: SECRET } } };
  await send({ ...buildStart, id: randomUUID() });
  await waitFor('service.ready');
}, 90_000);

afterAll(async () => {
  await platform?.stop();
});

describe('metrics record what happened', () => {
  it('counts the event, the build, its outcome, its duration and the deployment', async () => {
    const text = await scrape();
    expect(value(text, 'knative_lambda_cloudevents_received_total{type="build.start",handler="builder",code="200"}')).toBe(1);
    expect(value(text, 'knative_lambda_builds_started_total{runtime="nodejs"}')).toBe(1);
    expect(value(text, 'knative_lambda_builds_completed_total{runtime="nodejs"}')).toBe(1);
    expect(value(text, 'knative_lambda_build_duration_seconds_count{runtime="nodejs",outcome="succeeded"}')).toBe(1);
    expect(value(text, 'knative_lambda_deploy_duration_seconds_count{runtime="nodejs"}')).toBe(1);
    expect(value(text, 'knative_lambda_build_context_size_bytes_count{runtime="nodejs"}')).toBe(1);
    expect(value(text, 'knative_lambda_build_context_size_bytes_sum{runtime="nodejs"}')).toBeGreaterThan(1000);
    expect(value(text, 'knative_lambda_build_context_creation_duration_seconds_count{runtime="nodejs"}')).toBe(1);
    expect(value(text, 'knative_lambda_events_emitted_total{type="build.started",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_events_emitted_total{type="build.complete",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_events_emitted_total{type="service.ready",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_dependency_requests_total{dependency="store",operation="get",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_dependency_requests_total{dependency="store",operation="put",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_dependency_requests_total{dependency="local",operation="job.create",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_dependency_requests_total{dependency="local",operation="service.apply",outcome="success"}')).toBe(1);
    expect(value(text, 'knative_lambda_builds_running')).toBe(0);
    expect(value(text, 'knative_lambda_oldest_build_overdue_seconds')).toBe(0);
    expect(text).toContain('knative_lambda_process_resident_memory_bytes');
  });

  it('counts unchanged source as a cache hit and a redelivery as a duplicate', async () => {
    await send({ ...buildStart, id: randomUUID() });
    await waitFor('service.ready', 2);
    const text = await scrape();
    expect(value(text, 'knative_lambda_build_cache_hits_total{runtime="nodejs",result="ready"}')).toBe(1);
    expect(value(text, 'knative_lambda_builds_started_total{runtime="nodejs"}')).toBe(1);
  });

  it('counts refused events by status code and dead-lettered ones by type', async () => {
    await send({ id: randomUUID(), type: `${PREFIX}.service.delete`, correlationid, data: { third_party_id: '../nope', parser_id: 'x' } });
    await expect.poll(async () => value(await scrape(), 'knative_lambda_dead_lettered_events_total{type="service.delete"}'), { timeout: 10_000 }).toBe(1);
    expect(value(await scrape(), 'knative_lambda_cloudevents_received_total{type="service.delete",handler="builder",code="400"}')).toBe(1);
  });

  it('serves OpenMetrics with the trace id as exemplar when asked', async () => {
    const text = await scrape('application/openmetrics-text; version=1.0.0');
    expect(text).toMatch(new RegExp(`knative_lambda_cloudevent_handling_duration_seconds_bucket\\{[^}]*type="build.start"[^}]*\\} \\d+ # \\{trace_id="${traceId}"\\}`));
    expect(text).toMatch(new RegExp(`knative_lambda_build_duration_seconds_bucket\\{[^}]*\\} \\d+ # \\{trace_id="${traceId}"\\}`));
    expect(text.trimEnd().endsWith('# EOF')).toBe(true);
  });
});

describe('logs', () => {
  it('carry trace id, span id, correlation id and function identity on the lines of an event', async () => {
    const lines = (await platform.log()).split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
    const created = lines.find((l) => l.msg === 'build created');
    expect(created).toMatchObject({ trace_id: traceId, correlation_id: correlationid, function_name: functionName({ thirdPartyId: 'acme', parserId: 'observed' }), third_party_id: 'acme', parser_id: 'observed' });
    expect(created?.span_id).toMatch(/^[0-9a-f]{16}$/);
    const announced = lines.find((l) => l.msg === 'build outcome announced');
    expect(announced).toMatchObject({ trace_id: traceId, correlation_id: correlationid });
    const refused = lines.find((l) => l.category === 'permanent');
    expect(refused).toMatchObject({ reason: 'InvalidPayload', event_type: `${PREFIX}.service.delete` });
  });

  it('never contain a secret from an event or from the configuration', async () => {
    const log = await platform.log();
    expect(log).not.toContain(SECRET);
    expect(log).not.toContain(STORE_SECRET);
  });
});
