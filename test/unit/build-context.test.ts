import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createBuildContext } from '../../lib/context/build-context.ts';
import { packDeterministic } from '../../lib/context/deterministic-tar.ts';
import { nodeDockerfile, nodeRuntime } from '../../lib/runtimes/node/index.ts';
import type { LoadedSource } from '../../lib/source/load.ts';
import { unpackArchive } from '../../lib/source/unpack.ts';

const images = { build: 'docker.io/library/node:24.9.0-bookworm-slim', runtime: 'docker.io/library/node:24.9.0-bookworm-slim' };
const manifest = { runtime: 'nodejs', exportName: 'handler' };
let dir: string;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'context-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const archive = (root: string): LoadedSource => ({ root, format: { kind: 'tar.gz' } });

async function writeSource(root: string, files: Record<string, string>, order: string[] = Object.keys(files)): Promise<void> {
  for (const name of order) {
    await fs.mkdir(path.dirname(path.join(root, name)), { recursive: true });
    await fs.writeFile(path.join(root, name), files[name] ?? '');
  }
}

describe('createBuildContext', () => {
  const files = { 'package.json': '{"main":"index.js"}', 'index.js': 'export const handler = async () => 1;', 'lib/util.js': 'export {}' };

  it('gives the same bytes for the same source, whatever the write order, times, modes and ignored folders', async () => {
    const first = path.join(dir, 'first');
    const second = path.join(dir, 'second');
    await writeSource(first, files);
    await writeSource(second, files, ['lib/util.js', 'index.js', 'package.json']);
    await fs.utimes(path.join(second, 'index.js'), new Date('2001-01-01'), new Date('2001-01-01'));
    await fs.chmod(path.join(second, 'package.json'), 0o600);
    await fs.mkdir(path.join(second, 'node_modules', 'junk'), { recursive: true });
    await fs.writeFile(path.join(second, 'node_modules', 'junk', 'x.js'), 'x');

    const a = await createBuildContext(archive(first), nodeRuntime, manifest, images, path.join(dir, 'stage-a'));
    const b = await createBuildContext(archive(second), nodeRuntime, manifest, images, path.join(dir, 'stage-b'));
    expect(b.digest).toBe(a.digest);
    expect(b.bytes.equals(a.bytes)).toBe(true);
    expect(a.digest).toMatch(/^[0-9a-f]{64}$/);
  });

  it('changes digest when the code, the handler or a base image changes', async () => {
    const source = path.join(dir, 'src');
    await writeSource(source, files);
    const base = await createBuildContext(archive(source), nodeRuntime, manifest, images, path.join(dir, 's1'));
    const otherHandler = await createBuildContext(archive(source), nodeRuntime, { ...manifest, exportName: 'other' }, images, path.join(dir, 's2'));
    const otherImage = await createBuildContext(archive(source), nodeRuntime, manifest, { ...images, runtime: 'node:24.9.1' }, path.join(dir, 's3'));
    await fs.writeFile(path.join(source, 'index.js'), 'export const handler = async () => 2;');
    const otherCode = await createBuildContext(archive(source), nodeRuntime, manifest, images, path.join(dir, 's4'));
    expect(new Set([base.digest, otherHandler.digest, otherImage.digest, otherCode.digest]).size).toBe(4);
  });

  it('holds the Dockerfile, the wrapper and the function, with no metadata of this host', async () => {
    const source = path.join(dir, 'src');
    await writeSource(source, files);
    const context = await createBuildContext(archive(source), nodeRuntime, manifest, images, path.join(dir, 'stage'));
    const out = path.join(dir, 'out');
    await unpackArchive(context.bytes, 'tar.gz', out, { maxBytes: 1 << 24, maxFiles: 1000, maxDepth: 10 });
    const dockerfile = await fs.readFile(path.join(out, 'Dockerfile'), 'utf8');
    expect(dockerfile).toContain(`FROM ${images.build} AS build`);
    expect(dockerfile).toContain(`FROM ${images.runtime}\n`);
    expect(dockerfile).toMatch(/USER 1000:1000/);
    for (const file of ['runtime/build.mjs', 'runtime/serve.mjs', 'runtime/package.json', 'runtime/package-lock.json', 'function/index.js', 'function/lib/util.js']) {
      await expect(fs.stat(path.join(out, file))).resolves.toBeTruthy();
    }
    expect(JSON.parse(await fs.readFile(path.join(out, 'runtime/function.json'), 'utf8'))).toEqual(manifest);
    expect(context.bytes.subarray(4, 8).readUInt32LE(0)).toBe(0);
  });
});

describe('nodeDockerfile', () => {
  it('is multi-stage with a non-root runtime stage', () => {
    const text = nodeDockerfile(images);
    expect(text.match(/^FROM /gm)).toHaveLength(2);
    expect(text).toContain('--ignore-scripts');
    expect(text.indexOf('USER 1000:1000')).toBeGreaterThan(text.lastIndexOf('FROM '));
  });

  it('pins the wrapper and build step dependencies to the versions the platform itself runs', async () => {
    // Host builds use the platform's node_modules in place of the template's: the versions must be the same.
    const template = JSON.parse(await fs.readFile(new URL('../../lib/runtimes/node/template/package.json', import.meta.url), 'utf8'));
    const platform = JSON.parse(await fs.readFile(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(template.dependencies['faas-js-runtime']).toBe(platform.dependencies['faas-js-runtime']);
    expect(template.devDependencies.esbuild).toBe(platform.dependencies.esbuild);
    expect(template.devDependencies.typescript).toBe(platform.devDependencies.typescript);
    expect(template.devDependencies['@types/node']).toBe(platform.devDependencies['@types/node']);
  });
});

describe('packDeterministic', () => {
  it('packs an empty directory the same way twice', async () => {
    expect((await packDeterministic(dir)).equals(await packDeterministic(dir))).toBe(true);
  });
});
