// Generated events, valid and hostile, against the builder and the broker ingress of a
// running platform: nothing a client sends may be answered with a 5xx, stop the platform,
// or be accepted by the ingress and then lost to a network error or a 5xx.
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { FUZZ_SEED, fuzzRequests, type FuzzRequest } from '../support/fuzz-requests.ts';

const RUNS = Number(process.env.KL_FUZZ_RUNS ?? 10_000);
/** Fixed, so that every CI run sends the same events; set KL_FUZZ_SEED to explore others. */
const SEED = Number(process.env.KL_FUZZ_SEED ?? FUZZ_SEED);
const CONCURRENCY = 20;
/** Longer than the embedded broker's whole retry schedule at the test backoff (50 ms doubling, 5 retries). */
const QUIET_MS = 3000;

interface Answer {
  request: FuzzRequest;
  status: number;
  body: string;
}

let requests: FuzzRequest[];
let platform: TestPlatform;
let builderUrl: string;

beforeAll(async () => {
  // Generated first: generation blocks the event loop, and a kept-alive connection the platform closes meanwhile would fail the first request.
  requests = fuzzRequests(RUNS, SEED);
  platform = await startPlatform({ KL_LOG_LEVEL: 'warn' });
  builderUrl = (await platform.api<{ builderUrl: string }>('/api/platform')).builderUrl;
});
afterAll(async () => {
  await platform?.stop();
});

async function send(request: FuzzRequest): Promise<Answer> {
  const url = request.target === 'builder' ? builderUrl : `${platform.url}/events`;
  try {
    const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body });
    return { request, status: response.status, body: (await response.text()).slice(0, 300) };
  } catch (error) {
    return { request, status: 0, body: String((error as Error).cause ?? error) };
  }
}

/** Waits until the feed has had no new entry for QUIET_MS: every delivery and retry is over. */
async function settle(): Promise<void> {
  let last = 0;
  let quietSince = Date.now();
  while (Date.now() - quietSince < QUIET_MS) {
    const entries = await platform.api<Array<{ seq: number }>>(`/api/events?after=${last}`);
    if (entries.length > 0) {
      last = Math.max(...entries.map((entry) => entry.seq));
      quietSince = Date.now();
    }
    await sleep(250);
  }
}

function summary(answers: Answer[]): string {
  return answers
    .slice(0, 5)
    .map((a) => `${a.request.target} ${a.request.kind} → ${a.status} ${a.body}\n  headers ${JSON.stringify(a.request.headers).slice(0, 400)}\n  body ${String(a.request.body).slice(0, 200)}`)
    .join('\n');
}

describe(`${RUNS} generated events against the builder and the ingress (seed ${SEED})`, () => {
  it('get no 5xx, leave the platform up, and lose no accepted event to a 5xx or a network error', { timeout: 180_000 }, async () => {
    const started = Date.now();
    const limit = pLimit(CONCURRENCY);
    const answers = await Promise.all(requests.map((request) => limit(() => send(request))));

    // Past the cap the server closes the connection while a client may still be writing.
    const unanswered = answers.filter((a) => a.status === 0 && a.request.kind !== 'oversized');
    expect(unanswered, summary(unanswered)).toEqual([]);
    const failed = answers.filter((a) => a.status >= 500);
    expect(failed, summary(failed)).toEqual([]);
    expect(answers.filter((a) => a.request.kind === 'oversized' && a.status !== 0).every((a) => a.status === 413)).toBe(true);
    const shapeless = answers.filter((a) => a.status >= 400 && !/^\{"error":"\w+","message":/.test(a.body));
    expect(shapeless, summary(shapeless)).toEqual([]);

    expect((await fetch(`${platform.url}/health/liveness`)).status).toBe(200);
    expect((await fetch(new URL('/health/liveness', builderUrl))).status).toBe(200);

    await settle();
    const deadLetters = await platform.api<Array<{ event: { id: string; type: string }; status: number; reason: string }>>('/api/dead-letters');
    const lost = deadLetters.filter((d) => d.status === 0 || d.status >= 500);
    expect(lost, JSON.stringify(lost.slice(0, 5), null, 1)).toEqual([]);

    const accepted = answers.filter((a) => a.request.target === 'ingress' && a.status === 202).length;
    const byStatus = Object.entries(Object.groupBy(answers, (a) => `${a.request.target} ${a.status} ${/"error":"(\w+)"/.exec(a.body)?.[1] ?? ''}`)).map(([key, group]) => `${key}: ${group?.length}`);
    process.stdout.write(`event fuzz: ${answers.length} requests, ${accepted} accepted by the ingress, ${deadLetters.length} dead letters (all 4xx), ${((Date.now() - started) / 1000).toFixed(1)}s, seed ${SEED}\n  ${byStatus.sort().join('\n  ')}\n`);
  });
});
