import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { createGunzip } from 'node:zlib';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { permanent, PlatformError } from '../errors.ts';
import { planTreeInSteps, type EntryKind, type TreeEntry, type TreePlan } from './link-graph.ts';

export interface UnpackLimits {
  maxBytes: number;
  maxFiles: number;
  maxDepth: number;
  /** Unpacked bytes per archive byte beyond which the archive is a bomb; DEFAULT_MAX_COMPRESSION_RATIO when absent. */
  maxCompressionRatio?: number;
}

export interface UnpackResult {
  files: number;
  bytes: number;
}

/** Real sources compress well below this; zeros reach about 1030 with deflate. */
export const DEFAULT_MAX_COMPRESSION_RATIO = 1000;

/** Linux limits: NAME_MAX for one name; whole paths are held well under PATH_MAX (4096) so the work directory fits in front. */
export const MAX_NAME_BYTES = 255;
export const MAX_PATH_BYTES = 1024;
export const MAX_LINK_TARGET_BYTES = 1024;

/** Compressed input goes to the inflater in slices, and the inflater hands out slices, so each tick does little work. */
const INPUT_CHUNK_BYTES = 64 * 1024;
const INFLATED_CHUNK_BYTES = 64 * 1024;

const GZIP_MAGIC = Buffer.from([0x1f, 0x8b]);

interface ArchiveEntry extends TreeEntry {
  executable: boolean;
  data?: Buffer[];
}

function refuse(reason: string, message: string): PlatformError {
  return permanent(reason, message, [], 422);
}

function printable(raw: string): string {
  const shown = raw.replace(/\0/g, '\\0');
  return shown.length > 80 ? `${shown.slice(0, 80)}…` : shown;
}

function checkNameLengths(raw: string, what: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(raw, 'utf8');
  if (bytes > maxBytes) throw refuse('ArchivePathTooLong', `${what} "${printable(raw)}" is ${bytes} bytes long; the limit is ${maxBytes}`);
  const long = raw.split('/').find((segment) => Buffer.byteLength(segment, 'utf8') > MAX_NAME_BYTES);
  if (long !== undefined) throw refuse('ArchivePathTooLong', `${what} "${printable(raw)}" has a name of ${Buffer.byteLength(long, 'utf8')} bytes; the limit is ${MAX_NAME_BYTES}`);
}

/**
 * Checks one archive path and returns it normalised (`a/b/c`, no trailing slash).
 * Pure: decides from the string alone.
 */
export function checkArchivePath(raw: string, maxDepth: number): string {
  if (raw.length === 0) throw refuse('UnsafeArchivePath', 'An archive entry has an empty name');
  if (raw.includes('\0')) throw refuse('UnsafeArchivePath', `Archive entry "${printable(raw)}" contains a NUL byte`);
  if (raw.includes('\\')) throw refuse('UnsafeArchivePath', `Archive entry "${printable(raw)}" contains a backslash`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw refuse('UnsafeArchivePath', `Archive entry "${printable(raw)}" has an absolute path`);
  checkNameLengths(raw, 'Archive entry', MAX_PATH_BYTES);
  const segments = raw.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw refuse('UnsafeArchivePath', `Archive entry "${printable(raw)}" escapes the archive with ".."`);
  if (segments.length === 0) return '';
  if (segments.length > maxDepth) throw refuse('ArchiveTooDeep', `Archive entry "${printable(raw)}" is nested ${segments.length} levels deep; the limit is ${maxDepth}`);
  return segments.join('/');
}

/** The text of a symlink target; where it leads is judged on the whole tree by link-graph.ts. */
function checkLinkTarget(entryPath: string, target: string): string {
  if (target.length === 0 || target.includes('\0')) throw refuse('UnsafeArchivePath', `Link "${entryPath}" has an empty or NUL-bearing target`);
  if (target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\\')) {
    throw refuse('LinkEscapes', `Link "${entryPath}" points to "${printable(target)}", outside the archive`);
  }
  checkNameLengths(target, `The target of link "${entryPath}"`, MAX_LINK_TARGET_BYTES);
  return target;
}

/** Counts entries and what inflating produces, and stops the archive the moment it passes a limit. */
class UnpackBudget {
  private inflated = 0;
  private entries = 0;
  private readonly limits: UnpackLimits;
  private readonly compressedBytes: number;

  constructor(limits: UnpackLimits, compressedBytes: number) {
    this.limits = limits;
    this.compressedBytes = Math.max(compressedBytes, 1);
  }

  addEntry(): void {
    this.entries += 1;
    if (this.entries > this.limits.maxFiles) throw refuse('ArchiveTooManyFiles', `The archive holds more than ${this.limits.maxFiles} entries`);
  }

  /** The ratio is taken against the whole archive: it only grows, so passing it is final and a fair archive never trips it early. */
  addInflated(count: number): void {
    this.inflated += count;
    if (this.inflated > this.limits.maxBytes) throw refuse('ArchiveTooLarge', `The archive unpacks to more than ${this.limits.maxBytes} bytes`);
    const maxRatio = this.limits.maxCompressionRatio ?? DEFAULT_MAX_COMPRESSION_RATIO;
    if (this.inflated / this.compressedBytes > maxRatio) {
      throw refuse('DecompressionBomb', `The archive (${this.compressedBytes} bytes) unpacks to more than ${maxRatio} times its size`);
    }
  }
}

const TAR_KINDS: Partial<Record<ReadEntry['type'], EntryKind>> = {
  File: 'file',
  OldFile: 'file',
  ContiguousFile: 'file',
  Directory: 'directory',
  SymbolicLink: 'symlink',
  Link: 'hardlink',
};

function* slices(bytes: Buffer, size: number): Generator<Buffer> {
  for (let offset = 0; offset < bytes.length; offset += size) yield bytes.subarray(offset, offset + size);
}

/**
 * Gunzips on the libuv thread pool, with back-pressure from the consumer: stopping the
 * iteration destroys the inflater, so a refused archive is not inflated any further.
 */
async function* gunzipped(bytes: Buffer): AsyncGenerator<Buffer> {
  const input = Readable.from(slices(bytes, INPUT_CHUNK_BYTES));
  const gunzip = createGunzip({ chunkSize: INFLATED_CHUNK_BYTES });
  input.pipe(gunzip);
  try {
    for await (const chunk of gunzip) yield chunk as Buffer;
  } catch (error) {
    throw refuse('CorruptArchive', `The tar.gz archive cannot be read: ${(error as Error).message}`);
  } finally {
    input.destroy();
    gunzip.destroy();
  }
}

function tarEntryKind(entry: ReadEntry): EntryKind {
  const kind = TAR_KINDS[entry.type];
  if (kind !== undefined) return kind;
  const device = ['CharacterDevice', 'BlockDevice', 'FIFO'].includes(entry.type);
  throw refuse(device ? 'DeviceFile' : 'UnsupportedEntry', `Archive entry "${printable(entry.path)}" is a ${entry.type}; ${device ? 'device files and FIFOs are' : 'this entry type is'} not allowed`);
}

/** Turns one tar entry into the model; file bodies arrive later, through `data` events. */
function readTarEntry(entry: ReadEntry, limits: UnpackLimits, budget: UnpackBudget, onEntry: (entry: ArchiveEntry) => void): void {
  const kind = tarEntryKind(entry);
  budget.addEntry();
  const normalised = checkArchivePath(entry.path, limits.maxDepth);
  if (kind === 'symlink') return onEntry({ path: normalised, kind, executable: false, linkTarget: checkLinkTarget(normalised, entry.linkpath ?? '') });
  // A hard link names its target from the archive root, like any entry path.
  if (kind === 'hardlink') return onEntry({ path: normalised, kind, executable: false, linkTarget: checkArchivePath(entry.linkpath ?? '', limits.maxDepth) });
  if (kind === 'directory') return onEntry({ path: normalised, kind, executable: false });
  if (entry.size > limits.maxBytes) throw refuse('ArchiveTooLarge', `Archive entry "${printable(entry.path)}" is ${entry.size} bytes; the limit is ${limits.maxBytes}`);
  const data: Buffer[] = [];
  entry.on('data', (chunk: Buffer) => data.push(chunk));
  entry.on('end', () => onEntry({ path: normalised, kind, executable: ((entry.mode ?? 0) & 0o111) !== 0, data }));
}

/**
 * node-tar's Parser sniffs its first bytes and would gunzip a nested gzip itself,
 * synchronously; its zstd and brotli sniffing can be switched off, its gzip sniffing
 * cannot, so a tar.gz holding another gzip is refused here.
 */
async function* refusingNestedGzip(chunks: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  let head: Buffer | undefined = Buffer.alloc(0);
  for await (const chunk of chunks) {
    if (head === undefined) {
      yield chunk;
      continue;
    }
    head = Buffer.concat([head, chunk]);
    if (head.length < GZIP_MAGIC.length) continue;
    if (head.subarray(0, GZIP_MAGIC.length).equals(GZIP_MAGIC)) throw refuse('CorruptArchive', 'The tar.gz archive holds another gzip stream instead of a tar archive');
    yield head;
    head = undefined;
  }
  if (head?.length) yield head;
}

/**
 * Parses a tar stream inflated off the event loop. The Parser gets plain tar in slices, so
 * its synchronous work per tick stays small; entries are consumed as they come, so it never
 * holds data back and its write() needs no waiting. After the tar's end-of-archive blocks
 * the rest is only counted: feeding the Parser more would make it buffer all of it, and a
 * bomb may hide there.
 */
async function readTarGz(bytes: Buffer, limits: UnpackLimits, budget: UnpackBudget): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  let failure: PlatformError | undefined;
  const fail = (error: unknown): void => {
    failure ??= error instanceof PlatformError ? error : refuse('CorruptArchive', `The tar.gz archive cannot be read: ${(error as Error).message}`);
  };
  let tarEnded = false;
  const parser = new Parser({
    strict: true,
    zstd: false,
    brotli: false,
    onReadEntry: (entry: ReadEntry) => {
      if (failure) return entry.resume();
      try {
        readTarEntry(entry, limits, budget, (done) => entries.push(done));
      } catch (error) {
        fail(error);
      }
      entry.resume();
    },
  });
  parser.on('error', fail);
  parser.on('eof', () => (tarEnded = true));
  const closed = new Promise<void>((resolve) => {
    parser.on('close', resolve);
    parser.on('abort', resolve);
  });
  for await (const chunk of refusingNestedGzip(gunzipped(bytes))) {
    budget.addInflated(chunk.length);
    if (tarEnded) continue;
    parser.write(chunk);
    if (failure) throw failure;
  }
  parser.end();
  await closed;
  if (failure) throw failure;
  return entries;
}

const S_IFMT = 0o170000;
const S_IFLNK = 0o120000;
const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;

function zipEntryKind(entry: yauzl.Entry, name: string): EntryKind {
  const unixMode = (entry.externalFileAttributes >>> 16) & S_IFMT;
  if (unixMode === S_IFLNK) return 'symlink';
  if (name.endsWith('/') || unixMode === S_IFDIR) return 'directory';
  if (unixMode === 0 || unixMode === S_IFREG) return 'file';
  throw refuse('DeviceFile', `Archive entry "${printable(name)}" is a special file (mode ${unixMode.toString(8)}); only files, directories and links are allowed`);
}

async function openZip(bytes: Buffer): Promise<yauzl.ZipFile> {
  try {
    return await yauzl.fromBufferPromise(bytes, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false });
  } catch (error) {
    throw refuse('CorruptArchive', `The zip archive cannot be read: ${(error as Error).message}`);
  }
}

/** Refuses on what the central directory declares, before inflating anything. */
function checkDeclaredZipEntry(entry: yauzl.Entry, name: string, kind: EntryKind, limits: UnpackLimits): void {
  if (kind === 'symlink' && entry.uncompressedSize > MAX_LINK_TARGET_BYTES) {
    throw refuse('ArchivePathTooLong', `The target of link "${printable(name)}" is ${entry.uncompressedSize} bytes long; the limit is ${MAX_LINK_TARGET_BYTES}`);
  }
  if (entry.uncompressedSize > limits.maxBytes) throw refuse('ArchiveTooLarge', `Archive entry "${printable(name)}" is ${entry.uncompressedSize} bytes; the limit is ${limits.maxBytes}`);
}

/** yauzl inflates through zlib streams (the thread pool); every inflated chunk is counted as it arrives. */
async function readZipEntryData(zip: yauzl.ZipFile, entry: yauzl.Entry, budget: UnpackBudget): Promise<Buffer[]> {
  const stream = await zip.openReadStreamPromise(entry);
  const chunks: Buffer[] = [];
  // Leaving the loop early (a limit passed) destroys the stream, and yauzl stops inflating.
  for await (const chunk of stream) {
    budget.addInflated((chunk as Buffer).length);
    chunks.push(chunk as Buffer);
  }
  return chunks;
}

async function readZipEntry(zip: yauzl.ZipFile, entry: yauzl.Entry, limits: UnpackLimits, budget: UnpackBudget): Promise<ArchiveEntry> {
  const name = (entry.fileName as unknown as Buffer).toString('utf8');
  budget.addEntry();
  const kind = zipEntryKind(entry, name);
  const normalised = checkArchivePath(name, limits.maxDepth);
  if (kind === 'directory') return { path: normalised, kind, executable: false };
  checkDeclaredZipEntry(entry, name, kind, limits);
  const data = await readZipEntryData(zip, entry, budget);
  if (kind === 'symlink') return { path: normalised, kind, executable: false, linkTarget: checkLinkTarget(normalised, Buffer.concat(data).toString('utf8')) };
  return { path: normalised, kind, executable: ((entry.externalFileAttributes >>> 16) & 0o111) !== 0, data };
}

async function readZip(bytes: Buffer, limits: UnpackLimits, budget: UnpackBudget): Promise<ArchiveEntry[]> {
  const zip = await openZip(bytes);
  const entries: ArchiveEntry[] = [];
  try {
    if (zip.entryCount > limits.maxFiles) throw refuse('ArchiveTooManyFiles', `The archive holds ${zip.entryCount} entries; the limit is ${limits.maxFiles}`);
    for await (const entry of zip.eachEntry()) entries.push(await readZipEntry(zip, entry, limits, budget));
  } catch (error) {
    throw error instanceof PlatformError ? error : refuse('CorruptArchive', `The zip archive cannot be read: ${(error as Error).message}`);
  } finally {
    zip.close();
  }
  return entries;
}

/** Creates a file that did not exist, never following a link at its name. */
async function writeNewFile(file: string, data: Buffer[], executable: boolean): Promise<void> {
  const handle = await fs.open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, executable ? 0o755 : 0o644);
  try {
    await handle.writeFile(data);
  } finally {
    await handle.close();
  }
}

/** What the kernel may still say at write time is the archive's fault, so it is permanent too. */
function writeRefusal(entryPath: string, error: unknown): PlatformError | undefined {
  switch ((error as NodeJS.ErrnoException).code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return refuse('ConflictingEntry', `Archive entry "${entryPath}" conflicts with another entry`);
    case 'ENAMETOOLONG':
      return refuse('ArchivePathTooLong', `Archive entry "${printable(entryPath)}" has a name too long for the file system`);
    case 'ELOOP':
      return refuse('UnsafeArchivePath', `Archive entry "${entryPath}" would be written through a symlink`);
    default:
      return undefined;
  }
}

async function writeEntry(entry: ArchiveEntry, file: string, files: Map<string, ArchiveEntry>): Promise<void> {
  if (entry.kind === 'file') return writeNewFile(file, entry.data ?? [], entry.executable);
  if (entry.kind === 'symlink') return fs.symlink(entry.linkTarget ?? '', file);
  const original = files.get(entry.linkTarget ?? '');
  return writeNewFile(file, original?.data ?? [], original?.executable ?? false);
}

/**
 * Writes a planned tree: directories (parents first), files, hard links as copies, then
 * symlinks last, so nothing is ever written through a link.
 */
async function writeTree(entries: ArchiveEntry[], plan: TreePlan, destination: string): Promise<void> {
  const onDisk = (relative: string): string => path.join(destination, ...relative.split('/'));
  for (const directory of plan.directories) {
    try {
      await fs.mkdir(onDisk(directory), { mode: 0o755 });
    } catch (error) {
      throw writeRefusal(directory, error) ?? error;
    }
  }
  const files = new Map(entries.filter((e) => e.kind === 'file').map((e) => [e.path, e]));
  for (const kind of ['file', 'hardlink', 'symlink'] as const) {
    for (const entry of entries.filter((e) => e.kind === kind)) {
      try {
        await writeEntry(entry, onDisk(entry.path), files);
      } catch (error) {
        throw writeRefusal(entry.path, error) ?? error;
      }
    }
  }
}

/** Runs the pure planner, giving the event loop a turn at each of its pauses. */
async function planTreeCooperatively(entries: ArchiveEntry[]): Promise<TreePlan> {
  const steps = planTreeInSteps(entries);
  for (let step = steps.next(); ; step = steps.next()) {
    if (step.done) return step.value;
    await nextTurn();
  }
}

function totals(entries: ArchiveEntry[]): UnpackResult {
  const bytes = entries.reduce((sum, entry) => sum + (entry.data ?? []).reduce((size, chunk) => size + chunk.length, 0), 0);
  return { files: entries.length, bytes };
}

/**
 * Unpacks an archive into a new destination directory. Every entry is read and the whole
 * tree is checked (links resolved through each other) before anything is written; if
 * writing still fails, the destination is removed, so a refused archive leaves nothing behind.
 */
export async function unpackArchive(bytes: Buffer, format: 'zip' | 'tar.gz', destination: string, limits: UnpackLimits): Promise<UnpackResult> {
  const budget = new UnpackBudget(limits, bytes.length);
  const entries = format === 'zip' ? await readZip(bytes, limits, budget) : await readTarGz(bytes, limits, budget);
  const plan = await planTreeCooperatively(entries);
  await fs.mkdir(destination, { recursive: true });
  try {
    await writeTree(entries, plan, destination);
  } catch (error) {
    await fs.rm(destination, { recursive: true, force: true });
    throw error;
  }
  return totals(entries);
}
