// Settings of the image test tier, written by `bash test/image/setup` to
// .test-env/image/env.json, and the check that what they name is really there.
// Nothing here skips a test: what is missing fails it with the command that sets it up.
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const SETUP_COMMAND = 'bash test/image/setup';
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../..');
const ENV_FILE = path.join(REPO_ROOT, '.test-env', 'image', 'env.json');

export interface ImageEnv {
  schemaVersion: 1;
  stateDir: string;
  cacheDir: string;
  /** host:port of the local registry (plain HTTP on loopback). */
  registry: string;
  tools: { buildah: string; runc: string; crane: string; nsenter: string };
  /** Tells buildah where its storage is and that the pinned base images come from the local registry. */
  containersEnv: Record<string, string>;
  /** Bind mounts for RUN steps only: the host's CA bundle, and npm told to use it. */
  buildVolumes: string[];
  /** Configuration the tests build with: the local names of the images pinned by digest. */
  configOverrides: Record<string, string>;
  bases: Record<'node' | 'python' | 'golang' | 'distroless', string[]>;
}

export class ImageEnvUnavailableError extends Error {
  override readonly name = 'ImageEnvUnavailableError';
  constructor(problem: string) {
    super(`${problem}. The image tests need the image tier: set it up with \`${SETUP_COMMAND}\` (see docs/TESTING.md, "Image tests"); its log: .test-env/logs/image-build.log.`);
  }
}

let loaded: ImageEnv | undefined;

export function imageEnv(): ImageEnv {
  if (loaded) return loaded;
  if (!existsSync(ENV_FILE)) throw new ImageEnvUnavailableError(`${path.relative(REPO_ROOT, ENV_FILE)} does not exist`);
  const env = JSON.parse(readFileSync(ENV_FILE, 'utf8')) as ImageEnv;
  if (env.schemaVersion !== 1) throw new ImageEnvUnavailableError(`${ENV_FILE} has schemaVersion ${String(env.schemaVersion)}, not 1`);
  loaded = env;
  return env;
}

/** Fails (never skips) unless this process is root and every tool and the registry answer. */
export async function requireImageEnv(): Promise<ImageEnv> {
  const env = imageEnv();
  if (process.getuid?.() !== 0) throw new ImageEnvUnavailableError('the image tests run buildah (chroot isolation) and runc as root, and this process is not root');
  for (const [name, file] of Object.entries(env.tools)) {
    try {
      accessSync(file, constants.X_OK);
    } catch {
      throw new ImageEnvUnavailableError(`${name} is not executable at ${file}`);
    }
  }
  const registry = `http://${env.registry}/v2/`;
  const answer = await fetch(registry).catch((error: Error) => error);
  if (answer instanceof Error || !answer.ok) throw new ImageEnvUnavailableError(`the local registry does not answer at ${registry}`);
  return env;
}
