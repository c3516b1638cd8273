/**
 * Memory of the embedded platform under hostile traffic: growth of its resident set after the
 * 10,000 generated requests of the fuzz test (the same generator and seed) sent to its builder
 * and its ingress, beside the same number of tiny valid events to the ingress. The platform
 * runs as `npm start` runs it, in a process of its own; its resident set is read from /proc
 * before and after each run.
 *
 *   npm run bench:fuzz -- [requests]     (default 10000)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import pLimit from 'p-limit';
import { freePort } from '../lib/adapters/local/free-port.ts';
import { npmStartArguments, repoRoot } from '../test/support/embedded-platform.ts';
import { FUZZ_SEED, fuzzRequests, type FuzzRequest } from '../test/support/fuzz-requests.ts';

const CLIENTS = 20;
/** Time for start-up work, and after the last answer for deliveries and retries, to finish before a reading. */
const SETTLE_MS = 3000;
/** What the resident set's growth under the fuzz run must stay under. */
const BOUND_MIB = 100;

interface Result {
  beforeMiB: number;
  afterMiB: number;
  /** V8's heap in use after the run, from the platform's own /metrics. */
  heapMiB: number;
  seconds: number;
}

async function heapUsedMiB(url: string): Promise<number> {
  const metrics = await (await fetch(`${url}/metrics`)).text();
  return Number(/^knative_lambda_nodejs_heap_size_used_bytes (\S+)/m.exec(metrics)?.[1] ?? Number.NaN) / (1024 * 1024);
}

/** Resident set of a process, as an operator's tools see it. */
async function residentMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? Number.NaN) / 1024;
}

function tinyEvents(count: number): FuzzRequest[] {
  return Array.from({ length: count }, () => ({
    kind: 'tiny',
    target: 'ingress' as const,
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'bench', 'ce-type': 'com.example.bench' },
    body: '{}',
  }));
}

/** The platform as `npm start` runs it, in a process of its own, so that the client's memory is not counted. */
async function startPlatformProcess(dataDir: string): Promise<{ child: ChildProcess; url: string; builderUrl: string }> {
  const port = await freePort();
  const child = spawn(process.execPath, await npmStartArguments(), { cwd: repoRoot, env: { ...process.env, KL_DATA_DIR: dataDir, KL_PLATFORM_PORT: String(port), KL_LOG_LEVEL: 'silent' }, stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  for (let attempt = 0; attempt < 300; attempt += 1) {
    const info = await fetch(`${url}/api/platform`).then((r) => r.json() as Promise<{ builderUrl: string }>).catch(() => undefined);
    if (info) return { child, url, builderUrl: info.builderUrl };
    await sleep(100);
  }
  throw new Error('the platform did not start');
}

async function measure(requests: FuzzRequest[]): Promise<Result> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-bench-fuzz-'));
  const platform = await startPlatformProcess(dataDir);
  const pid = platform.child.pid ?? 0;
  try {
    await sleep(SETTLE_MS);
    const beforeMiB = await residentMiB(pid);
    const started = performance.now();
    const limit = pLimit(CLIENTS);
    await Promise.all(
      requests.map((request) =>
        limit(async () => {
          const url = request.target === 'builder' ? platform.builderUrl : `${platform.url}/events`;
          const response = await fetch(url, { method: 'POST', headers: request.headers, body: request.body }).catch(() => undefined);
          await response?.arrayBuffer().catch(() => undefined);
        }),
      ),
    );
    const seconds = (performance.now() - started) / 1000;
    // Deliveries, retries and dead letters run on after the last answer.
    await sleep(SETTLE_MS);
    return { beforeMiB, afterMiB: await residentMiB(pid), heapMiB: await heapUsedMiB(platform.url), seconds };
  } finally {
    platform.child.kill('SIGTERM');
    await new Promise((resolve) => platform.child.once('exit', resolve));
    await fs.rm(dataDir, { recursive: true, force: true });
  }
}

const count = Number(process.argv[2] ?? 10_000);
process.stdout.write(`resident memory of the embedded platform after ${count} requests, Node.js ${process.version}, ${os.cpus().length} CPUs\n`);
const rows: Array<[string, Result]> = [
  ['baseline: tiny events', await measure(tinyEvents(count))],
  [`fuzz (seed ${FUZZ_SEED})`, await measure(fuzzRequests(count, FUZZ_SEED))],
];
for (const [name, r] of rows) {
  process.stdout.write(`  ${name.padEnd(24)} RSS ${r.beforeMiB.toFixed(0).padStart(4)} → ${r.afterMiB.toFixed(0).padStart(4)} MiB (+${(r.afterMiB - r.beforeMiB).toFixed(0)})  heap in use ${r.heapMiB.toFixed(0)} MiB  ${(count / r.seconds).toFixed(0)} requests/s\n`);
}
const [[, tiny], [, fuzz]] = rows as [[string, Result], [string, Result]];
const growth = fuzz.afterMiB - fuzz.beforeMiB;
process.stdout.write(`  growth under the fuzz run: +${growth.toFixed(0)} MiB (bound ${BOUND_MIB} MiB: ${growth < BOUND_MIB ? 'within' : 'EXCEEDED'}), ${(growth - (tiny.afterMiB - tiny.beforeMiB)).toFixed(0)} MiB over the baseline\n`);
