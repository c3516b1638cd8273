// Build contexts as the builder makes them: the source packed as the CLI packs it, loaded
// from those bytes, its runtime selected, and the context made by lib/context, with the
// base images of the configuration. Only the images pinned by digest are configured to
// their local names (env.json's configOverrides): a local image cannot have that digest.
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pipelineSettings } from '../../../lib/backends/settings.ts';
import { packageSource } from '../../../lib/cli/package-source.ts';
import { loadConfig } from '../../../lib/config/load.ts';
import { createBuildContext } from '../../../lib/context/build-context.ts';
import { selectRuntime } from '../../../lib/runtimes/registry.ts';
import { materializeSource } from '../../../lib/source/load.ts';
import { unpackArchive } from '../../../lib/source/unpack.ts';
import type { ImageEnv } from './image-env.ts';

const LIMITS = { maxBytes: 1 << 28, maxFiles: 10_000, maxDepth: 24 };

export interface GeneratedContext {
  /** The unpacked context: Dockerfile, runtime/, function/. */
  dir: string;
  runtime: string;
  digest: string;
}

/** The build context of the function at `sourceDir`, unpacked into `workDir`/context. */
export async function generateContext(env: ImageEnv, sourceDir: string, workDir: string): Promise<GeneratedContext> {
  await fs.rm(workDir, { recursive: true, force: true });
  const packed = await packageSource(sourceDir);
  const loaded = await materializeSource(`sources/image-test/${path.basename(sourceDir)}/source${packed.extension}`, packed.bytes, path.join(workDir, 'source'), LIMITS);
  const { runtime, source } = await selectRuntime(undefined, loaded);
  const images = pipelineSettings(loadConfig(env.configOverrides)).baseImages(runtime);
  const context = await createBuildContext(source, runtime, runtime.manifest(source, undefined), images, path.join(workDir, 'stage'));
  const dir = path.join(workDir, 'context');
  await unpackArchive(context.bytes, 'tar.gz', dir, LIMITS);
  return { dir, runtime: runtime.name, digest: context.digest };
}
