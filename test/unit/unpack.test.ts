import fc from 'fast-check';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PlatformError } from '../../lib/errors.ts';
import { planTree, type TreeEntry } from '../../lib/source/link-graph.ts';
import { checkArchivePath, unpackArchive, type UnpackLimits } from '../../lib/source/unpack.ts';
import { rawTarGz, rawZip, type RawTarEntry, type RawZipEntry } from '../support/raw-archives.ts';

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
  it.each([
    ['a name of 256 bytes', `dir/${'n'.repeat(256)}`, 'a name of 256 bytes; the limit is 255'],
    ['a name of 256 bytes in UTF-8 (128 characters)', 'é'.repeat(128), 'a name of 256 bytes'],
    ['a path of 1025 bytes', `${'d'.repeat(200)}/`.repeat(5).padEnd(1025, 'x'), '1025 bytes long; the limit is 1024'],
  ])('refuses %s with ArchivePathTooLong', (_label, raw, words) => {
    expect(() => checkArchivePath(raw, 8)).toThrow(words);
    expect(() => checkArchivePath(raw, 8)).toThrow(expect.objectContaining({ reason: 'ArchivePathTooLong', statusCode: 422 }));
  });
  it('accepts a name of exactly 255 bytes', () => {
    expect(checkArchivePath(`a/${'n'.repeat(255)}`, 8)).toBe(`a/${'n'.repeat(255)}`);
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
    expect(failure.reason).toBe('UnsafeArchivePath');
    expect(failure.message).toContain('nothing is written through a link');
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

/** The attack that beat the textual check: each hop's target looks inside, the chain climbs out. */
function escapingChain(hops: number, last: string): Array<{ name: string; target: string }> {
  const links = Array.from({ length: hops }, (_, i) => ({ name: `a/l${i}`, target: i === 0 ? '..' : `l${i - 1}/..` }));
  return [...links, { name: 'package.json', target: `a/l${hops - 1}/${last}` }];
}

describe('unpackArchive: links are judged against the tree as built', () => {
  const chain = escapingChain(12, 'etc/passwd');

  it('refuses a chain of symlinks climbing out of a tar.gz before writing anything', async () => {
    const archive = rawTarGz([{ name: 'a/', type: '5' }, { name: 'index.js', data: 'x' }, ...chain.map(({ name, target }) => ({ name, type: '2' as const, linkname: target }))]);
    const failure = await refusal(unpackArchive(archive, 'tar.gz', destination, limits));
    expect(failure.reason).toBe('LinkEscapes');
    expect(failure.message).toMatch(/Link "a\/l\d+" points to .*outside the archive/);
    await expect(fs.stat(destination)).rejects.toThrow();
    expect(await filesOutsideDestination()).toEqual([]);
  });

  it('refuses the same chain in a zip', async () => {
    const archive = rawZip([{ name: 'a/', unixMode: 0o040755 }, ...chain.map(({ name, target }) => ({ name, data: target, unixMode: 0o120777 }))]);
    expect((await refusal(unpackArchive(archive, 'zip', destination, limits))).reason).toBe('LinkEscapes');
    await expect(fs.stat(destination)).rejects.toThrow();
  });

  it.each([
    ['a loop', [{ name: 'a', type: '2', linkname: 'b' }, { name: 'b', type: '2', linkname: 'a' }], 'LinkLoop'],
    ['".." taken after a link, from where it lands', [{ name: 'x/y/', type: '5' }, { name: 'deep', type: '2', linkname: 'x/y' }, { name: 'up', type: '2', linkname: 'deep/../../..' }], 'LinkEscapes'],
    ['a dangling link that escapes once node_modules exists', [{ name: 'bin', type: '2', linkname: 'node_modules/../../etc/passwd' }], 'LinkEscapes'],
    ['a hard link to a symlink', [{ name: 's', type: '2', linkname: 'ok.txt' }, { name: 'h', type: '1', linkname: 's' }], 'LinkEscapes'],
    ['a hard link to a directory', [{ name: 'd/', type: '5' }, { name: 'h', type: '1', linkname: 'd' }], 'LinkEscapes'],
    ['a file under a file', [{ name: 'ok.txt/x', data: 'x' }], 'ConflictingEntry'],
    ['an entry under a symlink to the root', [{ name: 'e', type: '2', linkname: './' }, { name: 'e/x', data: 'x' }], 'UnsafeArchivePath'],
  ] as const)('refuses %s', async (_label, entries, reason) => {
    const archive = rawTarGz([{ name: 'ok.txt', data: 'fine' }, ...entries]);
    expect((await refusal(unpackArchive(archive, 'tar.gz', destination, limits))).reason).toBe(reason);
    await expect(fs.stat(destination)).rejects.toThrow();
  });

  it('keeps links into links and dangling links that would land inside', async () => {
    const archive = rawTarGz([
      { name: 'src/index.js', data: 'export {}' },
      { name: 'main', type: '2', linkname: 'src' },
      { name: 'entry.js', type: '2', linkname: 'main/index.js' },
      { name: 'tool', type: '2', linkname: 'node_modules/.bin/tool' },
    ]);
    await unpackArchive(archive, 'tar.gz', destination, limits);
    expect(await fs.readFile(path.join(destination, 'entry.js'), 'utf8')).toBe('export {}');
    expect(await fs.readlink(path.join(destination, 'tool'))).toBe('node_modules/.bin/tool');
  });
});

describe('unpackArchive: long names are a 422, never a 500', () => {
  const longName = 'n'.repeat(300);

  it.each([
    ['a name of 300 bytes', [{ name: `dir/${longName}`, data: 'x' }], 'a name of 300 bytes'],
    ['a path of 5,000 bytes', [{ name: Array.from({ length: 24 }, () => 'p'.repeat(208)).join('/'), data: 'x' }], '5015 bytes long'],
    ['a link target of 2,000 bytes', [{ name: 'link', type: '2', linkname: `${'./'.repeat(996)}ok.txt` }], 'is 1998 bytes long'],
    ['a link target with a 300-byte name', [{ name: 'link', type: '2', linkname: longName }], 'a name of 300 bytes'],
    ['a hard link target of 2,000 bytes', [{ name: 'hard', type: '1', linkname: `${'h/'.repeat(1000)}x` }], '2001 bytes long'],
  ] as const)('refuses %s in a tar.gz', async (_label, entries, words) => {
    const archive = rawTarGz([{ name: 'ok.txt', data: 'fine' }, ...entries]);
    const failure = await refusal(unpackArchive(archive, 'tar.gz', destination, { ...limits, maxDepth: 24 }));
    expect(failure.reason).toBe('ArchivePathTooLong');
    expect(failure.message).toContain(words);
    await expect(fs.stat(destination)).rejects.toThrow();
  });

  it('refuses a long name and a long link target in a zip', async () => {
    const name = rawZip([{ name: longName, data: 'x' }]);
    expect((await refusal(unpackArchive(name, 'zip', destination, limits))).reason).toBe('ArchivePathTooLong');
    const target = rawZip([{ name: 'link', data: 'x/'.repeat(1000), unixMode: 0o120777 }]);
    expect((await refusal(unpackArchive(target, 'zip', destination, limits))).reason).toBe('ArchivePathTooLong');
  });

  it('turns ENAMETOOLONG from the file system into a 422 and removes what it wrote', async () => {
    const deepDestination = path.join(root, ...Array.from({ length: 14 }, () => 'd'.repeat(250)), 'dest');
    const archive = rawTarGz([{ name: Array.from({ length: 4 }, () => 's'.repeat(250)).join('/'), data: 'x' }]);
    const failure = await refusal(unpackArchive(archive, 'tar.gz', deepDestination, limits));
    expect(failure.reason).toBe('ArchivePathTooLong');
    await expect(fs.stat(deepDestination)).rejects.toThrow();
  });
});

describe('unpackArchive: limits hold while inflating', () => {
  const generous: UnpackLimits = { ...limits, maxBytes: 1024 * 1024 * 1024 };

  it('refuses a gzip whose unpacked size passes the ratio, before inflating the rest', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 1024 * 1024));
    const started = performance.now();
    const failure = await refusal(unpackArchive(bomb, 'tar.gz', destination, generous));
    expect(failure.reason).toBe('DecompressionBomb');
    expect(failure.message).toContain('more than 1000 times its size');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('takes the ratio from the limits when given', async () => {
    const archive = rawTarGz([{ name: 'zeros', data: Buffer.alloc(512 * 1024) }]);
    expect((await refusal(unpackArchive(archive, 'tar.gz', destination, { ...generous, maxCompressionRatio: 10 }))).reason).toBe('DecompressionBomb');
    await unpackArchive(archive, 'tar.gz', destination, generous);
  });

  it('refuses a zip whose inflated entries pass the ratio', async () => {
    const zeros = Buffer.alloc(8 * 1024 * 1024);
    const archive = rawZip(Array.from({ length: 4 }, (_, i) => ({ name: `z${i}`, data: zeros, method: 'deflate' as const })));
    expect((await refusal(unpackArchive(archive, 'zip', destination, generous))).reason).toBe('DecompressionBomb');
  });

  it('unpacks deflated zip entries', async () => {
    const archive = rawZip([{ name: 'index.js', data: 'export const handle = () => 1;\n'.repeat(20), method: 'deflate' }]);
    await unpackArchive(archive, 'zip', destination, limits);
    expect(await fs.readFile(path.join(destination, 'index.js'), 'utf8')).toContain('export const handle');
  });

  it('refuses a gzip holding another gzip, which the tar parser would inflate on the event loop', async () => {
    const nested = gzipSync(gzipSync(rawTarGz([{ name: 'a', data: 'x' }])));
    expect((await refusal(unpackArchive(nested, 'tar.gz', destination, limits))).reason).toBe('CorruptArchive');
  });

  it('refuses a truncated gzip', async () => {
    const archive = rawTarGz([{ name: 'a', data: Buffer.alloc(100_000, 'x') }]);
    expect((await refusal(unpackArchive(archive.subarray(0, archive.length - 20), 'tar.gz', destination, limits))).reason).toBe('CorruptArchive');
  });
});

/** Entries of the generated graph as a zip can hold them: a zip has no hard links, so those become files. */
function asZipModel(entries: TreeEntry[]): TreeEntry[] {
  return entries.map((entry) => (entry.kind === 'hardlink' ? { path: entry.path, kind: 'file' } : entry));
}

function packTar(entries: TreeEntry[]): Buffer {
  return rawTarGz(
    entries.map((entry): RawTarEntry => {
      if (entry.kind === 'directory') return { name: `${entry.path}/`, type: '5' };
      if (entry.kind === 'symlink') return { name: entry.path, type: '2', linkname: entry.linkTarget };
      if (entry.kind === 'hardlink') return { name: entry.path, type: '1', linkname: entry.linkTarget };
      return { name: entry.path, data: `contents of ${entry.path}` };
    }),
  );
}

function packZip(entries: TreeEntry[]): Buffer {
  return rawZip(
    asZipModel(entries).map((entry): RawZipEntry => {
      if (entry.kind === 'directory') return { name: `${entry.path}/`, unixMode: 0o040755 };
      if (entry.kind === 'symlink') return { name: entry.path, data: entry.linkTarget, unixMode: 0o120777 };
      return { name: entry.path, data: `contents of ${entry.path}` };
    }),
  );
}

async function everyPathUnder(directory: string): Promise<string[]> {
  const found: string[] = [];
  for (const entry of await fs.readdir(directory, { withFileTypes: true })) {
    const full = path.join(directory, entry.name);
    found.push(full);
    if (entry.isDirectory()) found.push(...(await everyPathUnder(full)));
  }
  return found;
}

const realpathOrUndefined = (file: string): Promise<string | undefined> => fs.realpath(file).catch(() => undefined);
const isWithin = (directory: string, file: string): boolean => file === directory || file.startsWith(`${directory}${path.sep}`);

describe('unpackArchive: random link graphs (property)', () => {
  const directoryName = fc.constantFrom('a', 'b', 'c');
  const leafName = fc.constantFrom('a', 'b', 'c', 'f', 'g', 'l');
  const directoryPath = fc.array(directoryName, { minLength: 1, maxLength: 2 }).map((names) => names.join('/'));
  const leafPath = fc.tuple(fc.array(directoryName, { maxLength: 2 }), leafName).map(([directories, leaf]) => [...directories, leaf].join('/'));
  const step = fc.oneof({ weight: 4, arbitrary: leafName }, fc.constant('..'), fc.constant('.'));
  const relativeTarget = fc.array(step, { minLength: 1, maxLength: 6 }).map((steps) => steps.join('/'));
  const linkTarget = fc.oneof(
    { weight: 8, arbitrary: relativeTarget },
    { weight: 1, arbitrary: relativeTarget.map((target) => `${target}/`) },
    { weight: 1, arbitrary: fc.constantFrom('/etc/passwd', '/', '/tmp') },
  );
  const layout = fc.tuple(
    fc.array(directoryPath.map((p): TreeEntry => ({ path: p, kind: 'directory' })), { maxLength: 4 }),
    fc.array(leafPath.map((p): TreeEntry => ({ path: p, kind: 'file' })), { maxLength: 4 }),
  );
  const symlink = fc.tuple(leafPath, linkTarget).map(([p, target]): TreeEntry => ({ path: p, kind: 'symlink', linkTarget: target }));
  /** Hard links mostly name a file of the layout, sometimes anything. */
  const hardlink = (files: string[]): fc.Arbitrary<TreeEntry> =>
    fc.tuple(leafPath, files.length > 0 ? fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...files) }, leafPath) : leafPath).map(([p, target]): TreeEntry => ({ path: p, kind: 'hardlink', linkTarget: target }));
  const chain = fc.tuple(fc.integer({ min: 1, max: 5 }), relativeTarget).map(([hops, last]) =>
    escapingChain(hops, last).map(({ name: linkPath, target }): TreeEntry => ({ path: linkPath, kind: 'symlink', linkTarget: target })),
  );
  const isAncestor = (entry: TreeEntry, all: TreeEntry[]): boolean => all.some((other) => other.path.startsWith(`${entry.path}/`));
  /** Mostly trees whose files and links are leaves; sometimes (tangled) entries under files and links too. */
  const graph = layout.chain(([directories, files]) => {
    const links = fc.array(fc.oneof({ weight: 5, arbitrary: symlink }, hardlink(files.map((e) => e.path))), { minLength: 1, maxLength: 6 });
    const tangled = fc.integer({ min: 0, max: 4 }).map((draw) => draw === 0);
    return fc.tuple(links, fc.option(chain, { freq: 4, nil: [] }), tangled).map(([more, climb, keepTangles]) => {
      const unique = [...directories, ...files, ...more, ...climb].filter((e, i, all) => all.findIndex((other) => other.path === e.path) === i);
      return keepTangles ? unique : unique.filter((e) => e.kind === 'directory' || !isAncestor(e, unique));
    });
  });

  let runs: string;

  /**
   * Unpacks one generated graph. Either it is refused with a 422 and no destination is left, or
   * every path of the tree resolves inside the destination, each symlink where the model says.
   * Either way nothing appears under `runs` but the destination and the directories above it.
   */
  async function checkOneGraph(entries: TreeEntry[], format: 'tar.gz' | 'zip', base: string, target: string): Promise<void> {
    const bytes = format === 'zip' ? packZip(entries) : packTar(entries);
    const failure = await unpackArchive(bytes, format, target, limits).then(
      () => undefined,
      (error: unknown) => error,
    );
    const parents = [base, path.join(base, 'a'), path.join(base, 'a', 'b')];
    expect((await everyPathUnder(runs)).filter((file) => !isWithin(target, file) && !parents.includes(file))).toEqual([]);
    if (failure !== undefined) {
      expect(failure).toBeInstanceOf(PlatformError);
      expect((failure as PlatformError).category).toBe('permanent');
      expect((failure as PlatformError).statusCode).toBe(422);
      await expect(fs.stat(target)).rejects.toThrow();
      return;
    }
    const realTarget = await fs.realpath(target);
    for (const file of await everyPathUnder(target)) {
      const real = await realpathOrUndefined(file);
      if (real !== undefined) expect(isWithin(realTarget, real), `${file} -> ${real}`).toBe(true);
    }
    const plan = planTree(format === 'zip' ? asZipModel(entries) : entries);
    for (const [link, landing] of plan.links) {
      expect(await realpathOrUndefined(path.join(target, link)), link).toBe(landing.resolves ? path.join(realTarget, landing.path) : undefined);
    }
  }

  beforeEach(async () => {
    runs = await fs.mkdtemp(path.join(os.tmpdir(), 'unpack-property-'));
  });
  afterEach(async () => {
    await fs.rm(runs, { recursive: true, force: true });
  });

  it('either refuses with a 422 or leaves a tree whose every path stays inside, as the model says', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(graph, fc.constantFrom('tar.gz', 'zip') as fc.Arbitrary<'tar.gz' | 'zip'>, async (entries, format) => {
        const base = path.join(runs, `run-${(run += 1)}`);
        const target = path.join(base, 'a', 'b', 'dest');
        try {
          await checkOneGraph(entries, format, base, target);
        } finally {
          await fs.rm(base, { recursive: true, force: true });
        }
      }),
      { numRuns: 500 },
    );
  }, 60_000);
});
