/**
 * Throughput and latency of the embedded platform's router (`/functions/<name>/…`) beside
 * calling the same function process on its own port, in the same run. The platform runs as
 * `npm start` runs it, in a process of its own, with a one-file Node.js function deployed
 * through the CLI; the load comes from this process over keep-alive connections. For each
 * concurrency the two targets alternate round by round, so both see the same machine.
 *
 *   npm run bench:router -- [requests per round]     (default 3000)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../lib/adapters/local/free-port.ts';
import { functionName } from '../lib/naming.ts';
import { npmStartArguments, repoRoot } from '../test/support/embedded-platform.ts';

const CONCURRENCIES = [1, 10, 50];
const ROUNDS = 3;
const WARMUP_REQUESTS = 500;
const FUNCTION = 'bench-noop';
/** Far longer than the bench, so the function is never scaled to zero while measured. */
const IDLE_SECONDS = '3600';
const STARTUP_ATTEMPTS = 300;
const STARTUP_POLL_MS = 100;

interface Sample {
  seconds: number;
  latenciesMs: number[];
}

async function startPlatformProcess(env: Record<string, string>, url: string): Promise<ChildProcess> {
  const child = spawn(process.execPath, await npmStartArguments(), { cwd: repoRoot, env, stdio: 'ignore' });
  for (let attempt = 0; attempt < STARTUP_ATTEMPTS; attempt += 1) {
    if ((await fetch(`${url}/health/readiness`).catch(() => undefined))?.ok) return child;
    await sleep(STARTUP_POLL_MS);
  }
  throw new Error('the platform did not start');
}

async function deploy(env: Record<string, string>): Promise<void> {
  const cli = spawn(process.execPath, ['bin/klambda.js', 'deploy', 'bench/fixtures/noop-function.mjs', '--name', FUNCTION], { cwd: repoRoot, env, stdio: ['ignore', 'ignore', 'inherit'] });
  const status = await new Promise((resolve) => cli.once('exit', resolve));
  if (status !== 0) throw new Error(`deploy exited with ${String(status)}`);
}

/** The function process's own port: the only registered process left once the build is over, PORT in its environment. */
async function functionPort(dataDir: string): Promise<number> {
  const pids = await fs.readdir(path.join(dataDir, 'processes'));
  for (const pid of pids) {
    const environ = await fs.readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    const port = /(?:^|\0)PORT=(\d+)/.exec(environ)?.[1];
    if (port) return Number(port);
  }
  throw new Error('no running function process found');
}

function get(agent: http.Agent, url: URL): Promise<void> {
  return new Promise((resolve, reject) => {
    const request = http.get(url, { agent }, (response) => {
      response.resume();
      response.once('end', () => ((response.statusCode ?? 0) < 300 ? resolve() : reject(new Error(`${url.href} answered ${response.statusCode}`))));
    });
    request.once('error', reject);
  });
}

/** `count` requests from `concurrency` clients, each sending its next request when the last is answered. */
async function run(url: URL, concurrency: number, count: number): Promise<Sample> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const latenciesMs: number[] = [];
  let sent = 0;
  const client = async (): Promise<void> => {
    while (sent < count) {
      sent += 1;
      const started = performance.now();
      await get(agent, url);
      latenciesMs.push(performance.now() - started);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, client));
  const seconds = (performance.now() - started) / 1000;
  agent.destroy();
  return { seconds, latenciesMs };
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((sorted.length * p) / 100))]!;
}

function summarise(samples: Sample[]): { rate: number; p50: number; p99: number } {
  const latencies = samples.flatMap((s) => s.latenciesMs).sort((a, b) => a - b);
  const seconds = samples.reduce((total, s) => total + s.seconds, 0);
  return { rate: latencies.length / seconds, p50: percentile(latencies, 50), p99: percentile(latencies, 99) };
}

const perRound = Number(process.argv[2] ?? 3000);
const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-bench-router-'));
const port = await freePort();
const platformUrl = `http://127.0.0.1:${port}`;
const env = { ...(process.env as Record<string, string>), KL_DATA_DIR: dataDir, KL_PLATFORM_PORT: String(port), KL_LOG_LEVEL: 'silent', KL_FUNCTION_IDLE_SECONDS: IDLE_SECONDS };
const platform = await startPlatformProcess(env, platformUrl);
try {
  await deploy(env);
  const targets = {
    direct: new URL(`http://127.0.0.1:${await functionPort(dataDir)}/`),
    router: new URL(`${platformUrl}/functions/${functionName({ thirdPartyId: 'local', parserId: FUNCTION })}/`),
  };
  for (const url of Object.values(targets)) await run(url, 1, WARMUP_REQUESTS);
  const [load1, load5] = os.loadavg();
  process.stdout.write(`router vs direct, ${ROUNDS} rounds × ${perRound} requests each, Node.js ${process.version}, ${os.cpus().length} CPUs, load ${load1!.toFixed(2)} / ${load5!.toFixed(2)} (1 / 5 min) before\n`);
  for (const concurrency of CONCURRENCIES) {
    const samples: Record<keyof typeof targets, Sample[]> = { direct: [], router: [] };
    for (let round = 0; round < ROUNDS; round += 1) {
      const order: Array<keyof typeof targets> = round % 2 === 0 ? ['direct', 'router'] : ['router', 'direct'];
      for (const target of order) samples[target].push(await run(targets[target], concurrency, perRound));
    }
    const direct = summarise(samples.direct);
    const router = summarise(samples.router);
    const line = (name: string, s: typeof direct) => `    ${name.padEnd(7)} ${s.rate.toFixed(0).padStart(6)} req/s  p50 ${s.p50.toFixed(2).padStart(6)} ms  p99 ${s.p99.toFixed(2).padStart(6)} ms\n`;
    process.stdout.write(`  concurrency ${concurrency}\n${line('direct', direct)}${line('router', router)}`);
    process.stdout.write(`    router/direct: ${(router.rate / direct.rate).toFixed(2)}× req/s, p99 ${(router.p99 / direct.p99).toFixed(2)}× direct\n`);
  }
  const [after1] = os.loadavg();
  process.stdout.write(`  load ${after1!.toFixed(2)} (1 min) after\n`);
} finally {
  platform.kill('SIGTERM');
  await new Promise((resolve) => platform.once('exit', resolve));
  await fs.rm(dataDir, { recursive: true, force: true });
}
