import path from 'node:path';

/** A single file carries its key's extension (lowercase, `''` when the key has none); the runtimes decide what it is. */
export type SourceFormat = { kind: 'file'; extension: string } | { kind: 'zip' } | { kind: 'tar.gz' };

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
const EMPTY_ZIP_MAGIC = [0x50, 0x4b, 0x05, 0x06];
const GZIP_MAGIC = [0x1f, 0x8b];

function startsWith(bytes: Uint8Array, magic: number[]): boolean {
  return magic.every((byte, index) => bytes[index] === byte);
}

/** Archives are recognised by their bytes, never by their name. Anything else is a single source file. */
export function detectFormat(key: string, bytes: Uint8Array): SourceFormat {
  if (startsWith(bytes, ZIP_MAGIC) || startsWith(bytes, EMPTY_ZIP_MAGIC)) return { kind: 'zip' };
  if (startsWith(bytes, GZIP_MAGIC)) return { kind: 'tar.gz' };
  return { kind: 'file', extension: path.posix.extname(key).toLowerCase() };
}

/** True when the bytes are plausibly source text (UTF-8 without NUL bytes). */
export function looksLikeText(bytes: Uint8Array): boolean {
  if (bytes.includes(0)) return false;
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}
