/**
 * Cold start of the builder function: time from process start to the first CloudEvent
 * it accepts (2xx), beside a bare faas-js-runtime function that does nothing, in the
 * same run. The builder scales from zero on every burst of events, so this is the
 * latency the first event of a burst pays.
 *
 *   npm run bench -- [runs]     (default 7)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../lib/adapters/local/free-port.ts';
import { sha256Hex } from '../lib/source/load.ts';

const root = fileURLToPath(new URL('../', import.meta.url));
const runs = Number(process.argv[2] ?? 7);
const PREFIX = 'network.notifi.lambda';

interface Target {
  name: string;
  prepare(): Promise<{ command: string[]; env: Record<string, string>; event: { headers: Record<string, string>; body: string }; cleanup: () => Promise<void> }>;
}

const bare: Target = {
  name: 'bare faas-js-runtime function',
  async prepare() {
    const port = await freePort();
    return {
      command: [process.execPath, path.join(root, 'node_modules/faas-js-runtime/bin/cli.js'), path.join(root, 'bench/fixtures/noop-function.mjs'), '--port', String(port)],
      env: { PORT: String(port) },
      event: { headers: ceHeaders('com.example.noop'), body: '{}' },
      cleanup: async () => undefined,
    };
  },
};

const builder: Target = {
  name: 'builder function (build.start)',
  async prepare() {
    const port = await freePort();
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-bench-'));
    const source = Buffer.from('export const handle = () => "ok";\n');
    const key = `sources/bench/fn/${sha256Hex(source)}.mjs`;
    const file = path.join(dataDir, 'store', 'knative-lambda', key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await fs.writeFile(file, source);
    return {
      command: [process.execPath, path.join(root, 'function/server.ts')],
      env: { PORT: String(port), KL_BACKEND: 'embedded', KL_DATA_DIR: dataDir, KL_LOG_LEVEL: 'warn' },
      event: { headers: ceHeaders(`${PREFIX}.build.start`), body: JSON.stringify({ third_party_id: 'bench', parser_id: 'fn', content_hash: sha256Hex(source), source: { key } }) },
      cleanup: () => fs.rm(dataDir, { recursive: true, force: true }),
    };
  },
};

function ceHeaders(type: string): Record<string, string> {
  return { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'bench', 'ce-type': type };
}

async function measure(target: Target): Promise<number> {
  const run = await target.prepare();
  const port = run.env.PORT;
  const started = performance.now();
  const child: ChildProcess = spawn(run.command[0]!, run.command.slice(1), { cwd: root, env: { ...process.env, ...run.env }, stdio: 'ignore' });
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`${target.name} exited with ${child.exitCode}`);
      if (performance.now() - started > 30_000) throw new Error(`${target.name} accepted no event within 30s`);
      try {
        const response = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: run.event.headers, body: run.event.body });
        await response.arrayBuffer();
        if (response.ok) return performance.now() - started;
        throw new Error(`${target.name} answered ${response.status}`);
      } catch (error) {
        if ((error as Error).message.includes('answered')) throw error;
        await sleep(2);
      }
    }
  } finally {
    child.kill('SIGKILL');
    // Let a build the builder started finish on its own before the next run takes the CPU.
    await sleep(1500);
    await run.cleanup();
  }
}

function summary(samples: number[]): { median: number; min: number; max: number; spread: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
  const q1 = sorted[Math.floor(sorted.length / 4)]!;
  const q3 = sorted[Math.ceil((sorted.length * 3) / 4) - 1]!;
  return { median, min: sorted[0]!, max: sorted.at(-1)!, spread: q3 - q1 };
}

const results = new Map<string, number[]>([
  [bare.name, []],
  [builder.name, []],
]);
for (let i = 0; i < runs; i += 1) {
  for (const target of i % 2 === 0 ? [bare, builder] : [builder, bare]) results.get(target.name)!.push(await measure(target));
}

process.stdout.write(`cold start to first accepted CloudEvent, ${runs} runs each, Node.js ${process.version}, ${os.cpus().length} CPUs\n`);
for (const [name, samples] of results) {
  const s = summary(samples);
  process.stdout.write(`  ${name.padEnd(32)} median ${s.median.toFixed(0).padStart(5)} ms  IQR ${s.spread.toFixed(0).padStart(4)} ms  min ${s.min.toFixed(0)} ms  max ${s.max.toFixed(0)} ms\n`);
}
const ratio = summary(results.get(builder.name)!).median / summary(results.get(bare.name)!).median;
process.stdout.write(`  ratio builder / bare: ${ratio.toFixed(2)}\n`);
