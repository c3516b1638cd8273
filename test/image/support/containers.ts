// Runs a pushed image the way a container runtime would, with runc: the image's
// filesystem (from the registry, unpacked by crane), its command, environment, working
// directory and user. The container gets namespaces of its own, its network one with
// only loopback; the test reaches it through a Unix socket relayed inside that namespace.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { ImageEnv } from './image-env.ts';

const exec = promisify(execFile);
const RELAY = fileURLToPath(new URL('./relay.mjs', import.meta.url));
/** How long a container may take to answer its readiness probe (a bound on waiting, not a measurement). */
const START_DEADLINE_MS = 60_000;
const STOP_DEADLINE_MS = 20_000;
const POLL_MS = 100;

export interface ImageConfig {
  User?: string;
  Env?: string[];
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  WorkingDir?: string;
}

export async function imageConfig(env: ImageEnv, ref: string): Promise<ImageConfig> {
  const { stdout } = await exec(env.tools.crane, ['config', ref]);
  return (JSON.parse(stdout) as { config: ImageConfig }).config;
}

/** Bytes the registry serves for the image: its compressed layers and its config. */
export async function compressedSize(env: ImageEnv, ref: string): Promise<number> {
  const { stdout } = await exec(env.tools.crane, ['manifest', ref]);
  const manifest = JSON.parse(stdout) as { config: { size: number }; layers: Array<{ size: number }> };
  return manifest.layers.reduce((sum, layer) => sum + layer.size, manifest.config.size);
}

/** Where the local registry holds an image named after its upstream registry (as registries.conf maps it). */
export function inLocalRegistry(env: ImageEnv, name: string): string {
  return `${env.registry}/${name.slice(name.indexOf('/') + 1)}`;
}

/** The base image of a Dockerfile's last stage (what the image is made FROM). */
export async function finalBase(dockerfile: string): Promise<string> {
  const froms = [...(await fs.readFile(dockerfile, 'utf8')).matchAll(/^FROM\s+(\S+)/gm)].map((match) => match[1] ?? '');
  return froms.at(-1) ?? '';
}

/** The image's flattened filesystem, from the registry, into `rootfs` (as root: owners and modes kept). */
export async function unpack(env: ImageEnv, ref: string, rootfs: string): Promise<void> {
  await fs.mkdir(rootfs, { recursive: true });
  const crane = spawn(env.tools.crane, ['export', ref, '-'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const tar = spawn('tar', ['--extract', '--numeric-owner', '--same-permissions', '--directory', rootfs], { stdio: ['pipe', 'ignore', 'pipe'] });
  crane.stdout.pipe(tar.stdin);
  let errors = '';
  crane.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  tar.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
  const [craneCode, tarCode] = await Promise.all([crane, tar].map((child) => new Promise<number | null>((resolve) => child.once('close', resolve))));
  if (craneCode !== 0 || tarCode !== 0) throw new Error(`unpacking ${ref} failed (crane ${craneCode}, tar ${tarCode}): ${errors}`);
}

/** Bytes of a directory tree, as files take them (the unpacked image's size). */
export async function treeBytes(dir: string): Promise<number> {
  const { stdout } = await exec('du', ['--summarize', '--bytes', dir]);
  return Number(stdout.split('\t')[0]);
}

interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

async function passwd(rootfs: string): Promise<PasswdEntry[]> {
  const file = path.join(rootfs, 'etc', 'passwd');
  if (!existsSync(file)) return [];
  return (await fs.readFile(file, 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(':'))
    .map(([name = '', , uid = '', gid = '', , home = '/']) => ({ name, uid: Number(uid), gid: Number(gid), home }));
}

/** The image's USER as numbers, and its home, as a container runtime resolves them ('' is root). */
export async function resolveUser(rootfs: string, user = ''): Promise<{ uid: number; gid: number; home: string }> {
  const [who = '', group] = user.split(':');
  const entries = await passwd(rootfs);
  const entry = entries.find((e) => e.name === who || String(e.uid) === who) ?? (who === '' ? entries.find((e) => e.uid === 0) : undefined);
  const uid = /^\d+$/.test(who) ? Number(who) : (entry?.uid ?? 0);
  if (who !== '' && !/^\d+$/.test(who) && !entry) throw new Error(`user ${who} is not in the image's /etc/passwd`);
  const gid = group !== undefined && /^\d+$/.test(group) ? Number(group) : (entry?.gid ?? uid);
  return { uid, gid, home: entry?.home ?? '/' };
}

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

export interface Container {
  id: string;
  /** The uid the image asks for, and the container's first process really has. */
  uid: number;
  pid: number;
  request(method: string, urlPath: string, headers?: Record<string, string>, body?: string): Promise<Reply>;
  /** uid of every process running in the container, from /proc. */
  processUids(): Promise<number[]>;
  /** The first process's command line, from /proc. */
  commandLine(): Promise<string[]>;
  logs(): Promise<string>;
  stop(): Promise<void>;
}

export interface RunOptions {
  name: string;
  rootfs: string;
  config: ImageConfig;
  env?: Record<string, string>;
}

function runc(env: ImageEnv, args: string[]) {
  return exec(env.tools.runc, ['--root', path.join(env.stateDir, 'runc'), ...args]);
}

/**
 * runc's default spec, made to run the image: its command, environment, working directory and
 * user, no terminal, a writable root (as Knative runs it). A non-root user gets no capabilities
 * beyond the bounding set, as under Kubernetes.
 */
async function writeSpec(env: ImageEnv, bundle: string, options: RunOptions, user: { uid: number; gid: number; home: string }): Promise<void> {
  await exec(env.tools.runc, ['spec', '--bundle', bundle]);
  const specFile = path.join(bundle, 'config.json');
  const spec = JSON.parse(await fs.readFile(specFile, 'utf8')) as {
    process: Record<string, unknown> & { capabilities: Record<string, string[]> };
    root: { path: string; readonly: boolean };
    hostname: string;
  };
  const imageEnv = options.config.Env ?? [];
  const withHome = imageEnv.some((entry) => entry.startsWith('HOME=')) ? imageEnv : [...imageEnv, `HOME=${user.home}`];
  spec.process.terminal = false;
  spec.process.args = [...(options.config.Entrypoint ?? []), ...(options.config.Cmd ?? [])];
  spec.process.env = [...withHome, ...Object.entries(options.env ?? {}).map(([key, value]) => `${key}=${value}`)];
  spec.process.cwd = options.config.WorkingDir || '/';
  spec.process.user = { uid: user.uid, gid: user.gid };
  spec.process.noNewPrivileges = true;
  if (user.uid !== 0) spec.process.capabilities = { bounding: spec.process.capabilities.bounding ?? [] };
  spec.root = { path: options.rootfs, readonly: false };
  spec.hostname = options.name;
  await fs.writeFile(specFile, JSON.stringify(spec, null, 2));
}

function request(socketPath: string, method: string, urlPath: string, headers: Record<string, string> = {}, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: urlPath, headers: { host: 'function', ...headers } }, (response) => {
      const chunks: Buffer[] = [];
      response.on('data', (chunk: Buffer) => chunks.push(chunk));
      response.on('end', () => resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }));
      response.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function stateOf(env: ImageEnv, id: string): Promise<string> {
  const state = await runc(env, ['state', id]).catch(() => undefined);
  return state ? (JSON.parse(state.stdout) as { status: string }).status : 'gone';
}

async function uidOf(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
}

async function waitReady(container: Container, port: string, relay: ChildProcess, socketPath: string): Promise<void> {
  const deadline = Date.now() + START_DEADLINE_MS;
  for (;;) {
    if (relay.exitCode !== null) throw new Error(`the relay to port ${port} exited:\n${await container.logs()}`);
    if (existsSync(socketPath)) {
      const answer = await container.request('GET', '/health/readiness').catch(() => undefined);
      if (answer?.status === 200) return;
    }
    if (Date.now() > deadline) throw new Error(`${container.id} did not answer /health/readiness on port ${port} within ${START_DEADLINE_MS / 1000}s:\n${await container.logs()}`);
    await sleep(POLL_MS);
  }
}

/** Starts the image's command under runc and waits until it answers /health/readiness on $PORT. */
export async function startContainer(env: ImageEnv, options: RunOptions): Promise<Container> {
  const id = `kl-image-${options.name}-${randomBytes(3).toString('hex')}`;
  const bundle = path.join(env.stateDir, 'bundles', id);
  await fs.mkdir(bundle, { recursive: true });
  const user = await resolveUser(options.rootfs, options.config.User);
  await writeSpec(env, bundle, options, user);
  const logFile = path.join(bundle, 'container.log');
  const log = await fs.open(logFile, 'a');
  const started = spawn(env.tools.runc, ['--root', path.join(env.stateDir, 'runc'), 'run', '--detach', '--bundle', bundle, '--pid-file', path.join(bundle, 'pid'), id], { stdio: ['ignore', log.fd, log.fd] });
  const code = await new Promise<number | null>((resolve) => started.once('exit', resolve));
  await log.close();
  const logs = () => fs.readFile(logFile, 'utf8').catch(() => '');
  if (code !== 0) throw new Error(`runc run ${id} exited with ${code}:\n${await logs()}`);
  const pid = Number((await fs.readFile(path.join(bundle, 'pid'), 'utf8')).trim());
  const port = [...(options.config.Env ?? []), ...Object.entries(options.env ?? {}).map(([k, v]) => `${k}=${v}`)].findLast((entry) => entry.startsWith('PORT='))?.slice(5) ?? '8080';
  const socketPath = path.join(bundle, 'http.sock');
  const relay = spawn(env.tools.nsenter, ['--target', String(pid), '--net', '--', process.execPath, RELAY, socketPath, port], { stdio: 'ignore' });

  const container: Container = {
    id,
    uid: user.uid,
    pid,
    request: (method, urlPath, headers, body) => request(socketPath, method, urlPath, headers, body),
    async processUids() {
      const { stdout } = await runc(env, ['ps', '--format', 'json', id]);
      return Promise.all((JSON.parse(stdout) as number[]).map(uidOf));
    },
    async commandLine() {
      return (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0').filter(Boolean);
    },
    logs,
    async stop() {
      relay.kill('SIGTERM');
      await runc(env, ['kill', id, 'TERM']).catch(() => undefined);
      const deadline = Date.now() + STOP_DEADLINE_MS;
      while (Date.now() < deadline && (await stateOf(env, id)) === 'running') await sleep(POLL_MS);
      await runc(env, ['delete', '--force', id]).catch(() => undefined);
      await fs.rm(bundle, { recursive: true, force: true });
    },
  };
  try {
    await waitReady(container, port, relay, socketPath);
  } catch (error) {
    await container.stop();
    throw error;
  }
  return container;
}
