import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterEach, describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { EmbeddedBroker, isRetryable } from '../../lib/platform/broker.ts';

const servers: http.Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
});

/** A subscriber that answers with the given statuses in turn, and records what it got. */
async function subscriber(statuses: number[], reply?: CloudEvent<unknown>): Promise<{ url: string; received: Array<Record<string, string | string[] | undefined>> }> {
  const received: Array<Record<string, string | string[] | undefined>> = [];
  const server = http.createServer((request, response) => {
    request.resume();
    request.on('end', () => {
      received.push(request.headers);
      const status = statuses[Math.min(received.length - 1, statuses.length - 1)] ?? 200;
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
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, received };
}

const event: EventEnvelope = { id: 'e1', type: 'x.build.start', source: 'test', data: { a: 1 }, correlationid: 'corr', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' };
const broker = () => new EmbeddedBroker({ retries: 3, backoffMs: 5, eventTypePrefix: 'x', log: createLogger('silent') });

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
    const b = broker();
    b.subscribe({ name: 't', accepts: (type) => type === 'x.build.start', url: () => target.url });
    b.publish(event);
    const entries = await b.feed(1, 'corr', 2000);
    expect(entries[0]).toMatchObject({ kind: 'event', event: { type: 'x.build.started', data: { ok: true } } });
    expect(target.received[0]).toMatchObject({ 'ce-id': 'e1', 'ce-type': 'x.build.start', 'ce-correlationid': 'corr', 'ce-traceparent': event.traceparent });
  });

  it('retries 5xx and 429 with backoff until it succeeds', async () => {
    const target = await subscriber([503, 429, 200]);
    const b = broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    b.publish(event);
    await expect.poll(() => target.received.length, { timeout: 2000 }).toBe(3);
    await expect.poll(() => b.pendingDeliveries).toBe(0);
    expect(b.deadLetters()).toEqual([]);
  });

  it('dead-letters a 4xx at once, with the reason', async () => {
    const target = await subscriber([400]);
    const b = broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => target.url });
    b.publish(event);
    await expect.poll(() => b.deadLetters().length, { timeout: 2000 }).toBe(1);
    expect(target.received).toHaveLength(1);
    expect(b.deadLetters()[0]).toMatchObject({ kind: 'dead-letter', status: 400, reason: 'reason from subscriber', trigger: 't' });
  });

  it('dead-letters after the last retry when the subscriber is unreachable', async () => {
    const b = broker();
    b.subscribe({ name: 't', accepts: () => true, url: () => 'http://127.0.0.1:9/' });
    b.publish(event);
    await expect.poll(() => b.deadLetters().length, { timeout: 5000 }).toBe(1);
    expect(b.deadLetters()[0]).toMatchObject({ status: 0 });
  });

  it('lets a follower wait for entries of its correlation id only', async () => {
    const b = broker();
    const waiting = b.feed(0, 'mine', 2000);
    b.publish({ ...event, id: 'other', correlationid: 'theirs' });
    b.publish({ ...event, id: 'wanted', correlationid: 'mine' });
    const entries = await waiting;
    expect(entries.map((e) => e.event.id)).toEqual(['wanted']);
  });
});
