import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { BaseImages, FunctionManifest, Runtime } from '../runtimes/runtime.ts';
import type { LoadedSource } from '../source/load.ts';
import { sha256Hex } from '../source/load.ts';
import { IGNORED_NAMES, packDeterministic } from './deterministic-tar.ts';

export interface BuildContext {
  bytes: Buffer;
  /** SHA-256 of the tar.gz: names the build, the image tag and the context key. */
  digest: string;
}

/**
 * The build context is the same for every backend: `Dockerfile`, `runtime/` (wrapper and
 * manifest) and `function/` (the user's files). The host build unpacks it; Kaniko reads it.
 */
export async function createBuildContext(source: LoadedSource, runtime: Runtime, manifest: FunctionManifest, images: BaseImages, stagingDir: string): Promise<BuildContext> {
  await fs.rm(stagingDir, { recursive: true, force: true });
  await fs.mkdir(path.join(stagingDir, 'runtime'), { recursive: true });
  await fs.cp(source.root, path.join(stagingDir, 'function'), {
    recursive: true,
    verbatimSymlinks: true,
    filter: (file) => !IGNORED_NAMES.has(path.basename(file)),
  });
  for (const file of await runtime.contextFiles(images, source)) {
    await fs.mkdir(path.dirname(path.join(stagingDir, file.path)), { recursive: true });
    await fs.writeFile(path.join(stagingDir, file.path), file.content, { mode: file.executable ? 0o755 : 0o644 });
  }
  await fs.writeFile(path.join(stagingDir, 'runtime', 'function.json'), `${JSON.stringify(manifest, null, 2)}\n`);
  const bytes = await packDeterministic(stagingDir);
  return { bytes, digest: sha256Hex(bytes) };
}
