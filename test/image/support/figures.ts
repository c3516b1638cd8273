// Sizes and build times the image tests measure, printed at the end of a file (never asserted).

export interface Figure {
  image: string;
  /** Cold build: every step run anew (`--no-cache`), base image already pulled. */
  coldSeconds: number;
  /** Build after a one-line change to the function, with the layers of the cold build. */
  changedSeconds?: number;
  compressedBytes: number;
  /** Of the compressed bytes, the base image's (the rest is what the build added). */
  baseBytes: number;
  unpackedBytes: number;
}

const MIB = 1024 * 1024;

export function printFigures(title: string, figures: Figure[]): void {
  const rows = figures.map((f) => {
    const changed = f.changedSeconds === undefined ? '-' : `${f.changedSeconds.toFixed(1)} s (${(f.changedSeconds / f.coldSeconds).toFixed(2)} of cold)`;
    return `| ${f.image} | ${(f.compressedBytes / MIB).toFixed(1)} MiB | ${((f.compressedBytes - f.baseBytes) / MIB).toFixed(1)} MiB | ${(f.unpackedBytes / MIB).toFixed(1)} MiB | ${f.coldSeconds.toFixed(1)} s | ${changed} |`;
  });
  const header = '| image | compressed (registry) | of which not the base image | unpacked | cold build | after a one-line change |';
  console.log([title, header, '| --- | --- | --- | --- | --- | --- |', ...rows].join('\n'));
}
