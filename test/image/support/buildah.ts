// Builds images with buildah (chroot isolation, vfs storage: no daemon, no overlay
// mounts) and reads what it built. Builds keep their layers (`--layers`), so a build
// after a change reuses every step before the first one the change touches.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { promisify } from 'node:util';
import type { ImageEnv } from './image-env.ts';

const run = promisify(execFile);
/** buildah's output of a build can be long: it goes to a log file, this is only the pipe's bound. */
const MAX_OUTPUT = 256 * 1024 * 1024;
/** The stage of the generated Dockerfiles where dependencies are installed and the code built. */
export const BUILD_STAGE = 'build';

export interface BuildOptions {
  /** Stop after this stage and name its image. */
  target?: string;
}

export interface Built {
  tag: string;
  seconds: number;
}

function buildahEnv(env: ImageEnv): NodeJS.ProcessEnv {
  return { ...process.env, ...env.containersEnv };
}

async function buildah(env: ImageEnv, args: string[], logFile?: string): Promise<string> {
  try {
    const { stdout, stderr } = await run(env.tools.buildah, args, { env: buildahEnv(env), maxBuffer: MAX_OUTPUT });
    if (logFile) await fs.appendFile(logFile, `$ buildah ${args.join(' ')}\n${stdout}${stderr}\n`);
    return stdout;
  } catch (error) {
    const { stdout = '', stderr = '' } = error as { stdout?: string; stderr?: string };
    if (logFile) await fs.appendFile(logFile, `$ buildah ${args.join(' ')}\n${stdout}${stderr}\n`);
    const tail = `${stdout}${stderr}`.split('\n').slice(-30).join('\n');
    throw new Error(`buildah ${args[0]} failed${logFile ? ` (log: ${logFile})` : ''}:\n${tail}`);
  }
}

/** Builds the Dockerfile of `contextDir` as `tag`; the host's CA bundle is mounted for RUN steps only. */
export async function build(env: ImageEnv, contextDir: string, tag: string, options: BuildOptions = {}, logFile?: string): Promise<Built> {
  const args = ['build', '--isolation', 'chroot', '--layers', '--tag', tag, ...env.buildVolumes.flatMap((volume) => ['--volume', volume])];
  if (options.target) args.push('--target', options.target);
  const started = performance.now();
  await buildah(env, [...args, contextDir], logFile);
  return { tag, seconds: (performance.now() - started) / 1000 };
}

/** Pushes a built image to the local registry under the same name. */
export async function push(env: ImageEnv, tag: string, logFile?: string): Promise<void> {
  await buildah(env, ['push', '--quiet', '--tls-verify=false', tag, `docker://${tag}`], logFile);
}

export interface ImageLayer {
  /** Digest of the uncompressed layer: the same digest is the same layer. */
  diffId: string;
  /** The instruction that made it (buildah's history). */
  createdBy: string;
}

/** The layers of an image in buildah's storage, each with the instruction that made it. */
export async function layers(env: ImageEnv, tag: string): Promise<ImageLayer[]> {
  const inspected = JSON.parse(await buildah(env, ['inspect', '--type', 'image', tag])) as {
    OCIv1: { rootfs: { diff_ids: string[] }; history: Array<{ created_by?: string; empty_layer?: boolean }> };
  };
  const history = inspected.OCIv1.history.filter((entry) => !entry.empty_layer);
  const diffIds = inspected.OCIv1.rootfs.diff_ids;
  if (history.length !== diffIds.length) throw new Error(`${tag}: ${history.length} history entries with layers for ${diffIds.length} layers`);
  return diffIds.map((diffId, index) => ({ diffId, createdBy: history[index]?.created_by ?? '' }));
}

/**
 * Removes every image but the base images (env.json's `bases`): what earlier builds tagged
 * and every layer they left for the cache. The next build then runs every step anew.
 */
export async function clearBuilds(env: ImageEnv): Promise<void> {
  const bases = new Set(Object.values(env.bases).flat());
  const images = JSON.parse(await buildah(env, ['images', '--all', '--json'])) as Array<{ id: string; names?: string[] | null }> | null;
  const others = (images ?? []).filter((image) => !(image.names ?? []).some((name) => bases.has(name))).map((image) => image.id);
  if (others.length > 0) await buildah(env, ['rmi', '--force', ...others]);
}

export function buildLog(env: ImageEnv, name: string): string {
  return path.join(env.stateDir, 'logs', `${name}.log`);
}
