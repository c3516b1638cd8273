import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as delay } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PlatformError } from '../../lib/errors.ts';
import { unpackArchive, type UnpackLimits } from '../../lib/source/unpack.ts';
import { gzippedZeros, rawTarGz, rawZip, streamedGzip, tarGzOfZeros } from '../support/raw-archives.ts';

/** The platform's defaults (KL_MAX_UNPACKED_BYTES, KL_MAX_SOURCE_FILES, KL_MAX_SOURCE_DEPTH). */
const limits: UnpackLimits = { maxBytes: 200 * 1024 * 1024, maxFiles: 10_000, maxDepth: 24 };
const MB = 1024 * 1024;
const GB = 1024 * MB;
/** Delays of the event loop are measured in nanoseconds. */
const MAX_P99_DELAY_NS = 100e6;

function* zeros(total: number): Generator<Buffer> {
  const megabyte = Buffer.alloc(MB);
  for (let made = 0; made < total; made += MB) yield megabyte;
}

interface HostileArchive {
  label: string;
  bytes: Buffer;
  format: 'zip' | 'tar.gz';
  /** The reason it is refused with, or 'accepted' when it is within the limits. */
  outcome: string;
}

let root: string;
let archives: HostileArchive[];

beforeAll(async () => {
  root = await fs.mkdtemp(path.join(os.tmpdir(), 'unpack-event-loop-'));
  const manyLinks = Array.from({ length: 9_998 }, (_, i) => ({ name: `l${i}`, type: '2' as const, linkname: `${'a/../'.repeat(200)}x` }));
  archives = [
    { label: 'a 16 KB gzip of zeros', bytes: await streamedGzip(zeros(16 * MB)), format: 'tar.gz', outcome: 'DecompressionBomb' },
    { label: 'a gzip of 100 MB of zeros', bytes: await streamedGzip(zeros(100 * MB)), format: 'tar.gz', outcome: 'DecompressionBomb' },
    { label: 'a gzip of 1 GB of zeros', bytes: gzippedZeros(GB), format: 'tar.gz', outcome: 'ArchiveTooLarge' },
    { label: 'a tar.gz holding 150 MB of zeros', bytes: tarGzOfZeros(150 * MB), format: 'tar.gz', outcome: 'DecompressionBomb' },
    { label: 'a tar.gz holding 1 GB of zeros', bytes: tarGzOfZeros(GB), format: 'tar.gz', outcome: 'ArchiveTooLarge' },
    { label: 'a zip holding 100 MB of deflated zeros', bytes: rawZip([{ name: 'zeros', data: Buffer.alloc(100 * MB), method: 'deflate' }]), format: 'zip', outcome: 'DecompressionBomb' },
    { label: 'a zip of 10,001 tiny files', bytes: rawZip(Array.from({ length: 10_001 }, (_, i) => ({ name: `f/${i}`, data: 'x', method: 'deflate' as const }))), format: 'zip', outcome: 'ArchiveTooManyFiles' },
    { label: 'a tar.gz of 10,000 links with 1 KB targets, the last escaping', bytes: rawTarGz([{ name: 'x', data: 'x' }, ...manyLinks, { name: 'out', type: '2', linkname: `${'a/../'.repeat(200)}..` }]), format: 'tar.gz', outcome: 'LinkEscapes' },
    { label: 'a tar.gz of 10,000 tiny files', bytes: rawTarGz(Array.from({ length: 10_000 }, (_, i) => ({ name: `f/${i}`, data: 'x' }))), format: 'tar.gz', outcome: 'accepted' },
  ];
}, 60_000);

afterAll(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

async function outcomeOf(archive: HostileArchive, destination: string): Promise<string> {
  try {
    await unpackArchive(archive.bytes, archive.format, destination, limits);
    return 'accepted';
  } catch (error) {
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).statusCode).toBe(422);
    return (error as PlatformError).reason;
  }
}

describe('unpacking hostile archives keeps the event loop responsive', () => {
  it('refuses every bomb quickly, with the right reason, and the event loop p99 delay stays under 100 ms', async () => {
    const histogram = monitorEventLoopDelay({ resolution: 10 });
    const results: Array<{ label: string; outcome: string; milliseconds: number }> = [];
    histogram.enable();
    for (const [index, archive] of archives.entries()) {
      const started = performance.now();
      const outcome = await outcomeOf(archive, path.join(root, `dest-${index}`));
      results.push({ label: archive.label, outcome, milliseconds: performance.now() - started });
    }
    // A block at the very end is only recorded once the loop runs its timer again.
    await delay(50);
    histogram.disable();

    expect(results.map(({ label, outcome }) => ({ label, outcome }))).toEqual(archives.map(({ label, outcome }) => ({ label, outcome })));
    for (const { label, milliseconds, outcome } of results) {
      if (outcome !== 'accepted') expect(milliseconds, label).toBeLessThan(5_000);
    }
    expect(histogram.percentile(99), `p99 ${(histogram.percentile(99) / 1e6).toFixed(1)} ms, max ${(histogram.max / 1e6).toFixed(1)} ms`).toBeLessThan(MAX_P99_DELAY_NS);
  }, 60_000);
});
