// One build, followed through the builder and the reconcile steps (the job-watcher's code)
// with an in-memory span exporter: one trace from build.start to service.ready.
import { randomBytes, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { startEmbeddedPlatform, type RunningPlatform } from '../../lib/platform/embedded-platform.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource } from '../support/embedded-platform.ts';
import { ofType, publish, waitForEntry } from '../support/platform-events.ts';

const exporter = new InMemorySpanExporter();
const provider = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] });
const PREFIX = 'network.notifi.lambda';
const traceId = randomBytes(16).toString('hex');
const producerSpan = randomBytes(8).toString('hex');
let platform: RunningPlatform;
let dataDir: string;

beforeAll(async () => {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  trace.setGlobalTracerProvider(provider);
  dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-trace-'));
  platform = await startEmbeddedPlatform(loadConfig({ KL_DATA_DIR: dataDir, KL_PLATFORM_PORT: String(await freePort()), KL_LOG_LEVEL: 'silent' }));
});

afterAll(async () => {
  await platform?.close();
  await fs.rm(dataDir, { recursive: true, force: true });
});

describe('tracing', () => {
  it('follows one build from build.start to service.ready in one trace', async () => {
    const source = Buffer.from('export const handle = () => "traced";\n');
    const hash = sha256Hex(source);
    const key = `sources/acme/traced/${hash}.mjs`;
    await putSource(dataDir, key, source);
    const correlationid = `trace-${randomUUID()}`;
    const response = await publish(platform.url, {
      type: `${PREFIX}.build.start`,
      correlationid,
      traceparent: `00-${traceId}-${producerSpan}-01`,
      data: { third_party_id: 'acme', parser_id: 'traced', content_hash: hash, source: { key } },
    });
    expect(response.status).toBe(202);

    const ready = await waitForEntry(platform.url, ofType(`${PREFIX}.service.ready`), { correlationId: correlationid });
    expect(ready, 'service.ready').toBeDefined();
    expect(ready?.event.traceparent?.split('-')[1]).toBe(traceId);

    await provider.forceFlush();
    const spans = exporter.getFinishedSpans();
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId);
    const names = inTrace.map((s) => s.name);
    for (const expected of [
      `process ${PREFIX}.build.start`,
      'store get',
      'store put',
      'local job.create',
      'reconcile build',
      'local service.apply',
      `send ${PREFIX}.build.complete`,
      'reconcile service',
      `send ${PREFIX}.service.ready`,
    ]) {
      expect(names, `span "${expected}" in ${JSON.stringify(names)}`).toContain(expected);
    }
    const byId = new Map(inTrace.map((s) => [s.spanContext().spanId, s]));
    const processSpan = inTrace.find((s) => s.name === `process ${PREFIX}.build.start`)!;
    expect(processSpan.parentSpanContext?.spanId).toBe(producerSpan);
    const reconcile = inTrace.find((s) => s.name === 'reconcile build')!;
    expect(reconcile.parentSpanContext?.spanId).toBe(processSpan.spanContext().spanId);
    const reconcileService = inTrace.find((s) => s.name === 'reconcile service')!;
    expect(byId.has(reconcileService.parentSpanContext?.spanId ?? '')).toBe(true);
    const send = inTrace.find((s) => s.name === `send ${PREFIX}.build.complete`)!;
    expect(send.attributes['cloudevents.event_type']).toBe(`${PREFIX}.build.complete`);
    expect(spans.filter((s) => s.name.startsWith('reconcile') && s.spanContext().traceId !== traceId)).toEqual([]);
  }, 90_000);
});
