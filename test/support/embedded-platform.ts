import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { FilesystemStore } from '../../lib/adapters/store/filesystem-store.ts';

export const repoRoot = fileURLToPath(new URL('../../', import.meta.url));

/** `npm start`'s arguments to node, its Node.js flags included: what benches measure is what users run. */
export async function npmStartArguments(): Promise<string[]> {
  const manifest = JSON.parse(await fs.readFile(path.join(repoRoot, 'package.json'), 'utf8')) as { scripts: { start: string } };
  const [, ...args] = manifest.scripts.start.split(/\s+/);
  return args;
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface TestPlatform {
  url: string;
  dataDir: string;
  env: Record<string, string>;
  log: () => Promise<string>;
  cli(...args: string[]): Promise<CliResult>;
  api<T>(pathname: string): Promise<T>;
  /** Ends the platform process with this signal, as a crash or an operator would, and waits for it to go. */
  kill(signal: NodeJS.Signals): Promise<void>;
  /** Starts the platform again on the same data directory and port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts the embedded platform the way a user does (`npm start` runs this same entry point). */
export async function startPlatform(extraEnv: Record<string, string> = {}): Promise<TestPlatform> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-e2e-'));
  const port = await freePort();
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    KL_DATA_DIR: dataDir,
    KL_PLATFORM_PORT: String(port),
    KL_LOG_LEVEL: 'info',
    KL_BROKER_BACKOFF_MS: '50',
    ...extraEnv,
  };
  const logFile = path.join(dataDir, 'platform.log');
  const out = await fs.open(logFile, 'a');
  const url = `http://127.0.0.1:${port}`;
  const launch = async (): Promise<ChildProcess> => {
    const started: ChildProcess = spawn(process.execPath, ['lib/platform/main.ts'], { cwd: repoRoot, env, stdio: ['ignore', out.fd, out.fd] });
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (started.exitCode !== null) throw new Error(`the platform exited: ${await fs.readFile(logFile, 'utf8')}`);
      try {
        if ((await fetch(`${url}/health/readiness`)).ok) return started;
      } catch {
        if (Date.now() > deadline) throw new Error(`the platform did not start: ${await fs.readFile(logFile, 'utf8')}`);
      }
      await sleep(100);
    }
  };
  const ended = (process: ChildProcess) => new Promise((resolve) => (process.exitCode !== null || process.signalCode !== null ? resolve(undefined) : process.once('exit', resolve)));
  let child = await launch();
  return {
    url,
    dataDir,
    env,
    log: () => fs.readFile(logFile, 'utf8'),
    async cli(...args: string[]) {
      const result = await new Promise<CliResult>((resolve) => {
        const cli = spawn(process.execPath, ['bin/klambda.js', ...args], { cwd: repoRoot, env });
        let stdout = '';
        let stderr = '';
        cli.stdout.on('data', (d) => (stdout += d));
        cli.stderr.on('data', (d) => (stderr += d));
        cli.on('close', (status) => resolve({ status, stdout, stderr }));
      });
      return result;
    },
    async api<T>(pathname: string) {
      const response = await fetch(`${url}${pathname}`);
      if (!response.ok) throw new Error(`${pathname}: ${response.status} ${await response.text()}`);
      return (await response.json()) as T;
    },
    async kill(signal) {
      child.kill(signal);
      await ended(child);
    },
    async restart() {
      child = await launch();
    },
    async stop() {
      child.kill('SIGTERM');
      await ended(child);
      await out.close();
      // Function processes run in their own process groups; none may outlive the platform.
      spawnSync('pkill', ['-f', dataDir]);
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** Puts a source where a producer would, in the embedded platform's default (filesystem) store. */
export async function putSource(dataDir: string, key: string, bytes: Buffer): Promise<void> {
  await new FilesystemStore(path.join(dataDir, 'store'), 'knative-lambda').put(key, bytes);
}
