import type { ChildProcess } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { Config } from '../../config/schema.ts';
import type { BuildExecutor, BuildFailureReason, BuildRecord, BuildRequest } from '../../ports/build-executor.ts';
import type { SourceStore } from '../../ports/source-store.ts';
import type { Runtime } from '../../runtimes/runtime.ts';
import { unpackArchive, type UnpackLimits } from '../../source/unpack.ts';
import { childEnvironment, killGroup, spawnLogged, waitForExit } from './host-process.ts';
import { tailFile } from './log-tail.ts';
import type { ProcessRegistry } from './process-registry.ts';
import { RecordStore } from './records.ts';

export interface LocalBuildExecutorOptions {
  dir: string;
  store: SourceStore;
  runtimeFor: (name: string) => Runtime;
  /** Where the runtimes find this host's toolchains. */
  config: Config;
  concurrency: number;
  limits: UnpackLimits;
  logMaxBytes: number;
  registry: ProcessRegistry;
  maxContextBytes: number;
  /** Called after every status change, like a watch event on a Job. */
  onChange: (name: string) => void;
  log: Logger;
}

const RECORD_FILE = 'build.json';
const LOG_FILE = 'build.log';
const WORK_DIR_PREFIX = 'work-';

/**
 * Builds on the host: unpacks the same build context Kaniko would read and runs the
 * runtime's build step in it, with a deadline. The result is the built directory.
 */
export class LocalBuildExecutor implements BuildExecutor {
  private readonly records: RecordStore<BuildRecord>;
  private readonly options: LocalBuildExecutorOptions;
  private readonly queue: ReturnType<typeof pLimit>;
  private readonly running = new Map<string, { child?: ChildProcess; cancelled: boolean }>();
  private stopping = false;

  constructor(options: LocalBuildExecutorOptions) {
    this.options = options;
    this.records = new RecordStore(options.dir, RECORD_FILE);
    this.queue = pLimit(options.concurrency);
  }

  /**
   * Every run of a build gets a fresh work directory: a run cut short (the platform killed)
   * may leave a process writing into the old one for a moment, and the rerun never shares it.
   */
  private async freshWorkDir(name: string, startTime: string): Promise<string> {
    const dir = this.records.directoryOf(name);
    const previous = (await fs.readdir(dir)).filter((entry) => entry.startsWith(WORK_DIR_PREFIX));
    await Promise.all(previous.map((entry) => fs.rm(path.join(dir, entry), { recursive: true, force: true, maxRetries: 3 })));
    return path.join(dir, `${WORK_DIR_PREFIX}${Date.parse(startTime)}`);
  }

  logFile(name: string): string {
    return path.join(this.records.directoryOf(name), LOG_FILE);
  }

  async create(request: BuildRequest): Promise<{ created: boolean; record: BuildRecord }> {
    const record: BuildRecord = {
      name: request.name,
      labels: request.labels,
      annotations: request.annotations,
      createdAt: new Date().toISOString(),
      spec: {
        functionName: request.functionName,
        runtime: request.runtime,
        contextKey: request.contextKey,
        contentDigest: request.contentDigest,
        timeoutSeconds: request.timeoutSeconds,
      },
      status: { phase: 'Pending' },
    };
    const created = await this.records.createIfAbsent(request.name, record);
    if (!created) return { created: false, record: (await this.records.get(request.name)) ?? record };
    this.schedule(request.name);
    return { created: true, record };
  }

  get(name: string): Promise<BuildRecord | undefined> {
    return this.records.get(name);
  }

  async listForFunction(functionName: string): Promise<BuildRecord[]> {
    return (await this.records.list()).filter((r) => r.spec.functionName === functionName);
  }

  async list(): Promise<BuildRecord[]> {
    return this.records.list();
  }

  async listActive(): Promise<BuildRecord[]> {
    return (await this.records.list()).filter((r) => r.status.phase === 'Pending' || r.status.phase === 'Running');
  }

  async cancel(name: string): Promise<boolean> {
    const record = await this.records.get(name);
    if (!record || record.status.phase === 'Succeeded' || record.status.phase === 'Failed') return false;
    const run = this.running.get(name) ?? { cancelled: true };
    run.cancelled = true;
    this.running.set(name, run);
    if (run.child) killGroup(run.child, 'SIGKILL');
    else await this.finish(name, { phase: 'Failed', reason: 'Cancelled', message: 'The build was cancelled' });
    return true;
  }

  async delete(name: string): Promise<void> {
    await this.cancel(name);
    await this.records.remove(name);
    this.running.delete(name);
  }

  async markAnnounced(name: string): Promise<void> {
    await this.records.update(name, (r) => ({ ...r, status: { ...r.status, announced: true } }));
  }

  /** After a restart: builds that were pending or running when the platform stopped run again. */
  async resume(): Promise<void> {
    for (const record of await this.records.list()) {
      if (record.status.phase === 'Pending' || record.status.phase === 'Running') this.schedule(record.name);
      else if (!record.status.announced) this.options.onChange(record.name);
    }
  }

  /** Stops every build step; their records stay Running, so the next start runs them again. */
  async shutdown(): Promise<void> {
    this.stopping = true;
    this.queue.clearQueue();
    const children = [...this.running.values()].flatMap((run) => (run.child ? [run.child] : []));
    for (const child of children) killGroup(child, 'SIGKILL');
    await Promise.all(children.map((child) => waitForExit(child)));
  }

  private schedule(name: string): void {
    void this.queue(() => this.run(name)).catch((error: Error) => this.options.log.error({ err: error, build: name }, 'local build crashed'));
  }

  private async run(name: string): Promise<void> {
    if (this.stopping) return;
    const record = await this.records.get(name);
    if (!record || record.status.phase === 'Failed' || record.status.phase === 'Succeeded') return;
    if (this.running.get(name)?.cancelled) return;
    const startTime = new Date().toISOString();
    await this.records.update(name, (r) => ({ ...r, status: { phase: 'Running', startTime } }));
    this.options.onChange(name);

    const work = await this.freshWorkDir(name, startTime);
    await fs.rm(this.logFile(name), { force: true });
    try {
      const context = await this.options.store.get(record.spec.contextKey, { maxBytes: this.options.maxContextBytes });
      await unpackArchive(context, 'tar.gz', work, this.options.limits);
      const runtime = this.options.runtimeFor(record.spec.runtime);
      const buildCommand = await runtime.prepareHostBuild(work, this.options.config);
      await this.execute(name, buildCommand, work, record.spec.timeoutSeconds);
    } catch (error) {
      await fs.appendFile(this.logFile(name), `${(error as Error).message}\n`).catch(() => undefined);
      await this.finish(name, { phase: 'Failed', reason: 'ExecutorError', message: `The build could not run: ${(error as Error).message}` });
    }
  }

  private async execute(name: string, command: readonly string[], cwd: string, timeoutSeconds: number): Promise<void> {
    const child = spawnLogged(command, { cwd, env: childEnvironment({ CI: 'true' }), logFile: this.logFile(name), logMaxBytes: this.options.logMaxBytes, registry: this.options.registry });
    const run = this.running.get(name) ?? { cancelled: false };
    run.child = child;
    this.running.set(name, run);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      killGroup(child, 'SIGKILL');
    }, timeoutSeconds * 1000);
    const { code, signal } = await waitForExit(child);
    clearTimeout(timer);
    this.running.delete(name);
    if (run.cancelled) return this.finish(name, { phase: 'Failed', reason: 'Cancelled', message: 'The build was cancelled' });
    if (timedOut) return this.finish(name, { phase: 'Failed', reason: 'DeadlineExceeded', message: `The build ran longer than ${timeoutSeconds}s` });
    if (code === 0) return this.finish(name, { phase: 'Succeeded', image: pathToFileURL(cwd).href });
    const cause = await this.failureLine(name);
    return this.finish(name, { phase: 'Failed', reason: 'BuildFailed', message: cause ?? `The build step exited with ${code === null ? `signal ${signal}` : `status ${code}`}` });
  }

  /** The build step prints `build failed: <cause>`; that line is the most useful message. */
  private async failureLine(name: string): Promise<string | undefined> {
    const tail = await tailFile(this.logFile(name), 200);
    const line = tail.split('\n').reverse().find((l) => l.startsWith('build failed: '));
    return line?.slice('build failed: '.length);
  }

  private async finish(name: string, status: { phase: 'Succeeded' | 'Failed'; reason?: BuildFailureReason; message?: string; image?: string }): Promise<void> {
    // A build cut short by the shutdown is not over: it stays Running and runs again on the next start.
    if (this.stopping) return;
    const logTail = await tailFile(this.logFile(name));
    await this.records.update(name, (r) => ({
      ...r,
      status: { ...r.status, ...status, completionTime: new Date().toISOString(), logTail, announced: false },
    }));
    this.options.onChange(name);
  }
}
