/**
 * Memory of the embedded platform under accepted events: growth of its resident set after
 * 1,000 CloudEvents of 0.9 MB posted to the ingress, beside the same run with tiny events.
 * Each run is a process of its own running the platform, which collects garbage before each
 * reading. The events are of a type no trigger takes, so what stays is what the broker keeps:
 * its feed and its journal.
 *
 *   npm run bench:broker -- [events]     (default 1000)
 */
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import pLimit from 'p-limit';
import { loadConfig } from '../lib/config/load.ts';
import { JOURNAL_FILE } from '../lib/platform/broker.ts';
import { startEmbeddedPlatform } from '../lib/platform/embedded-platform.ts';

const LARGE_BYTES = 900_000;
const TINY_BYTES = 100;
const CLIENTS = 8;
const RESULT = 'RESULT ';
const MiB = 1024 * 1024;

interface Result {
  beforeMiB: number;
  afterMiB: number;
  heapMiB: number;
  journalMiB: number;
  seconds: number;
}

function residentMiB(): number {
  const collect = (globalThis as { gc?: () => void }).gc;
  collect?.();
  collect?.();
  return process.memoryUsage().rss / MiB;
}

/** One run, in this process: the platform, `count` events of `bytes` bytes of data, the readings. */
async function run(bytes: number, count: number): Promise<void> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-bench-broker-'));
  const platform = await startEmbeddedPlatform(loadConfig({ ...process.env, KL_DATA_DIR: dataDir, KL_PLATFORM_PORT: '0', KL_LOG_LEVEL: 'silent' }));
  const body = JSON.stringify({ payload: 'x'.repeat(bytes) });
  const beforeMiB = residentMiB();
  const started = performance.now();
  const limit = pLimit(CLIENTS);
  await Promise.all(
    Array.from({ length: count }, () =>
      limit(async () => {
        const response = await fetch(`${platform.url}/events`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'bench', 'ce-type': 'com.example.bench' },
          body,
        });
        await response.arrayBuffer();
        if (response.status !== 202) throw new Error(`the ingress answered ${response.status}`);
      }),
    ),
  );
  const seconds = (performance.now() - started) / 1000;
  const result: Result = {
    beforeMiB,
    afterMiB: residentMiB(),
    heapMiB: process.memoryUsage().heapUsed / MiB,
    journalMiB: (await fs.stat(path.join(dataDir, 'broker', JOURNAL_FILE))).size / MiB,
    seconds,
  };
  process.stdout.write(`${RESULT}${JSON.stringify(result)}\n`);
  await platform.close();
  await fs.rm(dataDir, { recursive: true, force: true });
  process.exit(0);
}

function measure(bytes: number, count: number): Promise<Result> {
  const script = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, ['--expose-gc', script, '--run', String(bytes), String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let output = '';
  child.stdout.on('data', (chunk) => (output += chunk));
  return new Promise((resolve, reject) =>
    child.on('close', (code) => {
      const line = output.split('\n').find((l) => l.startsWith(RESULT));
      if (code !== 0 || !line) reject(new Error(`the run of ${bytes}-byte events ended with ${code}: ${output}`));
      else resolve(JSON.parse(line.slice(RESULT.length)) as Result);
    }),
  );
}

if (process.argv[2] === '--run') {
  await run(Number(process.argv[3]), Number(process.argv[4]));
} else {
  const count = Number(process.argv[2] ?? 1000);
  process.stdout.write(`resident memory of the embedded platform after ${count} accepted events, Node.js ${process.version}, ${os.cpus().length} CPUs\n`);
  const rows: Array<[string, Result]> = [
    [`baseline: ${TINY_BYTES} B events`, await measure(TINY_BYTES, count)],
    [`${LARGE_BYTES / 1e6} MB events`, await measure(LARGE_BYTES, count)],
  ];
  for (const [name, r] of rows) {
    process.stdout.write(
      `  ${name.padEnd(22)} RSS ${r.beforeMiB.toFixed(0).padStart(4)} → ${r.afterMiB.toFixed(0).padStart(4)} MiB (+${(r.afterMiB - r.beforeMiB).toFixed(0)})  heap ${r.heapMiB.toFixed(0)} MiB  journal ${r.journalMiB.toFixed(1)} MiB  ${(count / r.seconds).toFixed(0)} events/s\n`,
    );
  }
  const [[, tiny], [, large]] = rows as [[string, Result], [string, Result]];
  process.stdout.write(`  growth over the baseline: +${(large.afterMiB - large.beforeMiB - (tiny.afterMiB - tiny.beforeMiB)).toFixed(0)} MiB\n`);
}
