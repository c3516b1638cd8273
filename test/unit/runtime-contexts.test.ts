import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Copy, DockerfileParser, type Instruction } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipelineSettings } from '../../lib/backends/settings.ts';
import { loadConfig } from '../../lib/config/load.ts';
import { configSchema } from '../../lib/config/schema.ts';
import { createBuildContext } from '../../lib/context/build-context.ts';
import { goDockerfile, goRuntime, nonStandardImports } from '../../lib/runtimes/go/index.ts';
import { nodeRuntime } from '../../lib/runtimes/node/index.ts';
import { pythonRuntime } from '../../lib/runtimes/python/index.ts';
import type { BaseImages, Runtime } from '../../lib/runtimes/runtime.ts';
import { packageSource } from '../../lib/cli/package-source.ts';
import { materializeSource, type LoadedSource } from '../../lib/source/load.ts';
import { unpackArchive } from '../../lib/source/unpack.ts';
import { repoRoot } from '../support/embedded-platform.ts';

const limits = { maxBytes: 1 << 26, maxFiles: 10_000, maxDepth: 16 };

interface Case {
  runtime: Runtime;
  example: string;
  /** Every file of the context: the Dockerfile, the wrapper, the manifest and the function. */
  files: string[];
  /** What the runtime stage copies from the build stage: nothing else reaches the image. */
  imageCopies: string[];
  /** The function's files its dependencies are installed from, in a layer before its code. */
  manifests: string[];
  /** Sources whose dependencies need the function's own files: installed with the code, no layer of their own. */
  withoutLayer: Record<string, Record<string, string>>;
}

const cases: Case[] = [
  {
    runtime: nodeRuntime,
    example: 'examples/faas-greet',
    files: ['Dockerfile', 'function/index.ts', 'function/package.json', 'runtime/build.mjs', 'runtime/function.json', 'runtime/package-lock.json', 'runtime/package.json', 'runtime/serve.mjs'],
    imageCopies: ['/workspace/function/', '/workspace/runtime/node_modules/', '/workspace/runtime/serve.mjs', '/workspace/runtime/build.json'],
    manifests: ['function/package.json'],
    withoutLayer: {
      'a local dependency': { 'package.json': '{"dependencies":{"util":"file:./util"}}', 'index.js': 'export const handler = async () => 1;', 'util/package.json': '{"name":"util"}' },
      workspaces: { 'package.json': '{"workspaces":["packages/*"]}', 'index.js': 'export const handler = async () => 1;' },
    },
  },
  {
    runtime: pythonRuntime,
    example: 'examples/python-lambda',
    files: ['Dockerfile', 'function/lambda_function.py', 'function/requirements.txt', 'runtime/build.py', 'runtime/function.json', 'runtime/requirements.txt', 'runtime/serve.py'],
    imageCopies: ['/app/venv/', '/app/function/', '/app/runtime/serve.py', '/app/runtime/build.json'],
    manifests: ['function/requirements.txt'],
    withoutLayer: {
      'another requirements file': { 'requirements.txt': '-r common.txt\n', 'common.txt': 'humanize==4.17.0\n', 'main.py': 'def handle(event):\n    return event\n' },
      'a local project': { 'requirements.txt': './lib\n', 'main.py': 'def handle(event):\n    return event\n' },
      'a file URL in pyproject.toml': { 'pyproject.toml': '[project]\nname = "f"\ndependencies = ["lib @ file:///tmp/lib"]\n', 'main.py': 'def handle(event):\n    return event\n' },
    },
  },
  {
    runtime: goRuntime,
    example: 'examples/go-hello',
    files: ['Dockerfile', 'function/go.mod', 'function/go.sum', 'function/hello.go', 'runtime/build/main.go', 'runtime/function.json', 'runtime/go.mod', 'runtime/go.sum', 'runtime/main.go'],
    imageCopies: ['/workspace/bin/function'],
    manifests: ['function/go.mod', 'function/go.sum'],
    withoutLayer: {
      'a module replaced by a folder': { 'go.mod': 'module f\n\ngo 1.26\n\nreplace example.com/lib => ./lib\n', 'f.go': 'package f\n' },
      'no go.mod': { 'f.go': 'package f\n' },
    },
  },
];

let dir: string;
beforeAll(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runtime-contexts-'));
});
afterAll(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** The example as the builder sees it: packed by the CLI, then unpacked from the store's bytes. */
async function loadExample(example: string, into: string): Promise<LoadedSource> {
  const packed = await packageSource(path.join(repoRoot, example));
  return materializeSource(`sources/local/example/x${packed.extension}`, packed.bytes, into, limits);
}

async function contextOf(testCase: Case, images: BaseImages, name: string) {
  const work = path.join(dir, name);
  const source = await loadExample(testCase.example, work);
  const context = await createBuildContext(source, testCase.runtime, testCase.runtime.manifest(source, undefined), images, path.join(work, 'stage'));
  const unpacked = path.join(work, 'context');
  await unpackArchive(context.bytes, 'tar.gz', unpacked, limits);
  return { ...context, unpacked, dockerfile: await fs.readFile(path.join(unpacked, 'Dockerfile'), 'utf8') };
}

async function filesUnder(root: string, relative = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true });
  const nested = await Promise.all(entries.map((e) => (e.isDirectory() ? filesUnder(root, path.posix.join(relative, e.name)) : [path.posix.join(relative, e.name)])));
  return nested.flat().sort();
}

/** Sources and destination of a COPY, flags aside. */
function copyArguments(instruction: Instruction): { from: string | undefined; sources: string[]; destination: string } {
  const args = instruction.getArguments().map((a) => a.getValue());
  const from = instruction instanceof Copy ? (instruction.getFlags().find((f) => f.getName() === 'from')?.getValue() ?? undefined) : undefined;
  return { from, sources: args.slice(0, -1), destination: args.at(-1) ?? '' };
}

function stages(dockerfile: string) {
  return DockerfileParser.parse(dockerfile)
    .getFROMs()
    .map((from, index, all) => {
      const start = from.getRange().start.line;
      const end = all[index + 1]?.getRange().start.line ?? Number.POSITIVE_INFINITY;
      const instructions = DockerfileParser.parse(dockerfile)
        .getInstructions()
        .filter((i) => i.getRange().start.line > start && i.getRange().start.line < end);
      return { from, instructions };
    });
}

describe.each(cases)('the $runtime.name build context', (testCase) => {
  const configured = loadConfig({
    [testCase.runtime.images.build]: `registry.example/${testCase.runtime.name}-build:1.2.3`,
    [testCase.runtime.images.runtime]: `registry.example/${testCase.runtime.name}-runtime@sha256:${'a'.repeat(64)}`,
  });
  const images = pipelineSettings(configured).baseImages(testCase.runtime);

  it('has a Dockerfile that parses without a problem and builds from the configured base images', async () => {
    const { dockerfile } = await contextOf(testCase, images, `${testCase.runtime.name}-parse`);
    expect(validate(dockerfile)).toEqual([]);
    const [build, final, ...more] = stages(dockerfile);
    expect(more).toEqual([]);
    expect(build?.from.getImage()).toBe(images.build);
    expect(build?.from.getBuildStage()).toBe('build');
    expect(final?.from.getImage()).toBe(images.runtime);
  });

  it('pins its default base images', () => {
    for (const variable of Object.values(testCase.runtime.images)) {
      const image = loadConfig({})[variable];
      expect(configSchema.shape[variable].description).toBeTruthy();
      // A version tag with digits, or a digest: never a moving tag such as latest.
      expect(image).toMatch(/:[a-z-]*\d+(\.\d+)+[^@]*$|@sha256:[0-9a-f]{64}$/);
    }
  });

  it('ends as a non-root user', async () => {
    const { dockerfile } = await contextOf(testCase, images, `${testCase.runtime.name}-user`);
    const final = stages(dockerfile).at(-1);
    const users = final?.instructions.filter((i) => i.getKeyword() === 'USER') ?? [];
    const user = users.at(-1)?.getArgumentsContent() ?? '';
    expect(user).toMatch(/^\d+(:\d+)?$/);
    expect(user.split(':')[0]).not.toBe('0');
  });

  it('holds only the wrapper and the function, and copies into the image only what the function needs', async () => {
    const { dockerfile, unpacked } = await contextOf(testCase, images, `${testCase.runtime.name}-copies`);
    expect(await filesUnder(unpacked)).toEqual([...testCase.files].sort());
    const [build, final] = stages(dockerfile);
    for (const instruction of build?.instructions.filter((i) => i.getKeyword() === 'COPY') ?? []) {
      const { from, sources } = copyArguments(instruction);
      expect(from).toBeUndefined();
      for (const source of sources) {
        expect(source).toMatch(/^(runtime|function)\//);
        await expect(fs.stat(path.join(unpacked, source))).resolves.toBeTruthy();
      }
    }
    const copies = final?.instructions.filter((i) => i.getKeyword() === 'COPY' || i.getKeyword() === 'ADD') ?? [];
    expect(copies.every((i) => copyArguments(i).from === 'build')).toBe(true);
    expect(copies.flatMap((i) => copyArguments(i).sources)).toEqual(testCase.imageCopies);
  });

  it('gives the same digest for the same source, and another for other base images', async () => {
    const first = await contextOf(testCase, images, `${testCase.runtime.name}-first`);
    const second = await contextOf(testCase, images, `${testCase.runtime.name}-second`);
    const otherImages = await contextOf(testCase, { ...images, build: `${images.build}-other` }, `${testCase.runtime.name}-other`);
    expect(second.digest).toBe(first.digest);
    expect(second.bytes.equals(first.bytes)).toBe(true);
    expect(otherImages.digest).not.toBe(first.digest);
  });
});

/** Index of the first instruction of a stage matching a keyword and, for COPY, exactly these sources. */
function indexOf(instructions: Instruction[], keyword: string, sources?: string[]): number {
  return instructions.findIndex((i) => i.getKeyword() === keyword && (sources === undefined || JSON.stringify(copyArguments(i).sources) === JSON.stringify(sources)));
}

describe.each(cases)('the $runtime.name dependency layer', (testCase) => {
  const images = pipelineSettings(loadConfig({})).baseImages(testCase.runtime);

  it('installs the function\'s dependencies from its manifests alone, before its code is copied', async () => {
    const { dockerfile } = await contextOf(testCase, images, `${testCase.runtime.name}-layer`);
    const instructions = stages(dockerfile)[0]?.instructions ?? [];
    const manifests = indexOf(instructions, 'COPY', testCase.manifests);
    const code = indexOf(instructions, 'COPY', ['function/']);
    expect(manifests).toBeGreaterThan(-1);
    expect(code).toBeGreaterThan(manifests);
    // The install runs between the two: a change to the code alone leaves its layer as it was.
    expect(instructions.slice(manifests + 1, code).map((i) => i.getKeyword())).toEqual(['RUN']);
    // Nothing of the function but its manifests comes before the code.
    const earlier = instructions.slice(0, code).filter((i) => i.getKeyword() === 'COPY').flatMap((i) => copyArguments(i).sources);
    expect(earlier.filter((source) => source.startsWith('function/'))).toEqual(testCase.manifests);
  });

  it.each(Object.entries(testCase.withoutLayer))('installs them with the code when they need the function\'s own files: %s', async (name, files) => {
    const root = path.join(dir, `${testCase.runtime.name}-without-${name.replace(/\W+/g, '-')}`);
    for (const [file, content] of Object.entries(files)) {
      await fs.mkdir(path.dirname(path.join(root, file)), { recursive: true });
      await fs.writeFile(path.join(root, file), content);
    }
    const contextFiles = await testCase.runtime.contextFiles(images, { root, format: { kind: 'tar.gz' } });
    const dockerfile = contextFiles.find((file) => file.path === 'Dockerfile')?.content.toString('utf8') ?? '';
    expect(validate(dockerfile)).toEqual([]);
    const copies = (stages(dockerfile)[0]?.instructions ?? []).filter((i) => i.getKeyword() === 'COPY').flatMap((i) => copyArguments(i).sources);
    expect(copies.filter((source) => source.startsWith('function/'))).toEqual(['function/']);
  });
});

describe('the wrappers\' own dependencies', () => {
  it('are pinned with hashes for Python', async () => {
    const template = new URL('../../lib/runtimes/python/template/', import.meta.url);
    const locked = await fs.readFile(new URL('requirements.txt', template), 'utf8');
    const requirements = locked
      .replace(/\s*\\\n\s*/g, ' ')
      .split('\n')
      .filter((line) => /^[A-Za-z0-9]/.test(line));
    expect(requirements.length).toBeGreaterThan(0);
    for (const requirement of requirements) expect(requirement).toMatch(/^[A-Za-z0-9._-]+==[^\s]+ (--hash=sha256:[0-9a-f]{64} ?)+$/);
    const wanted = (await fs.readFile(new URL('requirements.in', template), 'utf8')).split('\n').filter((line) => /^[A-Za-z0-9]/.test(line));
    for (const direct of wanted) expect(requirements.some((r) => r.startsWith(`${direct} `))).toBe(true);
  });

  it('are compiled for Go in the wrapper\'s layer, with the flags the build step compiles the function with', async () => {
    const template = new URL('../../lib/runtimes/go/template/', import.meta.url);
    const imports = nonStandardImports(await fs.readFile(new URL('main.go', template), 'utf8'));
    expect(imports).toContain('github.com/cloudevents/sdk-go/v2/binding');
    const dockerfile = goDockerfile({ build: 'golang', runtime: 'static' }, [], imports);
    const precompile = DockerfileParser.parse(dockerfile)
      .getInstructions()
      .find((i) => i.getKeyword() === 'RUN' && i.getArgumentsContent()?.includes('go mod download'));
    expect(precompile?.getArgumentsContent()).toContain(`CGO_ENABLED=0 go build -trimpath ${imports.join(' ')}`);
    // The build step's own go build: a different flag there would miss every package compiled here.
    const buildStep = await fs.readFile(new URL('build/main.go', template), 'utf8');
    expect(buildStep).toMatch(/run\("go", \[\]string\{"build", "-trimpath", [^\n]*"CGO_ENABLED=0"\)/);
  });

  it('are pinned with checksums for Go', async () => {
    const template = new URL('../../lib/runtimes/go/template/', import.meta.url);
    const goMod = await fs.readFile(new URL('go.mod', template), 'utf8');
    const goSum = await fs.readFile(new URL('go.sum', template), 'utf8');
    const required = [...goMod.matchAll(/^\s*(?:require\s+)?([a-z0-9.-]+\.[a-z]+\/\S+) (v\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    expect(required.length).toBeGreaterThan(0);
    for (const module of required) expect(goSum).toContain(`${module} h1:`);
  });
});
