import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import type { Writable } from 'node:stream';
import { createStream } from 'rotating-file-stream';
import { PROCESS_MARK, type ProcessRegistry } from './process-registry.ts';

/** What a process needs to run, and how the package managers of the runtimes reach their registries and caches. */
const PASSED_THROUGH =
  /^(?:PATH|HOME|TMPDIR|LANG|LC_ALL|TZ|XDG_CACHE_HOME|SSL_CERT_FILE|SSL_CERT_DIR|NODE_EXTRA_CA_CERTS|HTTPS?_PROXY|NO_PROXY|https?_proxy|no_proxy|npm_config_registry|npm_config_cache|PIP_(?:INDEX_URL|EXTRA_INDEX_URL|TRUSTED_HOST|CERT|FIND_LINKS|DEFAULT_TIMEOUT|CACHE_DIR)|GO(?:PROXY|SUMDB|NOSUMDB|NOPROXY|PRIVATE|INSECURE|PATH|MODCACHE|CACHE|TOOLCHAIN))$/;

/**
 * Environment of a user build or function: only what a process needs to run, never the
 * platform's own settings or credentials. `node` resolves to the platform's Node.js.
 */
export function childEnvironment(extra: Record<string, string> = {}): Record<string, string> {
  const base = Object.fromEntries(Object.entries(process.env).filter((entry): entry is [string, string] => PASSED_THROUGH.test(entry[0]) && entry[1] !== undefined));
  base.PATH = [path.dirname(process.execPath), base.PATH ?? '/usr/local/bin:/usr/bin:/bin'].join(path.delimiter);
  return { ...base, ...extra };
}

/** The platform's Node.js stands in for `node` so user code runs on the same major version. */
export function resolveCommand(command: readonly string[]): [string, string[]] {
  const [program = '', ...args] = command;
  return [program === 'node' ? process.execPath : program, args];
}

/**
 * Runs a command tied to this process's life. The shell starts a watcher in the command's
 * process group, then becomes the command (exec: same pid, same exit status). The watcher
 * ends the whole group once this process is gone, however it ended (SIGKILL included), and
 * leaves quietly when the command ends first. Its output goes nowhere, so the command's
 * pipes close with the command.
 */
const SUPERVISED = [
  'parent=$1; shift',
  '( while kill -0 "$parent" 2>/dev/null && kill -0 $$ 2>/dev/null; do sleep 1; done; kill -0 "$parent" 2>/dev/null || kill -KILL 0 ) </dev/null >/dev/null 2>&1 &',
  'exec "$@"',
].join('\n');

/** The command line that runs `program` supervised (see SUPERVISED). */
export function supervisedCommand(program: string, args: readonly string[]): [string, string[]] {
  return ['/bin/sh', ['-c', SUPERVISED, 'supervised', String(process.pid), program, ...args]];
}

export interface LoggedProcessOptions {
  cwd: string;
  env: Record<string, string>;
  logFile: string;
  /** Past this size the log becomes `<logFile>.1` (replacing the previous one) and starts again. */
  logMaxBytes: number;
  /** Where the process is recorded while it runs, so that a later start can end it if it was left behind. */
  registry: ProcessRegistry;
}

/** A log file that rotates by size, keeping one previous file: a chatty process never fills the disk. */
export function rotatingLog(logFile: string, maxBytes: number): Writable {
  const name = path.basename(logFile);
  // In classical rotation the generator gets the rotated file's number, or null for the log itself.
  return createStream((rotation) => (typeof rotation === 'number' && rotation > 0 ? `${name}.${rotation}` : name), { path: path.dirname(logFile), size: `${Math.max(1, Math.ceil(maxBytes / 1024))}K`, rotate: 1 });
}

/** Starts a process in its own process group, tied to this process's life, appending its output to a log file. */
export function spawnLogged(command: readonly string[], options: LoggedProcessOptions): ChildProcess {
  const [program, args] = supervisedCommand(...resolveCommand(command));
  const log = rotatingLog(options.logFile, options.logMaxBytes);
  const mark = options.registry.newMark();
  const child = spawn(program, args, { cwd: options.cwd, env: { ...options.env, [PROCESS_MARK]: mark }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const { pid } = child;
  const recorded = pid === undefined ? Promise.resolve() : options.registry.record(pid, mark).catch((error: Error) => log.write(`could not record process ${pid}: ${error.message}\n`));
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  child.on('close', () => {
    log.end();
    if (pid !== undefined) void recorded.then(() => options.registry.forget(pid));
  });
  child.on('error', (error) => log.write(`failed to start ${program}: ${error.message}\n`));
  return child;
}

/** Signals the whole process group, so npm and its children stop too. */
export function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    child.kill(signal);
  }
}

export function waitForExit(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  return new Promise((resolve) => {
    child.once('error', () => resolve({ code: null, signal: null }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
}
