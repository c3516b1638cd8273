import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlatformError } from '../../lib/errors.ts';
import { hostPython } from '../../lib/runtimes/python/host-python.ts';
import { findRuntime, selectRuntime } from '../../lib/runtimes/registry.ts';
import type { LoadedSource } from '../../lib/source/load.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runtime-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const archive = (): LoadedSource => ({ root: dir, format: { kind: 'zip' } });

async function singleFile(extension: string): Promise<LoadedSource> {
  await fs.writeFile(path.join(dir, `index${extension}`), 'source');
  return { root: dir, format: { kind: 'file', extension }, singleFile: `index${extension}` };
}

async function withFiles(...names: string[]): Promise<LoadedSource> {
  for (const name of names) await fs.writeFile(path.join(dir, name), name === 'package.json' ? '{}' : '');
  return archive();
}

async function refusal(promise: Promise<unknown>): Promise<PlatformError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlatformError);
  return error as PlatformError;
}

describe('runtime registry', () => {
  it('finds runtimes by name and alias', () => {
    expect(findRuntime('nodejs')?.name).toBe('nodejs');
    expect(findRuntime('node')?.name).toBe('nodejs');
    expect(findRuntime('typescript')?.name).toBe('nodejs');
    expect(findRuntime('python3')?.name).toBe('python');
    expect(findRuntime('golang')?.name).toBe('go');
    expect(findRuntime('cobol')).toBeUndefined();
  });

  it('refuses an unknown runtime, naming the supported ones', async () => {
    const error = await refusal(selectRuntime('cobol', await singleFile('.js')));
    expect(error.message).toBe('Runtime "cobol" is not supported');
    expect(error.details).toEqual(['supported: nodejs, python, go']);
    expect(error.statusCode).toBe(422);
  });

  it('detects Node.js from a package.json, and refuses an archive without one', async () => {
    const empty = await refusal(selectRuntime(undefined, archive()));
    expect(empty.reason).toBe('UnknownRuntime');
    expect(empty.message).toContain('No runtime recognises this source (a zip archive)');
    expect(empty.details.map((d) => d.split(':')[0])).toEqual(['nodejs', 'python', 'go']);
    await expect(selectRuntime('nodejs', archive())).rejects.toThrow('must hold a package.json');
    await fs.writeFile(path.join(dir, 'package.json'), '{ broken');
    await expect(selectRuntime(undefined, archive())).rejects.toThrow('package.json is not valid JSON');
    await fs.writeFile(path.join(dir, 'package.json'), '{}');
    expect((await selectRuntime(undefined, archive())).runtime.name).toBe('nodejs');
  });

  it.each([
    [['requirements.txt'], 'python'],
    [['pyproject.toml'], 'python'],
    [['handler.py'], 'python'],
    [['go.mod'], 'go'],
    [['main.go'], 'go'],
    [['package.json', 'README.md'], 'nodejs'],
  ])('detects %j as %s', async (files, expected) => {
    expect((await selectRuntime(undefined, await withFiles(...files))).runtime.name).toBe(expected);
  });

  it('refuses a source two runtimes recognise, and builds it as the runtime asked for', async () => {
    const source = await withFiles('package.json', 'requirements.txt', 'main.py');
    const error = await refusal(selectRuntime(undefined, source));
    expect(error.reason).toBe('AmbiguousRuntime');
    expect(error.message).toBe('The source could be nodejs or python; set "runtime" in build.start');
    expect((await selectRuntime('python', source)).runtime.name).toBe('python');
  });

  it.each([
    ['.py', 'python'],
    ['.go', 'go'],
    ['.ts', 'nodejs'],
    ['.mjs', 'nodejs'],
  ])('takes a single %s file for %s', async (extension, expected) => {
    const { runtime, source } = await selectRuntime(undefined, await singleFile(extension));
    expect(runtime.name).toBe(expected);
    expect(source.singleFile).toBe(`index${extension}`);
  });

  it('refuses a single file of a language it does not know, or of another language than the one asked for', async () => {
    expect((await refusal(selectRuntime(undefined, await singleFile('.rb')))).message).toContain('(a single .rb file)');
    expect((await refusal(selectRuntime('python', await singleFile('.js')))).message).toBe('A single-file Python function is a .py file, not .js');
  });

  it('gives an extensionless single file the extension of its runtime', async () => {
    const asNode = await selectRuntime(undefined, await singleFile(''));
    expect(asNode.runtime.name).toBe('nodejs');
    expect(asNode.source.singleFile).toBe('index.js');
    await expect(fs.stat(path.join(dir, 'index.js'))).resolves.toBeTruthy();

    const asPython = await selectRuntime('python', await singleFile(''));
    expect(asPython.source).toEqual({ root: dir, format: { kind: 'file', extension: '.py' }, singleFile: 'index.py' });
  });
});

describe('handlers', () => {
  it('are file.function for Node.js and Python, the single file naming its own', async () => {
    const python = findRuntime('python');
    expect(python?.manifest(archive(), 'lambda_function.lambda_handler')).toEqual({ runtime: 'python', handlerFile: 'lambda_function', exportName: 'lambda_handler' });
    expect(python?.manifest(await singleFile('.py'), 'handle')).toEqual({ runtime: 'python', handlerFile: 'index', exportName: 'handle' });
    expect(findRuntime('nodejs')?.manifest(archive(), undefined)).toEqual({ runtime: 'nodejs' });
  });

  it('are an exported function name for Go', () => {
    const go = findRuntime('go');
    expect(go?.manifest(archive(), 'Greet')).toEqual({ runtime: 'go', exportName: 'Greet' });
    expect(() => go?.manifest(archive(), 'hello.Greet')).toThrow('A Go handler is the name of an exported function of the package');
    expect(() => go?.manifest(archive(), 'greet')).toThrow(PlatformError);
  });
});

describe('the host Python', () => {
  it('is found at 3.12 or newer without configuration', async () => {
    const python = await hostPython(undefined);
    const version = execFileSync(python, ['-c', 'import sys; print(*sys.version_info[:2])'], { encoding: 'utf8' }).trim().split(' ').map(Number);
    expect(version[0]).toBe(3);
    expect(version[1]).toBeGreaterThanOrEqual(12);
  });

  it('is refused when KL_PYTHON names one that does not run', async () => {
    await expect(hostPython(path.join(dir, 'no-python'))).rejects.toThrow(`KL_PYTHON=${path.join(dir, 'no-python')} does not run`);
  });
});
