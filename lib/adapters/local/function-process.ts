import type { ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from './free-port.ts';
import { killGroup, spawnLogged, waitForExit } from './host-process.ts';
import type { ProcessRegistry } from './process-registry.ts';

export interface FunctionProcessOptions {
  command: readonly string[];
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  logMaxBytes: number;
  registry: ProcessRegistry;
  startTimeoutMs: number;
}

/** One running instance of a function: a child process that answers on a loopback port. */
export class FunctionProcess {
  readonly child: ChildProcess;
  readonly port: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stopping = false;

  private constructor(child: ChildProcess, port: number) {
    this.child = child;
    this.port = port;
    this.exited = waitForExit(child);
  }

  static async start(options: FunctionProcessOptions): Promise<FunctionProcess> {
    const port = await freePort();
    const child = spawnLogged(options.command, { cwd: options.cwd, env: { ...options.env, PORT: String(port) }, logFile: options.logFile, logMaxBytes: options.logMaxBytes, registry: options.registry });
    const instance = new FunctionProcess(child, port);
    await instance.waitUntilReady(options.startTimeoutMs);
    return instance;
  }

  private async waitUntilReady(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.exited.then(() => (exited = true));
    while (Date.now() < deadline) {
      if (exited) throw new Error(`the function exited during start-up (${describeExit(await this.exited)})`);
      if (await this.probe()) return;
      await sleep(100);
    }
    await this.stop();
    throw new Error(`the function did not answer /health/readiness within ${Math.round(timeoutMs / 1000)}s`);
  }

  async probe(): Promise<boolean> {
    try {
      const response = await fetch(`http://127.0.0.1:${this.port}/health/readiness`, { signal: AbortSignal.timeout(1000) });
      await response.arrayBuffer();
      return response.ok;
    } catch {
      return false;
    }
  }

  /** SIGTERM for a graceful shutdown, SIGKILL if it does not end within the grace period. */
  async stop(graceMs = 5000): Promise<void> {
    this.stopping = true;
    killGroup(this.child, 'SIGTERM');
    const killed = setTimeout(() => killGroup(this.child, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(killed);
  }
}

export function describeExit(exit: { code: number | null; signal: NodeJS.Signals | null }): string {
  return exit.code !== null ? `exit status ${exit.code}` : `signal ${exit.signal ?? 'unknown'}`;
}
