import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, repoRoot, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { feed, publish, type FeedEntry } from '../support/platform-events.ts';
import { processesUnder } from '../support/processes.ts';

const PREFIX = 'network.notifi.lambda';
const type = (kind: string) => `${PREFIX}.${kind}`;
const ANNOUNCED = ['build.complete', 'build.failed', 'build.timeout', 'service.ready', 'service.failed'].map(type);
const BUILD_OUTCOMES = ['build.complete', 'build.failed', 'build.timeout'].map(type);
const OUTCOME_TIMEOUT_MS = 150_000;

type Expected = 'ready' | 'failed' | 'dead';

interface Request {
  correlationId: string;
  name: string;
  key: string;
  expected: Expected;
}

let platform: TestPlatform | undefined;
afterEach(async () => {
  await platform?.stop();
  platform = undefined;
});

/** Puts a source that builds and runs (or one that fails its build, or none at all) and describes its build.start. */
async function prepare(dataDir: string, tag: string, expected: Expected): Promise<Request> {
  const name = `durable-${tag}`;
  const source = expected === 'failed' ? await fs.readFile(path.join(repoRoot, 'test/fixtures/wrong-handler.mjs')) : Buffer.from(`export const handler = async () => ({ statusCode: 200, body: ${JSON.stringify(name)} });\n`);
  const key = `sources/acme/${name}/${sha256Hex(source)}.mjs`;
  if (expected !== 'dead') await putSource(dataDir, key, source);
  return { correlationId: `${name}-${randomUUID()}`, name, key, expected };
}

async function send(url: string, request: Request): Promise<void> {
  const response = await publish(url, { type: type('build.start'), correlationid: request.correlationId, data: { third_party_id: 'acme', parser_id: request.name, source: { key: request.key } } });
  expect(response.status).toBe(202);
}

function outcomeOf(entries: FeedEntry[], correlationId: string): Expected | undefined {
  const mine = entries.filter((e) => e.event.correlationid === correlationId);
  if (mine.some((e) => e.kind === 'dead-letter')) return 'dead';
  if (mine.some((e) => e.event.type === type('build.failed'))) return 'failed';
  if (mine.some((e) => e.event.type === type('service.ready'))) return 'ready';
  return undefined;
}

/** Waits until every request has reached its outcome, and returns the whole feed. */
async function outcomes(url: string, requests: Request[]): Promise<FeedEntry[]> {
  const deadline = Date.now() + OUTCOME_TIMEOUT_MS;
  for (;;) {
    const entries = await feed(url);
    const reached = Object.fromEntries(requests.map((r) => [r.name, outcomeOf(entries, r.correlationId)]));
    if (requests.every((r) => reached[r.name] !== undefined) || Date.now() > deadline) {
      expect(reached).toEqual(Object.fromEntries(requests.map((r) => [r.name, r.expected])));
      return entries;
    }
    await sleep(250);
  }
}

function repeated(keys: string[]): string[] {
  return keys.filter((key, i) => keys.indexOf(key) !== i);
}

/** Announcements carry one id; a build's outcome is announced once (a cache-hit reply is not an announcement). */
function expectNoRepeatedAnnouncement(entries: FeedEntry[]): void {
  const announced = entries.filter((e) => e.kind === 'event' && ANNOUNCED.includes(e.event.type));
  expect(repeated(announced.map((e) => e.event.id))).toEqual([]);
  const outcomes = announced.filter((e) => BUILD_OUTCOMES.includes(e.event.type) && e.event.data.cache_hit !== true);
  expect(repeated(outcomes.map((e) => `${e.event.type} ${String(e.event.data.function_name)} ${String(e.event.data.build_id)}`))).toEqual([]);
}

/** SIGKILL, as a crash would: nothing the platform started may outlive it. Then a start on the same data. */
async function crashAndRestart(running: TestPlatform): Promise<void> {
  await running.kill('SIGKILL');
  await expect.poll(() => processesUnder(running.dataDir), { timeout: 5000, interval: 200 }).toEqual([]);
  await running.restart();
}

/** Polls until `ready` holds (or gives up after `timeoutMs`); says whether it did. */
async function when(ready: () => Promise<boolean>, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await ready().catch(() => false)) return true;
    await sleep(50);
  }
  return false;
}

async function expectNoProcessLeft(running: TestPlatform): Promise<void> {
  const builds = await running.api<Array<{ phase: string }>>('/api/builds');
  expect(builds.filter((b) => b.phase !== 'Succeeded' && b.phase !== 'Failed')).toEqual([]);
  await running.kill('SIGTERM');
  await expect.poll(() => processesUnder(running.dataDir), { timeout: 5000, interval: 200 }).toEqual([]);
}

describe('nothing accepted is lost', () => {
  it('a SIGKILL right after the last 202 loses no event; dead letters survive a restart and replay', async () => {
    platform = await startPlatform({ KL_BUILD_CONCURRENCY: '3' });
    const kinds: Expected[] = ['ready', 'ready', 'ready', 'ready', 'ready', 'ready', 'ready', 'ready', 'failed', 'dead'];
    const requests = await Promise.all(kinds.map((expected, i) => prepare(platform!.dataDir, `a${i}`, expected)));
    await Promise.all(requests.map((request) => send(platform!.url, request)));
    await crashAndRestart(platform);

    const entries = await outcomes(platform.url, requests);
    expect(entries.filter((e) => e.kind === 'event' && e.event.type === type('build.start')).map((e) => e.event.correlationid).sort()).toEqual(requests.map((r) => r.correlationId).sort());
    expectNoRepeatedAnnouncement(entries);

    const missing = requests.find((r) => r.expected === 'dead')!;
    await crashAndRestart(platform);
    const listed = await platform.cli('dead-letters', '-o', 'json');
    expect(listed.status).toBe(0);
    const deadLetters = JSON.parse(listed.stdout) as Array<{ seq: number; status: number; event: { correlationid: string } }>;
    expect(deadLetters).toMatchObject([{ status: 422, event: { correlationid: missing.correlationId } }]);
    expect((await platform.cli('dead-letters')).stdout).toMatch(new RegExp(`^${deadLetters[0]!.seq}\\s.*build\\.start.*\\s422\\s`, 'm'));

    await putSource(platform.dataDir, missing.key, Buffer.from('export const handler = async () => ({ statusCode: 200, body: "late" });\n'));
    const replay = await platform.cli('replay', String(deadLetters[0]!.seq));
    expect(replay.stdout).toMatch(new RegExp(`^replayed dead letter ${deadLetters[0]!.seq} as event \\d+$`, 'm'));
    await expect.poll(async () => (await feed(platform!.url, missing.correlationId)).some((e) => e.event.type === type('service.ready')), { timeout: 60_000, interval: 250 }).toBe(true);
    expect((await platform.cli('dead-letters')).stdout).toBe('no dead letters\n');
    expect((await platform.cli('replay', '--all')).stdout).toBe('no dead letters to replay\n');
    expect(await platform.cli('replay', String(deadLetters[0]!.seq))).toMatchObject({ status: 1, stderr: expect.stringContaining(`No dead letter ${deadLetters[0]!.seq}`) });

    await expectNoProcessLeft(platform);
  }, 300_000);

  it('SIGKILLs before delivery, mid-build and mid-deploy: every accepted event reaches one outcome, announced once', async () => {
    platform = await startPlatform({ KL_BUILD_CONCURRENCY: '2' });
    const requests = await Promise.all(Array.from({ length: 10 }, (_, i) => prepare(platform!.dataDir, `b${i}`, i === 9 ? 'failed' : 'ready')));
    const points: string[] = [];

    await Promise.all(requests.slice(0, 4).map((request) => send(platform!.url, request)));
    const early = Math.floor(Math.random() * 50);
    await sleep(early);
    points.push(`before delivery (+${early} ms)`);
    await crashAndRestart(platform);

    await Promise.all(requests.slice(4).map((request) => send(platform!.url, request)));
    const building = await when(async () => (await platform!.api<Array<{ phase: string }>>('/api/builds')).some((b) => b.phase === 'Running'), 30_000);
    const midBuild = Math.floor(Math.random() * 300);
    await sleep(midBuild);
    points.push(`${building ? 'mid-build' : 'no build seen running'} (+${midBuild} ms)`);
    await crashAndRestart(platform);

    const deploying = await when(async () => (await platform!.api<Array<{ phase: string }>>('/api/functions')).some((f) => f.phase === 'Deploying'), 60_000);
    points.push(deploying ? 'mid-deploy' : 'no deployment seen in progress');
    await crashAndRestart(platform);

    const entries = await outcomes(platform.url, requests);
    expectNoRepeatedAnnouncement(entries);
    await expectNoProcessLeft(platform);
    expect(points).toEqual([expect.stringMatching(/^before delivery/), expect.stringMatching(/^mid-build/), 'mid-deploy']);
  }, 300_000);
});
