import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { revisionOf } from '../../pipeline/service-spec.ts';
import type { Deployer, ServiceRecord, ServiceSpec } from '../../ports/deployer.ts';
import type { Runtime } from '../../runtimes/runtime.ts';
import { childEnvironment } from './host-process.ts';
import { FunctionProcess, describeExit } from './function-process.ts';
import { tailFile } from './log-tail.ts';
import { RecordStore } from './records.ts';
import type { ProcessRegistry } from './process-registry.ts';
import { readSecretEnvironment } from './secret-files.ts';

export interface LocalDeployerOptions {
  dir: string;
  /** Base of function URLs: `<routerUrl>/functions/<name>`. */
  routerUrl: string;
  runtimeFor: (name: string) => Runtime;
  idleMs: number;
  startTimeoutMs: number;
  maxRestartsPerMinute: number;
  /** Where `secret_env` references are read from: `<dir>/<secret name>/<key>`. */
  secretsDir: string;
  /** FUNC_LOG_LEVEL of every function. */
  functionLogLevel: string;
  logMaxBytes: number;
  registry: ProcessRegistry;
  onChange: (name: string) => void;
  log: Logger;
}

interface Instance {
  revision: string;
  process?: FunctionProcess | undefined;
  starting?: Promise<FunctionProcess> | undefined;
  lastUsed: number;
  inflight: number;
  crashes: number[];
}

export class FunctionUnavailableError extends Error {
  readonly statusCode: number;
  constructor(message: string, statusCode: number) {
    super(message);
    this.statusCode = statusCode;
  }
}

const RECORD_FILE = 'service.json';
const LOG_FILE = 'function.log';

/**
 * Runs each function as a child process on a free loopback port. Starts it on deploy to
 * prove it is ready, stops it when idle (scale to zero), starts it again on the next
 * request, restarts it after a crash, and marks it failed when it keeps crashing.
 */
export class LocalDeployer implements Deployer {
  private readonly records: RecordStore<ServiceRecord>;
  private readonly instances = new Map<string, Instance>();
  private readonly options: LocalDeployerOptions;
  private readonly reaper: NodeJS.Timeout;

  constructor(options: LocalDeployerOptions) {
    this.options = options;
    this.records = new RecordStore(options.dir, RECORD_FILE);
    this.reaper = setInterval(() => void this.stopIdle(), Math.min(5000, Math.max(250, options.idleMs / 4)));
    this.reaper.unref();
  }

  logFile(name: string): string {
    return path.join(this.records.directoryOf(name), LOG_FILE);
  }

  url(name: string): string {
    return `${this.options.routerUrl}/functions/${name}`;
  }

  async apply(spec: ServiceSpec): Promise<ServiceRecord> {
    const revision = revisionOf(spec);
    let changed = false;
    const record = (await this.records.upsert(spec.name, (current) => {
      if (current && current.revision === revision) return { ...current, spec };
      changed = true;
      return { spec, revision, status: { phase: 'Deploying', announcedRevision: current?.status.announcedRevision } };
    })) as ServiceRecord;
    if (changed) void this.rollOut(spec.name);
    return record;
  }

  get(name: string): Promise<ServiceRecord | undefined> {
    return this.records.get(name);
  }

  list(): Promise<ServiceRecord[]> {
    return this.records.list();
  }

  isRunning(name: string): boolean {
    return this.instances.get(name)?.process !== undefined;
  }

  async delete(name: string): Promise<boolean> {
    const existed = (await this.records.get(name)) !== undefined;
    await this.stopInstance(name);
    this.instances.delete(name);
    await this.records.remove(name);
    return existed;
  }

  async markAnnounced(name: string, announcement: string): Promise<void> {
    await this.records.update(name, (r) => ({ ...r, status: { ...r.status, announcedRevision: announcement } }));
  }

  /** After a restart: services being deployed are deployed again; ready ones stay scaled to zero. */
  async resume(): Promise<void> {
    for (const record of await this.records.list()) {
      if (record.status.phase === 'Deploying') void this.rollOut(record.spec.name);
      else this.options.onChange(record.spec.name);
    }
  }

  async shutdown(): Promise<void> {
    clearInterval(this.reaper);
    await Promise.all([...this.instances.keys()].map((name) => this.stopInstance(name)));
  }

  /**
   * For the router: a ready process for this function, started if it was scaled to zero.
   * The caller must call `release` when its request ends.
   */
  async acquire(name: string): Promise<{ port: number; release: () => void }> {
    const record = await this.records.get(name);
    if (!record) throw new FunctionUnavailableError(`No function named "${name}"`, 404);
    if (record.status.phase === 'Failed') throw new FunctionUnavailableError(`Function "${name}" failed: ${record.status.message ?? record.status.reason}`, 503);
    const instance = this.instanceFor(name, record.revision);
    instance.inflight += 1;
    instance.lastUsed = Date.now();
    try {
      const running = instance.process ?? (await this.startInstance(name, record));
      return {
        port: running.port,
        release: () => {
          instance.inflight -= 1;
          instance.lastUsed = Date.now();
        },
      };
    } catch (error) {
      instance.inflight -= 1;
      throw new FunctionUnavailableError(`Function "${name}" could not start: ${(error as Error).message}`, 503);
    }
  }

  private instanceFor(name: string, revision: string): Instance {
    let instance = this.instances.get(name);
    if (!instance || instance.revision !== revision) {
      instance = { revision, lastUsed: Date.now(), inflight: 0, crashes: instance?.crashes ?? [] };
      this.instances.set(name, instance);
    }
    return instance;
  }

  private async rollOut(name: string): Promise<void> {
    const record = await this.records.get(name);
    if (!record) return;
    await this.stopInstance(name);
    const instance = this.instanceFor(name, record.revision);
    instance.crashes = [];
    instance.lastUsed = Date.now();
    try {
      await this.startInstance(name, record);
      await this.setStatus(name, record.revision, { phase: 'Ready', url: this.url(name) });
    } catch (error) {
      await this.markFailed(name, record.revision, 'StartFailed', (error as Error).message);
    }
  }

  private startInstance(name: string, record: ServiceRecord): Promise<FunctionProcess> {
    const instance = this.instanceFor(name, record.revision);
    if (instance.process) return Promise.resolve(instance.process);
    instance.starting ??= this.spawn(name, record, instance).finally(() => (instance.starting = undefined));
    return instance.starting;
  }

  private async spawn(name: string, record: ServiceRecord, instance: Instance): Promise<FunctionProcess> {
    const { spec } = record;
    const runtime = this.options.runtimeFor(spec.runtime);
    const env = childEnvironment({
      ...spec.env,
      ...(await readSecretEnvironment(this.options.secretsDir, spec.secretEnv)),
      NODE_ENV: 'production',
      K_SERVICE: name,
      K_REVISION: `${name}-${record.revision}`,
      FUNCTION_TIMEOUT_SECONDS: String(spec.timeoutSeconds ?? 300),
      FUNC_LOG_LEVEL: this.options.functionLogLevel,
    });
    await fs.appendFile(this.logFile(name), `--- starting revision ${record.revision} at ${new Date().toISOString()}\n`);
    const started = await FunctionProcess.start({
      command: runtime.startCommand,
      cwd: fileURLToPath(spec.image),
      env,
      logFile: this.logFile(name),
      logMaxBytes: this.options.logMaxBytes,
      registry: this.options.registry,
      startTimeoutMs: this.options.startTimeoutMs,
    });
    instance.process = started;
    void started.exited.then((exit) => this.onExit(name, instance, started, describeExit(exit)));
    return started;
  }

  private async onExit(name: string, instance: Instance, exited: FunctionProcess, how: string): Promise<void> {
    if (instance.process === exited) instance.process = undefined;
    if (exited.stopping || this.instances.get(name) !== instance) return;
    const now = Date.now();
    instance.crashes = [...instance.crashes.filter((t) => now - t < 60_000), now];
    await fs.appendFile(this.logFile(name), `--- process ended unexpectedly (${how})\n`).catch(() => undefined);
    if (instance.crashes.length > this.options.maxRestartsPerMinute) {
      await this.markFailed(name, instance.revision, 'CrashLoop', `The function crashed ${instance.crashes.length} times within a minute (last: ${how})`);
      return;
    }
    const record = await this.records.get(name);
    if (!record || record.revision !== instance.revision) return;
    this.options.log.warn({ function: name, exit: how }, 'local function crashed; restarting');
    await this.startInstance(name, record).catch((error: Error) => this.markFailed(name, instance.revision, 'StartFailed', error.message));
  }

  private async markFailed(name: string, revision: string, reason: string, message: string): Promise<void> {
    const logTail = await tailFile(this.logFile(name));
    await this.setStatus(name, revision, { phase: 'Failed', reason, message, logTail, url: undefined });
  }

  private async setStatus(name: string, revision: string, status: Partial<ServiceRecord['status']>): Promise<void> {
    const updated = await this.records.update(name, (r) => (r.revision === revision ? { ...r, status: { ...r.status, ...status } } : r));
    if (updated?.revision === revision) this.options.onChange(name);
  }

  private async stopInstance(name: string): Promise<void> {
    const instance = this.instances.get(name);
    const running = instance?.process ?? (await instance?.starting?.catch(() => undefined));
    if (instance) instance.process = undefined;
    await running?.stop();
  }

  private async stopIdle(): Promise<void> {
    const now = Date.now();
    for (const [name, instance] of this.instances) {
      if (instance.process && instance.inflight === 0 && now - instance.lastUsed > this.options.idleMs) {
        this.options.log.info({ function: name }, 'scaling idle function to zero');
        const running = instance.process;
        instance.process = undefined;
        await running.stop();
      }
    }
  }
}
