import { promises as fs } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { EmbeddedBroker, isRetryable, JOURNAL_FILE, type BrokerOptions } from '../../lib/platform/broker.ts';

const servers: http.Server[] = [];
const brokers: EmbeddedBroker[] = [];
const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
  for (const server of servers.splice(0)) server.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

interface Subscriber {
  url: string;
  received: Array<Record<string, string | string[] | undefined>>;
  /** The statuses answered from now on, in turn (the last one repeats); 0 never answers. */
  answer(statuses: number[]): void;
}

/** A subscriber that answers with the given statuses in turn, and records what it got. */
async function subscriber(statuses: number[], reply?: CloudEvent<unknown>): Promise<Subscriber> {
  const received: Subscriber['received'] = [];
  let script = statuses;
  let answered = 0;
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received.push(request.headers);
      const status = script[Math.min(answered, script.length - 1)] ?? 200;
      answered += 1;
      if (status === 0) return;
      if (status === 200 && reply) {
        const message = HTTP.binary(reply);
        response.writeHead(200, message.headers as Record<string, string>).end(message.body as string);
      } else {
        response.writeHead(status).end(status >= 400 ? 'reason from subscriber' : '');
      }
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    received,
    answer(next) {
      script = next;
      answered = 0;
    },
  };
}

const event: EventEnvelope = { id: 'e1', type: 'x.build.start', source: 'test', data: { a: 1 }, correlationid: 'corr', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };

async function newDir(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-broker-'));
  dirs.push(dir);
  return dir;
}

/** A broker on `dir`; opening a second one on the same directory is what a restart after a crash sees. */
async function openBroker(dir: string, options: Partial<BrokerOptions> = {}): Promise<EmbeddedBroker> {
  const broker = await EmbeddedBroker.open({
    dir,
    retries: 3,
    backoffMs: 5,
    eventTypePrefix: 'x',
    log: createLogger('silent'),
    journalMaxBytes: 64 * 1024 * 1024,
    limits: { maxEntries: 10_000, maxBytes: 16 * 1024 * 1024, deadLetters: 100, dedupeWindow: 1000 },
    ...options,
  });
  brokers.push(broker);
  return broker;
}

const broker = async () => openBroker(await newDir());

describe('isRetryable', () => {
  it('follows the RabbitMQ dispatcher', () => {
    expect([500, 503, 404, 408, 409, 429].every(isRetryable)).toBe(true);
    expect([400, 401, 403, 413, 422].some(isRetryable)).toBe(false);
  });
});

describe('EmbeddedBroker', () => {
  it('delivers in binary mode with the extensions, and publishes the reply', async () => {
    const reply = new CloudEvent({ type: 'x.build.started', source: 'builder', data: { ok: true }, correlationid: 'corr' });
    const target = await subscriber([200], reply);
    const b = await broker();
    b.subscribe({ name: 't', accepts: (type) => type === 'x.build.start', url: () => target.url });
    await b.publish(event);
    const entries = await b.feed(1, 'corr', 2000);
    expect(entries[0]).toMatchObject({ kind: 'event', event: { type: 'x.build.started', data: { ok: true } } });
    expect(target.received[0]).toMatchObject({ 'ce-id': 'e1', 'ce-type': 'x.build.start', 'ce-correlationid': 'corr', 'ce-traceparent': event.traceparent });
  });

  it('retries 5xx and 429 with backoff until it succeeds', async () => {
    const target = await subscriber([503, 429, 200]);
    const b = await broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await b.publish(event);
    await expect.poll(() => target.received.length, { timeout: 2000 }).toBe(3);
    await expect.poll(() => b.pendingDeliveries).toBe(0);
    expect(b.deadLetters()).toEqual([]);
  });

  it('dead-letters a 4xx at once, with the reason', async () => {
    const target = await subscriber([400]);
    const b = await broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await b.publish(event);
    await expect.poll(() => b.deadLetters().length, { timeout: 2000 }).toBe(1);
    expect(target.received).toHaveLength(1);
    expect(b.deadLetters()[0]).toMatchObject({ kind: 'dead-letter', status: 400, reason: 'reason from subscriber', trigger: 't' });
  });

  it('dead-letters after the last retry when the subscriber is unreachable', async () => {
    const b = await broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => 'http://127.0.0.1:9/' });
    await b.publish(event);
    await expect.poll(() => b.deadLetters().length, { timeout: 5000 }).toBe(1);
    expect(b.deadLetters()[0]).toMatchObject({ status: 0 });
  });

  it('lets a follower wait for entries of its correlation id only', async () => {
    const b = await broker();
    const waiting = b.feed(0, 'mine', 2000);
    await b.publish({ ...event, id: 'other', correlationid: 'theirs' });
    await b.publish({ ...event, id: 'wanted', correlationid: 'mine' });
    const entries = await waiting;
    expect(entries.map((e) => e.event.id)).toEqual(['wanted']);
  });

  it('has the event on disk by the time publish resolves', async () => {
    const dir = await newDir();
    const b = await openBroker(dir);
    await b.publish(event);
    const journal = await fs.readFile(path.join(dir, JOURNAL_FILE), 'utf8');
    expect(journal.trim().split('\n').map((line) => JSON.parse(line))).toContainEqual(expect.objectContaining({ r: 'accept', event: expect.objectContaining({ id: 'e1' }) }));
  });

  it('accepts a repeated (source, id) once, also while the first is being written and after a restart', async () => {
    const dir = await newDir();
    const target = await subscriber([200]);
    const b = await openBroker(dir);
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await Promise.all([b.publish(event), b.publish({ ...event }), b.publish({ ...event, id: 'e2' })]);
    await b.publish({ ...event, data: { a: 2 } });
    await b.publish({ ...event, source: 'elsewhere' });
    await expect.poll(() => target.received.length, { timeout: 2000 }).toBe(3);
    await b.close();

    const again = await openBroker(dir);
    again.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await again.publish({ ...event });
    expect((await again.feed(0, undefined, 0)).map((e) => [e.event.source, e.event.id])).toEqual([
      ['test', 'e1'],
      ['test', 'e2'],
      ['elsewhere', 'e1'],
    ]);
    expect(target.received).toHaveLength(3);
  });

  it('delivers after a restart what a crash left undelivered, and restores the feed', async () => {
    const dir = await newDir();
    const hanging = await subscriber([0]);
    const first = await openBroker(dir, { backoffMs: 10 });
    first.subscribe({ name: 't', accepts: () => true, url: () => hanging.url });
    await first.publish(event);
    await first.publish({ ...event, id: 'e2', type: 'x.other' });
    await expect.poll(() => hanging.received.length).toBe(2);

    // The first broker never hears back: as far as the journal knows, it died mid-delivery.
    const target = await subscriber([200]);
    const second = await openBroker(dir, { backoffMs: 10 });
    expect((await second.feed(0, undefined, 0)).map((e) => e.event.id)).toEqual(['e1', 'e2']);
    expect(second.pendingDeliveries).toBe(2);
    second.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await expect.poll(() => target.received.map((h) => h['ce-id']).sort(), { timeout: 2000 }).toEqual(['e1', 'e2']);
    await expect.poll(() => second.pendingDeliveries).toBe(0);
  });

  it('dead-letters at start a delivery whose last attempt was cut short, instead of retrying it forever', async () => {
    const dir = await newDir();
    const hanging = await subscriber([0]);
    const first = await openBroker(dir, { retries: 0 });
    first.subscribe({ name: 't', accepts: () => true, url: () => hanging.url });
    await first.publish(event);
    await expect.poll(() => hanging.received.length).toBe(1);

    const second = await openBroker(dir, { retries: 0 });
    second.subscribe({ name: 't', accepts: () => true, url: () => hanging.url });
    await expect.poll(() => second.deadLetters(), { timeout: 2000 }).toMatchObject([{ status: 0, reason: 'the platform stopped during the last delivery attempt' }]);
    expect(hanging.received).toHaveLength(1);
  });

  it('keeps dead letters across a restart, and a replay delivers the event unchanged and takes it off the list', async () => {
    const dir = await newDir();
    const target = await subscriber([422]);
    const secret = { ...event, data: { env: { API_KEY: 'plain-value' } } };
    const first = await openBroker(dir);
    first.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    await first.publish(secret);
    await expect.poll(() => first.deadLetters().length, { timeout: 2000 }).toBe(1);
    await first.close();

    const second = await openBroker(dir);
    second.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    const [dead] = second.deadLetters();
    expect(dead).toMatchObject({ status: 422, event: { id: 'e1', data: { env: { API_KEY: '[redacted]' } } } });
    expect(await fs.readFile(path.join(dir, JOURNAL_FILE), 'utf8')).not.toContain('plain-value');

    target.answer([200]);
    const seq = await second.replay(dead!.seq);
    expect(seq).toBeGreaterThan(dead!.seq);
    await expect.poll(() => target.received.length, { timeout: 2000 }).toBe(2);
    expect(target.received[1]).toMatchObject({ 'ce-id': 'e1' });
    expect(second.deadLetters()).toEqual([]);
    expect(await second.replay(dead!.seq)).toBeUndefined();
    expect((await second.feed(0, undefined, 0)).at(-1)).toMatchObject({ seq, kind: 'event', replayOf: dead!.seq });
  });

  it('keeps the number of dead letters bounded, the oldest dropped', async () => {
    const target = await subscriber([400]);
    const b = await openBroker(await newDir(), { limits: { maxEntries: 100, maxBytes: 1024 * 1024, deadLetters: 2, dedupeWindow: 100 } });
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    for (const id of ['a', 'b', 'c']) {
      await b.publish({ ...event, id });
      await expect.poll(() => b.deadLetters().some((d) => d.event.id === id), { timeout: 2000 }).toBe(true);
    }
    expect(b.deadLetters().map((d) => d.event.id)).toEqual(['b', 'c']);
  });

  it('compacts its journal past the bound, keeping what is still needed', async () => {
    const dir = await newDir();
    const limits = { maxEntries: 5, maxBytes: 1024 * 1024, deadLetters: 10, dedupeWindow: 1000 };
    const target = await subscriber([200]);
    const refusing = await subscriber([400]);
    const hanging = await subscriber([0]);
    const b = await openBroker(dir, { journalMaxBytes: 4096, limits });
    b.subscribe({ name: 't', accepts: (type) => type === 'x.build.start', url: () => target.url });
    b.subscribe({ name: 'refuses', accepts: (type) => type === 'x.refused', url: () => refusing.url });
    b.subscribe({ name: 'hangs', accepts: (type) => type === 'x.kept', url: () => hanging.url });
    await b.publish({ ...event, id: 'refused', type: 'x.refused' });
    await b.publish({ ...event, id: 'kept', type: 'x.kept' });
    await expect.poll(() => b.deadLetters().length, { timeout: 2000 }).toBe(1);
    for (let i = 0; i < 100; i += 1) await b.publish({ ...event, id: `delivered-${i}` });
    await expect.poll(() => target.received.length, { timeout: 5000 }).toBe(100);
    await b.close();
    const size = (await fs.stat(path.join(dir, JOURNAL_FILE))).size;
    expect(size).toBeLessThan(16 * 1024);

    const again = await openBroker(dir, { limits, backoffMs: 60_000 });
    expect(again.deadLetters().map((d) => d.event.id)).toEqual(['refused']);
    expect((await again.feed(0, undefined, 0)).map((e) => e.event.id)).toEqual(['delivered-95', 'delivered-96', 'delivered-97', 'delivered-98', 'delivered-99']);
    await again.publish({ ...event, id: 'delivered-3' });
    expect((await again.feed(0, undefined, 0)).at(-1)?.event.id).toBe('delivered-99');
    expect(again.pendingDeliveries).toBe(1);
  });

  it('keeps the feed bounded in bytes: a large event is shown without its data', async () => {
    const b = await openBroker(await newDir(), { limits: { maxEntries: 1000, maxBytes: 200 * 1024, deadLetters: 10, dedupeWindow: 1000 } });
    const large = 'x'.repeat(900 * 1024);
    for (let i = 0; i < 20; i += 1) await b.publish({ ...event, id: `large-${i}`, data: { large } });
    const entries = await b.feed(0, undefined, 0);
    expect(entries).toHaveLength(20);
    expect(entries[0]).toMatchObject({ truncated: Buffer.byteLength(JSON.stringify({ large })), event: { id: 'large-0' } });
    expect(entries[0]?.event.data).toBeUndefined();
    expect(Buffer.byteLength(JSON.stringify(entries))).toBeLessThan(200 * 1024);
  });
});
