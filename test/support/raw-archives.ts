import { Readable } from 'node:stream';
import { crc32, createGzip, deflateRawSync, gzipSync } from 'node:zlib';

/**
 * Archive writers that write exactly what they are told, hostile names included. Real
 * tools refuse to make such archives, which is why the tests need their own.
 */

export interface RawTarEntry {
  /** Names and link names longer than the 100 bytes of a ustar header go in a pax header before the entry. */
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' FIFO, 'x' pax header. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6' | 'x';
  data?: string | Buffer;
  linkname?: string;
  mode?: number;
}

function octal(value: number, length: number): string {
  return `${value.toString(8).padStart(length - 1, '0')}\0`;
}

function tarHeader(entry: RawTarEntry, size: number): Buffer {
  const header = Buffer.alloc(512, 0);
  const type = entry.type ?? '0';
  header.write(entry.name, 0, 100, 'utf8');
  header.write(octal(entry.mode ?? (type === '5' ? 0o755 : 0o644), 8), 100, 'ascii');
  header.write(octal(0, 8), 108, 'ascii');
  header.write(octal(0, 8), 116, 'ascii');
  header.write(octal(size, 12), 124, 'ascii');
  header.write(octal(0, 12), 136, 'ascii');
  header.write('        ', 148, 'ascii');
  header.write(type, 156, 'ascii');
  header.write(entry.linkname ?? '', 157, 100, 'utf8');
  header.write('ustar\u000000', 257, 'ascii');
  let sum = 0;
  for (const byte of header) sum += byte;
  header.write(octal(sum, 7), 148, 'ascii');
  return header;
}

/** One pax record: its length counts its own digits. */
function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let length = Buffer.byteLength(body) + 1;
  while (`${length}`.length + Buffer.byteLength(body) !== length) length += 1;
  return `${length}${body}`;
}

function paxHeaderFor(entry: RawTarEntry): RawTarEntry | undefined {
  const records = [
    Buffer.byteLength(entry.name) > 100 ? paxRecord('path', entry.name) : '',
    Buffer.byteLength(entry.linkname ?? '') > 100 ? paxRecord('linkpath', entry.linkname ?? '') : '',
  ].join('');
  return records === '' ? undefined : { name: 'PaxHeader', type: 'x', data: records };
}

function tarBlocks(entry: RawTarEntry): Buffer[] {
  const data = Buffer.from(entry.data ?? '');
  const hasBody = ['0', 'x'].includes(entry.type ?? '0');
  const blocks = [tarHeader(entry, hasBody ? data.length : 0)];
  if (hasBody && data.length > 0) blocks.push(data, Buffer.alloc((512 - (data.length % 512)) % 512));
  return blocks;
}

export function rawTarGz(entries: RawTarEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const entry of entries) {
    const pax = paxHeaderFor(entry);
    if (pax) blocks.push(...tarBlocks(pax));
    blocks.push(...tarBlocks(entry));
  }
  blocks.push(Buffer.alloc(1024));
  return gzipSync(Buffer.concat(blocks));
}

/** Gzips what `chunks` yields with zlib's streaming gzip, holding only the compressed output. */
export async function streamedGzip(chunks: Iterable<Buffer>): Promise<Buffer> {
  const gzip = Readable.from(chunks).pipe(createGzip({ level: 9 }));
  const output: Buffer[] = [];
  for await (const chunk of gzip) output.push(chunk as Buffer);
  return Buffer.concat(output);
}

const ZERO_MEMBER_BYTES = 16 * 1024 * 1024;

/**
 * `size` zeros as concatenated gzip members (valid gzip: gunzip reads on through every
 * member), so a gigabyte takes a few kilobytes and milliseconds to make.
 */
export function gzippedZeros(size: number): Buffer {
  const whole = gzipSync(Buffer.alloc(ZERO_MEMBER_BYTES), { level: 9 });
  const members: Buffer[] = Array.from({ length: Math.floor(size / ZERO_MEMBER_BYTES) }, () => whole);
  if (size % ZERO_MEMBER_BYTES > 0) members.push(gzipSync(Buffer.alloc(size % ZERO_MEMBER_BYTES), { level: 9 }));
  return Buffer.concat(members);
}

/** A tar.gz whose one file, `zeros`, holds `size` zeros, built member by member like gzippedZeros. */
export function tarGzOfZeros(size: number): Buffer {
  const padded = Math.ceil(size / 512) * 512;
  return Buffer.concat([gzipSync(tarHeader({ name: 'zeros' }, size)), gzippedZeros(padded), gzipSync(Buffer.alloc(1024))]);
}

export interface RawZipEntry {
  name: string;
  data?: string | Buffer;
  /** Unix mode in the high bits of the external attributes (e.g. 0o120777 for a symlink). */
  unixMode?: number;
  /** Stored (uncompressed) unless told otherwise. */
  method?: 'store' | 'deflate';
}

const ZIP_METHODS = { store: 0, deflate: 8 } as const;

export function rawZip(entries: RawZipEntry[]): Buffer {
  const locals: Buffer[] = [];
  const centrals: Buffer[] = [];
  let offset = 0;
  for (const entry of entries) {
    const name = Buffer.from(entry.name, 'utf8');
    const data = Buffer.from(entry.data ?? '');
    const method = entry.method ?? 'store';
    const stored = method === 'deflate' ? deflateRawSync(data, { level: 9 }) : data;
    const crc = crc32(data);
    const local = Buffer.alloc(30);
    local.writeUInt32LE(0x04034b50, 0);
    local.writeUInt16LE(20, 4);
    local.writeUInt16LE(0x0800, 6);
    local.writeUInt16LE(ZIP_METHODS[method], 8);
    local.writeUInt32LE(crc, 14);
    local.writeUInt32LE(stored.length, 18);
    local.writeUInt32LE(data.length, 22);
    local.writeUInt16LE(name.length, 26);
    locals.push(local, name, stored);
    const central = Buffer.alloc(46);
    central.writeUInt32LE(0x02014b50, 0);
    central.writeUInt16LE((3 << 8) | 20, 4);
    central.writeUInt16LE(20, 6);
    central.writeUInt16LE(0x0800, 8);
    central.writeUInt16LE(ZIP_METHODS[method], 10);
    central.writeUInt32LE(crc, 16);
    central.writeUInt32LE(stored.length, 20);
    central.writeUInt32LE(data.length, 24);
    central.writeUInt16LE(name.length, 28);
    central.writeUInt32LE(((entry.unixMode ?? 0o100644) << 16) >>> 0, 38);
    central.writeUInt32LE(offset, 42);
    centrals.push(central, name);
    offset += local.length + name.length + stored.length;
  }
  const directory = Buffer.concat(centrals);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(directory.length, 12);
  end.writeUInt32LE(offset, 16);
  return Buffer.concat([...locals, directory, end]);
}
