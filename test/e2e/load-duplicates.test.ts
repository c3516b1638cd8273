import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';

const PREFIX = 'network.notifi.lambda';
const SOURCES = 50;
const EVENTS = 1000;
const REDELIVERED = 0.3;
const CONCURRENCY = 20;

let platform: TestPlatform;

beforeAll(async () => {
  platform = await startPlatform({ KL_LOG_LEVEL: 'warn', KL_BUILD_CONCURRENCY: '2' });
});
afterAll(async () => {
  await platform?.stop();
});

/** A small deterministic generator, so that a failure can be replayed. */
function random(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2 ** 31;
    return state / 2 ** 31;
  };
}

describe(`${EVENTS} build.start for ${SOURCES} sources, ${REDELIVERED * 100} % redelivered, ${CONCURRENCY} at a time`, () => {
  it('builds each source once and leaves no function stuck', async () => {
    const keys: string[] = [];
    for (let i = 0; i < SOURCES; i += 1) {
      const source = Buffer.from(`export const handle = () => ({ source: ${i} });\n`);
      const key = `sources/load/fn-${i}/${sha256Hex(source)}.mjs`;
      await putSource(platform.dataDir, key, source);
      keys.push(key);
    }
    const next = random(42);
    const sent: Array<{ id: string; source: number }> = [];
    const events = Array.from({ length: EVENTS }, () => {
      if (sent.length > 0 && next() < REDELIVERED) return sent[Math.floor(next() * sent.length)]!;
      const event = { id: randomUUID(), source: Math.floor(next() * SOURCES) };
      sent.push(event);
      return event;
    });
    const limit = pLimit(CONCURRENCY);
    const statuses = await Promise.all(
      events.map(({ id, source }) =>
        limit(async () => {
          const response = await fetch(`${platform.url}/events`, {
            method: 'POST',
            headers: { 'content-type': 'application/cloudevents+json' },
            body: JSON.stringify({ specversion: '1.0', id, source: 'network.notifi.load', type: `${PREFIX}.build.start`, data: { third_party_id: 'load', parser_id: `fn-${source}`, source: { key: keys[source] } } }),
          });
          return response.status;
        }),
      ),
    );
    expect(statuses.every((status) => status === 202)).toBe(true);
    const used = new Set(events.map((e) => e.source)).size;

    type Fn = { parser_id: string; phase: string };
    await expect
      .poll(async () => (await platform.api<Fn[]>('/api/functions')).filter((f) => f.phase === 'Ready').length, { timeout: 240_000, interval: 1000 })
      .toBe(used);
    const functions = await platform.api<Fn[]>('/api/functions');
    expect(functions.filter((f) => f.phase !== 'Ready')).toEqual([]);
    const builds = await platform.api<Array<{ function: string; phase: string }>>('/api/builds');
    expect(builds).toHaveLength(used);
    expect(new Set(builds.map((b) => b.function)).size).toBe(used);
    expect(builds.every((b) => b.phase === 'Succeeded')).toBe(true);
    expect(await platform.api<unknown[]>('/api/dead-letters')).toEqual([]);
  }, 300_000);
});
