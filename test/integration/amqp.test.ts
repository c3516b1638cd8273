// Smoke tests of RabbitMQ with amqplib: declare, publish with publisher
// confirms, consume, ack, and dead-lettering of a rejected message.
import { randomBytes } from "node:crypto";
import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage } from "amqplib";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireAmqp, type TestEnv } from "./support/env.ts";

/** Resolves with the next `count` messages delivered to `queue` (not acked). */
function nextMessages(ch: Channel, queue: string, count: number, timeoutMs = 10_000): Promise<ConsumeMessage[]> {
  return new Promise((resolve, reject) => {
    const got: ConsumeMessage[] = [];
    let tag: string | undefined;
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${count} message(s) on ${queue}; got ${got.length}`)), timeoutMs);
    ch.consume(queue, (msg) => {
      if (!msg) return;
      got.push(msg);
      if (got.length === count) {
        clearTimeout(timer);
        if (tag) void ch.cancel(tag);
        resolve(got);
      }
    }).then((ok) => {
      tag = ok.consumerTag;
    }, reject);
  });
}

describe("RabbitMQ (AMQP)", () => {
  let env: TestEnv;
  let conn: ChannelModel;
  let ch: ConfirmChannel;
  const id = randomBytes(4).toString("hex");
  const exchange = `smoke.events.${id}`;
  const dlx = `smoke.dlx.${id}`;
  const queue = `smoke.work.${id}`;
  const dlq = `smoke.dead.${id}`;

  beforeAll(async () => {
    env = await requireAmqp();
    conn = await connect(env.amqp.url);
    ch = await conn.createConfirmChannel();
    await ch.prefetch(10);
  });

  afterAll(async () => {
    if (ch) {
      for (const q of [queue, dlq]) await ch.deleteQueue(q).catch(() => undefined);
      for (const x of [exchange, dlx]) await ch.deleteExchange(x).catch(() => undefined);
      await ch.close().catch(() => undefined);
    }
    await conn?.close().catch(() => undefined);
  });

  it("declares, publishes with confirms, consumes, acks and dead-letters", async () => {
    await ch.assertExchange(exchange, "topic", { durable: false, autoDelete: false });
    await ch.assertExchange(dlx, "fanout", { durable: false, autoDelete: false });
    const dead = await ch.assertQueue(dlq, { durable: false });
    expect(dead.queue).toBe(dlq);
    await ch.bindQueue(dlq, dlx, "");
    const work = await ch.assertQueue(queue, { durable: false, arguments: { "x-dead-letter-exchange": dlx } });
    expect(work.messageCount).toBe(0);
    await ch.bindQueue(queue, exchange, "lambda.build.#");

    // Publish two messages and wait for the broker's confirms.
    const confirmed: Array<string> = [];
    for (const n of ["good", "poison"]) {
      await new Promise<void>((resolve, reject) => {
        ch.publish(exchange, "lambda.build.start", Buffer.from(JSON.stringify({ n })), { contentType: "application/json", messageId: n, persistent: true }, (err) =>
          err ? reject(err) : resolve(),
        );
      });
      confirmed.push(n);
    }
    await ch.waitForConfirms();
    expect(confirmed).toEqual(["good", "poison"]);

    // Consume both: ack the good one, reject the poison one without requeue.
    const [good, poison] = await nextMessages(ch, queue, 2);
    expect(good!.properties.messageId).toBe("good");
    expect(JSON.parse(good!.content.toString())).toEqual({ n: "good" });
    expect(poison!.properties.messageId).toBe("poison");
    ch.ack(good!);
    ch.nack(poison!, false, false);

    // The rejected message arrives on the dead-letter queue with its x-death record.
    const [deadLettered] = await nextMessages(ch, dlq, 1);
    expect(deadLettered!.properties.messageId).toBe("poison");
    const xDeath = deadLettered!.properties.headers?.["x-death"] as Array<{ queue: string; reason: string }> | undefined;
    expect(xDeath?.[0]).toMatchObject({ queue, reason: "rejected" });
    ch.ack(deadLettered!);

    // Nothing is left: the good message was acked, the poison one moved.
    const after = await ch.checkQueue(queue);
    expect(after.messageCount).toBe(0);
    const afterDead = await ch.checkQueue(dlq);
    expect(afterDead.messageCount).toBe(0);
  });
});
