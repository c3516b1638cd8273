/**
 * What keeping every accepted event on disk before the 202 costs. A `build.start`-sized
 * record appended to the journal: written without a sync (the baseline, what the broker did
 * before), written and synced one at a time (one `fdatasync` per event), and appended by
 * many callers at once (group commit: one write and one sync serve every append that
 * arrived meanwhile). Then the broker's `publish` one at a time and 64 at a time.
 *
 *   npm run bench:broker
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import pLimit from 'p-limit';
import type { EventEnvelope } from '../lib/events/envelope.ts';
import { createLogger } from '../lib/observability/logger.ts';
import { EmbeddedBroker } from '../lib/platform/broker.ts';
import { FileJournal } from '../lib/platform/journal.ts';

const COUNT = Number(process.argv[2] ?? 2000);
const PUBLISHERS = 64;
const log = createLogger('silent');

const event = (i: number): EventEnvelope => ({
  id: `bench-${i}`,
  type: 'network.notifi.lambda.build.start',
  source: 'network.notifi.acme',
  subject: 'invoice-parser',
  time: new Date().toISOString(),
  datacontenttype: 'application/json',
  correlationid: `order-${i}`,
  data: { third_party_id: 'acme', parser_id: 'invoice-parser', content_hash: 'a'.repeat(64), source: { key: `sources/acme/invoice-parser/${'a'.repeat(64)}.tar.gz` } },
});

async function timed(name: string, work: (dir: string) => Promise<string | void>): Promise<void> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-bench-journal-'));
  const started = performance.now();
  const note = await work(dir);
  const ms = performance.now() - started;
  process.stdout.write(`  ${name.padEnd(44)} ${((ms * 1000) / COUNT).toFixed(0).padStart(6)} µs/event  ${((COUNT * 1000) / ms).toFixed(0).padStart(7)} events/s${note ? `  ${note}` : ''}\n`);
  await fs.rm(dir, { recursive: true, force: true });
}

function journal(dir: string, onBatch: () => void = () => undefined): FileJournal<unknown> {
  return new FileJournal<unknown>(path.join(dir, 'journal.jsonl'), { onDurable: onBatch, log });
}

function broker(dir: string): Promise<EmbeddedBroker> {
  const limits = { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, deadLetters: 1000, dedupeWindow: 100_000 };
  return EmbeddedBroker.open({ dir, retries: 5, backoffMs: 200, eventTypePrefix: 'network.notifi.lambda', log, limits, journalMaxBytes: 64 * 1024 * 1024 });
}

const lines = Array.from({ length: COUNT }, (_, i) => `${JSON.stringify({ r: 'accept', seq: i + 1, event: event(i), triggers: ['builder'] })}\n`);
process.stdout.write(`${COUNT} appends of a ${Buffer.byteLength(lines[0] ?? '')}-byte record, Node.js ${process.version}, ${os.cpus().length} CPUs, ${os.tmpdir()}\n`);

await timed('baseline: write, no sync', async (dir) => {
  const handle = await fs.open(path.join(dir, 'journal.jsonl'), 'a');
  for (const line of lines) await handle.appendFile(line);
  await handle.close();
});
await timed('journal, one at a time (write + fdatasync)', async (dir) => {
  const file = journal(dir);
  for (let i = 0; i < COUNT; i += 1) await file.append([{ r: 'accept', seq: i + 1, event: event(i), triggers: ['builder'] }]);
  await file.close();
});
await timed('journal, all at once (group commit)', async (dir) => {
  let batches = 0;
  const file = journal(dir, () => (batches += 1));
  await Promise.all(Array.from({ length: COUNT }, (_, i) => file.append([{ r: 'accept', seq: i + 1, event: event(i), triggers: ['builder'] }])));
  await file.close();
  return `${batches} syncs`;
});
await timed('broker publish, one at a time', async (dir) => {
  const b = await broker(dir);
  for (let i = 0; i < COUNT; i += 1) await b.publish(event(i));
  await b.close();
});
await timed(`broker publish, ${PUBLISHERS} at a time`, async (dir) => {
  const b = await broker(dir);
  const limit = pLimit(PUBLISHERS);
  await Promise.all(Array.from({ length: COUNT }, (_, i) => limit(() => b.publish(event(i)))));
  await b.close();
});
