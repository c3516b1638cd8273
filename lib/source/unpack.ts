import { promises as fs } from 'node:fs';
import path from 'node:path';
import { Parser, type ReadEntry } from 'tar';
import yauzl from 'yauzl';
import { permanent, PlatformError } from '../errors.ts';

export interface UnpackLimits {
  maxBytes: number;
  maxFiles: number;
  maxDepth: number;
}

type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

interface ArchiveEntry {
  path: string;
  kind: EntryKind;
  executable: boolean;
  data?: Buffer;
  linkTarget?: string;
}

export interface UnpackResult {
  files: number;
  bytes: number;
}

function refuse(reason: string, message: string): PlatformError {
  return permanent(reason, message, [], 422);
}

/**
 * Checks one archive path and returns it normalised (`a/b/c`, no trailing slash).
 * Pure: decides from the string alone.
 */
export function checkArchivePath(raw: string, maxDepth: number): string {
  if (raw.length === 0) throw refuse('UnsafeArchivePath', 'An archive entry has an empty name');
  if (raw.includes('\0')) throw refuse('UnsafeArchivePath', `Archive entry "${raw.replace(/\0/g, '\\0')}" contains a NUL byte`);
  if (raw.includes('\\')) throw refuse('UnsafeArchivePath', `Archive entry "${raw}" contains a backslash`);
  if (raw.startsWith('/') || /^[A-Za-z]:/.test(raw)) throw refuse('UnsafeArchivePath', `Archive entry "${raw}" has an absolute path`);
  const segments = raw.split('/').filter((segment) => segment !== '' && segment !== '.');
  if (segments.includes('..')) throw refuse('UnsafeArchivePath', `Archive entry "${raw}" escapes the archive with ".."`);
  if (segments.length === 0) return '';
  if (segments.length > maxDepth) throw refuse('ArchiveTooDeep', `Archive entry "${raw}" is nested ${segments.length} levels deep; the limit is ${maxDepth}`);
  return segments.join('/');
}

/** A link target, relative to the link's own directory, must stay inside the archive root. */
export function checkLinkTarget(entryPath: string, target: string): void {
  if (target.length === 0 || target.startsWith('/') || /^[A-Za-z]:/.test(target) || target.includes('\\') || target.includes('\0')) {
    throw refuse('LinkEscapes', `Link "${entryPath}" points to "${target}", outside the archive`);
  }
  const resolved = path.posix.normalize(path.posix.join(path.posix.dirname(entryPath), target));
  if (resolved === '..' || resolved.startsWith('../')) {
    throw refuse('LinkEscapes', `Link "${entryPath}" points to "${target}", outside the archive`);
  }
}

class Budget {
  private bytes = 0;
  private entries = 0;
  private readonly limits: UnpackLimits;
  constructor(limits: UnpackLimits) {
    this.limits = limits;
  }
  addEntry(): void {
    this.entries += 1;
    if (this.entries > this.limits.maxFiles) throw refuse('ArchiveTooManyFiles', `The archive holds more than ${this.limits.maxFiles} entries`);
  }
  addBytes(count: number): void {
    this.bytes += count;
    if (this.bytes > this.limits.maxBytes) throw refuse('ArchiveTooLarge', `The archive unpacks to more than ${this.limits.maxBytes} bytes`);
  }
  get totals(): UnpackResult {
    return { files: this.entries, bytes: this.bytes };
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

async function readTarGz(bytes: Buffer, limits: UnpackLimits, budget: Budget): Promise<ArchiveEntry[]> {
  const entries: ArchiveEntry[] = [];
  return new Promise((resolve, reject) => {
    let failure: Error | undefined;
    const parser = new Parser({
      strict: true,
      maxDecompressionRatio: 1000,
      onReadEntry: (entry: ReadEntry) => {
        if (failure) return entry.resume();
        try {
          const kind = TAR_KINDS[entry.type];
          if (kind === undefined) {
            const device = ['CharacterDevice', 'BlockDevice', 'FIFO'].includes(entry.type);
            throw refuse(device ? 'DeviceFile' : 'UnsupportedEntry', `Archive entry "${entry.path}" is a ${entry.type}; ${device ? 'device files and FIFOs are' : 'this entry type is'} not allowed`);
          }
          budget.addEntry();
          const normalised = checkArchivePath(entry.path, limits.maxDepth);
          if (kind === 'symlink' || kind === 'hardlink') {
            const target = entry.linkpath ?? '';
            if (kind === 'symlink') checkLinkTarget(normalised, target);
            // A hard link names its target from the archive root, like any entry path.
            const linkTarget = kind === 'hardlink' ? checkArchivePath(target, limits.maxDepth) : target;
            entries.push({ path: normalised, kind, executable: false, linkTarget });
            return entry.resume();
          }
          if (kind === 'directory') {
            entries.push({ path: normalised, kind, executable: false });
            return entry.resume();
          }
          budget.addBytes(0);
          if (entry.size > limits.maxBytes) throw refuse('ArchiveTooLarge', `Archive entry "${entry.path}" is ${entry.size} bytes; the limit is ${limits.maxBytes}`);
          const chunks: Buffer[] = [];
          entry.on('data', (chunk: Buffer) => {
            if (failure) return;
            try {
              budget.addBytes(chunk.length);
              chunks.push(chunk);
            } catch (error) {
              failure = error as Error;
            }
          });
          entry.on('end', () => {
            entries.push({ path: normalised, kind, executable: ((entry.mode ?? 0) & 0o111) !== 0, data: Buffer.concat(chunks) });
          });
        } catch (error) {
          failure = error as Error;
          entry.resume();
        }
      },
    });
    parser.on('error', (error: Error) => {
      failure ??= refuse('CorruptArchive', `The tar.gz archive cannot be read: ${error.message}`);
    });
    parser.on('warn', (code: string, message: string) => {
      failure ??= refuse('CorruptArchive', `The tar.gz archive cannot be read: ${code} ${message}`);
    });
    parser.on('close', () => (failure ? reject(failure) : resolve(entries)));
    parser.on('abort', () => reject(failure ?? refuse('CorruptArchive', 'The tar.gz archive cannot be read')));
    parser.end(bytes);
  });
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
  throw refuse('DeviceFile', `Archive entry "${name}" is a special file (mode ${unixMode.toString(8)}); only files, directories and links are allowed`);
}

async function readZip(bytes: Buffer, limits: UnpackLimits, budget: Budget): Promise<ArchiveEntry[]> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.fromBuffer(bytes, { lazyEntries: true, decodeStrings: false, validateEntrySizes: true, strictFileNames: false }, (error, file) =>
      error ? reject(refuse('CorruptArchive', `The zip archive cannot be read: ${error.message}`)) : resolve(file),
    ),
  );
  const entries: ArchiveEntry[] = [];
  return new Promise((resolve, reject) => {
    const fail = (error: unknown): void => {
      zip.close();
      reject(error instanceof PlatformError ? error : refuse('CorruptArchive', `The zip archive cannot be read: ${(error as Error).message}`));
    };
    zip.on('error', fail);
    zip.on('end', () => resolve(entries));
    zip.on('entry', (entry: yauzl.Entry) => {
      try {
        const name = (entry.fileName as unknown as Buffer).toString('utf8');
        budget.addEntry();
        const kind = zipEntryKind(entry, name);
        const normalised = checkArchivePath(name, limits.maxDepth);
        if (kind === 'directory') {
          entries.push({ path: normalised, kind, executable: false });
          zip.readEntry();
          return;
        }
        if (entry.uncompressedSize > limits.maxBytes) throw refuse('ArchiveTooLarge', `Archive entry "${name}" is ${entry.uncompressedSize} bytes; the limit is ${limits.maxBytes}`);
        zip.openReadStream(entry, (error, stream) => {
          if (error) return fail(error);
          const chunks: Buffer[] = [];
          stream.on('data', (chunk: Buffer) => {
            try {
              budget.addBytes(chunk.length);
              chunks.push(chunk);
            } catch (limitError) {
              stream.destroy(limitError as Error);
            }
          });
          stream.on('error', fail);
          stream.on('end', () => {
            try {
              const data = Buffer.concat(chunks);
              if (kind === 'symlink') {
                const target = data.toString('utf8');
                checkLinkTarget(normalised, target);
                entries.push({ path: normalised, kind, executable: false, linkTarget: target });
              } else {
                entries.push({ path: normalised, kind, executable: ((entry.externalFileAttributes >>> 16) & 0o111) !== 0, data });
              }
              zip.readEntry();
            } catch (linkError) {
              fail(linkError);
            }
          });
        });
      } catch (error) {
        fail(error);
      }
    });
    zip.readEntry();
  });
}

/** Writes checked entries: directories, then files, then links, so no write ever goes through a link. */
async function writeEntries(entries: ArchiveEntry[], destination: string): Promise<void> {
  const seen = new Set<string>();
  for (const entry of entries) {
    if (entry.path === '') continue;
    if (seen.has(entry.path) && entry.kind !== 'directory') throw refuse('DuplicateEntry', `Archive entry "${entry.path}" appears twice`);
    seen.add(entry.path);
  }
  const files = new Map(entries.filter((e) => e.kind === 'file').map((e) => [e.path, e]));
  const target = (relative: string): string => path.join(destination, ...relative.split('/'));
  const order: EntryKind[] = ['directory', 'file', 'hardlink', 'symlink'];
  for (const kind of order) {
    for (const entry of entries.filter((e) => e.kind === kind && e.path !== '')) {
      const file = target(entry.path);
      try {
        if (kind === 'directory') {
          await fs.mkdir(file, { recursive: true, mode: 0o755 });
          continue;
        }
        await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
        if (kind === 'file') {
          await fs.writeFile(file, entry.data ?? Buffer.alloc(0), { flag: 'wx', mode: entry.executable ? 0o755 : 0o644 });
        } else if (kind === 'hardlink') {
          const original = files.get(entry.linkTarget ?? '');
          if (!original) throw refuse('LinkEscapes', `Hard link "${entry.path}" points to "${entry.linkTarget}", which is not a file of the archive`);
          await fs.writeFile(file, original.data ?? Buffer.alloc(0), { flag: 'wx', mode: original.executable ? 0o755 : 0o644 });
        } else {
          await fs.symlink(entry.linkTarget ?? '', file);
        }
      } catch (error) {
        if (error instanceof PlatformError) throw error;
        const code = (error as NodeJS.ErrnoException).code;
        if (code === 'EEXIST' || code === 'ENOTDIR') throw refuse('ConflictingEntry', `Archive entry "${entry.path}" conflicts with another entry`);
        throw error;
      }
    }
  }
}

/**
 * Unpacks an archive into a new destination directory. Every entry is read and checked
 * before anything is written; if writing still fails (entries that conflict), the
 * destination is removed, so a refused archive leaves nothing behind.
 */
export async function unpackArchive(bytes: Buffer, format: 'zip' | 'tar.gz', destination: string, limits: UnpackLimits): Promise<UnpackResult> {
  const budget = new Budget(limits);
  const entries = format === 'zip' ? await readZip(bytes, limits, budget) : await readTarGz(bytes, limits, budget);
  await fs.mkdir(destination, { recursive: true });
  try {
    await writeEntries(entries, destination);
  } catch (error) {
    await fs.rm(destination, { recursive: true, force: true });
    throw error;
  }
  return budget.totals;
}
