import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlatformError } from '../../lib/errors.ts';
import { checkArchivePath, checkLinkTarget, unpackArchive, type UnpackLimits } from '../../lib/source/unpack.ts';
import { rawTarGz, rawZip } from '../support/raw-archives.ts';

const limits: UnpackLimits = { maxBytes: 1024 * 1024, maxFiles: 100, maxDepth: 8 };
let root: string;
let destination: string;

beforeEach(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'unpack-test-'));
  destination = path.join(root, 'a', 'b', 'dest');
});
afterEach(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function refusal(promise: Promise<unknown>): Promise<PlatformError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(PlatformError);
  const failure = error as PlatformError;
  expect(failure.category).toBe('permanent');
  expect(failure.statusCode).toBe(422);
  return failure;
}

/** Everything under root except the destination: must stay empty whatever the archive says. */
async function filesOutsideDestination(): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const entry of await fs.readdir(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (full === destination) continue;
      if (entry.isDirectory()) await walk(full);
      else found.push(full);
    }
  };
  await walk(root);
  return found;
}

describe('checkArchivePath', () => {
  it('normalises harmless paths', () => {
    expect(checkArchivePath('./src/index.js', 8)).toBe('src/index.js');
    expect(checkArchivePath('dir/', 8)).toBe('dir');
  });
  it.each([
    ['/etc/passwd', 'absolute'],
    ['C:/x', 'absolute'],
    ['../x', '..'],
    ['a/../../x', '..'],
    ['a\\b', 'backslash'],
    ['a\0b', 'NUL'],
  ])('refuses %j (%s)', (raw, words) => {
    expect(() => checkArchivePath(raw, 8)).toThrow(words);
  });
  it('refuses paths deeper than the limit', () => {
    expect(() => checkArchivePath('1/2/3/4', 3)).toThrow('nested 4 levels deep; the limit is 3');
  });
});

describe('checkLinkTarget', () => {
  it('accepts a link inside the archive', () => {
    expect(() => checkLinkTarget('lib/a.js', '../b.js')).not.toThrow();
  });
  it.each([['lib/a', '../../x'], ['a', '/etc/passwd'], ['a', '..']])('refuses %s -> %s', (link, target) => {
    expect(() => checkLinkTarget(link, target)).toThrow('outside the archive');
  });
});

describe('unpackArchive tar.gz', () => {
  it('unpacks files, directories, modes and inner links', async () => {
    const archive = rawTarGz([
      { name: 'pkg/', type: '5' },
      { name: 'pkg/package.json', data: '{}' },
      { name: 'pkg/run.sh', data: '#!/bin/sh', mode: 0o755 },
      { name: 'pkg/alias.json', type: '2', linkname: 'package.json' },
      { name: 'pkg/copy.json', type: '1', linkname: 'pkg/package.json' },
    ]);
    const result = await unpackArchive(archive, 'tar.gz', destination, limits);
    expect(result.files).toBe(5);
    expect(await fs.readFile(path.join(destination, 'pkg/package.json'), 'utf8')).toBe('{}');
    expect((await fs.stat(path.join(destination, 'pkg/run.sh'))).mode & 0o777).toBe(0o755);
    expect(await fs.readlink(path.join(destination, 'pkg/alias.json'))).toBe('package.json');
    expect(await fs.readFile(path.join(destination, 'pkg/copy.json'), 'utf8')).toBe('{}');
  });

  it.each([
    ['a "..', [{ name: '../../escape.txt', data: 'x' }], 'UnsafeArchivePath', 'escapes the archive'],
    ['an absolute path', [{ name: '/tmp/escape.txt', data: 'x' }], 'UnsafeArchivePath', 'absolute path'],
    ['an escaping symlink', [{ name: 'link', type: '2', linkname: '../../../etc' }], 'LinkEscapes', 'outside the archive'],
    ['an absolute symlink', [{ name: 'link', type: '2', linkname: '/etc/passwd' }], 'LinkEscapes', 'outside the archive'],
    ['an escaping hard link', [{ name: 'hard', type: '1', linkname: '../outside' }], 'UnsafeArchivePath', 'escapes'],
    ['a character device', [{ name: 'tty', type: '3' }], 'DeviceFile', 'device files'],
    ['a block device', [{ name: 'disk', type: '4' }], 'DeviceFile', 'device files'],
    ['a FIFO', [{ name: 'pipe', type: '6' }], 'DeviceFile', 'FIFOs'],
  ] as const)('refuses %s and writes nothing', async (_label, entries, reason, words) => {
    const archive = rawTarGz([{ name: 'ok.txt', data: 'fine' }, ...entries]);
    const failure = await refusal(unpackArchive(archive, 'tar.gz', destination, limits));
    expect(failure.reason).toBe(reason);
    expect(failure.message).toContain(words);
    expect(await filesOutsideDestination()).toEqual([]);
    await expect(fs.stat(path.join(destination, 'ok.txt'))).rejects.toThrow();
  });

  it('refuses writing through a symlink planted earlier in the archive', async () => {
    const archive = rawTarGz([
      { name: 'dir', type: '2', linkname: 'real' },
      { name: 'real/', type: '5' },
      { name: 'dir/x.txt', data: 'x' },
    ]);
    const failure = await refusal(unpackArchive(archive, 'tar.gz', destination, limits));
    expect(failure.reason).toBe('ConflictingEntry');
    expect(await filesOutsideDestination()).toEqual([]);
    await expect(fs.stat(destination)).rejects.toThrow();
  });

  it('enforces the file-count, size and depth limits', async () => {
    const many = rawTarGz(Array.from({ length: 6 }, (_, i) => ({ name: `f${i}`, data: 'x' })));
    expect((await refusal(unpackArchive(many, 'tar.gz', destination, { ...limits, maxFiles: 5 }))).reason).toBe('ArchiveTooManyFiles');
    const big = rawTarGz([{ name: 'a', data: Buffer.alloc(600) }, { name: 'b', data: Buffer.alloc(600) }]);
    expect((await refusal(unpackArchive(big, 'tar.gz', destination, { ...limits, maxBytes: 1000 }))).reason).toBe('ArchiveTooLarge');
    const deep = rawTarGz([{ name: 'a/b/c/d/e.txt', data: 'x' }]);
    expect((await refusal(unpackArchive(deep, 'tar.gz', destination, { ...limits, maxDepth: 4 }))).reason).toBe('ArchiveTooDeep');
  });

  it('refuses a gzip bomb by its unpacked size', async () => {
    const bomb = rawTarGz([{ name: 'zeros', data: Buffer.alloc(4 * 1024 * 1024) }]);
    expect(bomb.length).toBeLessThan(64 * 1024);
    expect((await refusal(unpackArchive(bomb, 'tar.gz', destination, limits))).reason).toBe('ArchiveTooLarge');
  });

  it('refuses bytes that are not a tar archive', async () => {
    const failure = await refusal(unpackArchive(Buffer.from([0x1f, 0x8b, 1, 2, 3]), 'tar.gz', destination, limits));
    expect(failure.reason).toBe('CorruptArchive');
  });
});

describe('unpackArchive zip', () => {
  it('unpacks files, folders and inner symlinks', async () => {
    const archive = rawZip([
      { name: 'src/', unixMode: 0o040755 },
      { name: 'src/index.js', data: 'export {}' },
      { name: 'main.js', data: 'src/index.js', unixMode: 0o120777 },
    ]);
    await unpackArchive(archive, 'zip', destination, limits);
    expect(await fs.readFile(path.join(destination, 'src/index.js'), 'utf8')).toBe('export {}');
    expect(await fs.readlink(path.join(destination, 'main.js'))).toBe('src/index.js');
  });

  it.each([
    ['zip slip', [{ name: '../../escape.txt', data: 'x' }], 'UnsafeArchivePath'],
    ['an absolute path', [{ name: '/tmp/escape.txt', data: 'x' }], 'UnsafeArchivePath'],
    ['a backslash path', [{ name: '..\\..\\escape.txt', data: 'x' }], 'UnsafeArchivePath'],
    ['an escaping symlink', [{ name: 'link', data: '../../../etc/passwd', unixMode: 0o120777 }], 'LinkEscapes'],
    ['a device file', [{ name: 'tty', unixMode: 0o020644 }], 'DeviceFile'],
  ] as const)('refuses %s and writes nothing', async (_label, entries, reason) => {
    const archive = rawZip([{ name: 'ok.txt', data: 'fine' }, ...entries]);
    const failure = await refusal(unpackArchive(archive, 'zip', destination, limits));
    expect(failure.reason).toBe(reason);
    expect(await filesOutsideDestination()).toEqual([]);
  });

  it('enforces the size limit on what is really inflated', async () => {
    const archive = rawZip([{ name: 'big', data: Buffer.alloc(2048) }]);
    expect((await refusal(unpackArchive(archive, 'zip', destination, { ...limits, maxBytes: 1024 }))).reason).toBe('ArchiveTooLarge');
  });

  it('refuses a truncated zip', async () => {
    const archive = rawZip([{ name: 'a', data: 'x' }]).subarray(0, 40);
    expect((await refusal(unpackArchive(archive, 'zip', destination, limits))).reason).toBe('CorruptArchive');
  });
});
