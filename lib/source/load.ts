import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { permanent } from '../errors.ts';
import { detectFormat, looksLikeText, type SourceFormat } from './formats.ts';
import { unpackArchive, type UnpackLimits } from './unpack.ts';

export interface LoadedSource {
  /** Directory holding the function's files (the archive root, or its single top folder). */
  root: string;
  format: SourceFormat;
  /** Name of the file when the source was a single file: `index` and the key's extension. */
  singleFile?: string;
}

/** Base name of a single-file source; the runtimes find it under this name. */
const SINGLE_FILE_BASENAME = 'index';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Refuses a source whose bytes do not match the hash the producer announced. */
export function verifyContentHash(bytes: Uint8Array, expected: string | undefined): void {
  if (expected === undefined) return;
  const actual = sha256Hex(bytes);
  if (actual !== expected) {
    throw permanent('ContentHashMismatch', 'The source does not match content_hash', [`expected ${expected}`, `actual ${actual}`]);
  }
}

/** Archives zipped with their folder (`zip -r fn.zip fn/`) have one top directory: use it as the root. */
async function archiveRoot(directory: string): Promise<string> {
  const entries = (await fs.readdir(directory, { withFileTypes: true })).filter((e) => e.name !== '__MACOSX');
  const only = entries[0];
  if (entries.length === 1 && only?.isDirectory()) return path.join(directory, only.name);
  return directory;
}

/** Writes the source into `workdir/source` and returns where its files are. */
export async function materializeSource(key: string, bytes: Buffer, workdir: string, limits: UnpackLimits): Promise<LoadedSource> {
  const format = detectFormat(key, bytes);
  const target = path.join(workdir, 'source');
  await fs.mkdir(target, { recursive: true });
  if (format.kind === 'file') {
    if (!looksLikeText(bytes)) throw permanent('UnsupportedSource', `Source "${key}" is neither a zip or tar.gz archive nor a UTF-8 source file`);
    if (bytes.length > limits.maxBytes) throw permanent('ArchiveTooLarge', `Source "${key}" is larger than ${limits.maxBytes} bytes`);
    const singleFile = `${SINGLE_FILE_BASENAME}${format.extension}`;
    await fs.writeFile(path.join(target, singleFile), bytes, { mode: 0o644 });
    return { root: target, format, singleFile };
  }
  await unpackArchive(bytes, format.kind, target, limits);
  return { root: await archiveRoot(target), format };
}

/** Gives an extensionless single file the extension of the language it turned out to be. */
export async function withExtension(source: LoadedSource, extension: string): Promise<LoadedSource> {
  if (source.format.kind !== 'file' || source.format.extension !== '' || !source.singleFile) return source;
  const singleFile = `${SINGLE_FILE_BASENAME}${extension}`;
  await fs.rename(path.join(source.root, source.singleFile), path.join(source.root, singleFile));
  return { ...source, format: { kind: 'file', extension }, singleFile };
}
