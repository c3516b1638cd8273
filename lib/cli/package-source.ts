import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { IGNORED_NAMES, packDeterministic } from '../context/deterministic-tar.ts';

export interface PackagedSource {
  bytes: Buffer;
  /** Extension the store key gets, so the builder can tell a `.ts` file from a `.js` one. */
  extension: string;
}

const ARCHIVE_EXTENSIONS = ['.zip', '.tar.gz', '.tgz'];

/** A directory becomes a deterministic tar.gz (copied first: the user's files are never touched); a file is sent as it is. */
export async function packageSource(location: string): Promise<PackagedSource> {
  const stat = await fs.stat(location).catch(() => undefined);
  if (!stat) throw new Error(`${location} does not exist`);
  if (stat.isFile()) {
    const lower = location.toLowerCase();
    const archive = ARCHIVE_EXTENSIONS.find((ext) => lower.endsWith(ext));
    return { bytes: await fs.readFile(location), extension: archive === '.tgz' ? '.tar.gz' : (archive ?? path.extname(location)) };
  }
  const staging = await fs.mkdtemp(path.join(os.tmpdir(), 'klambda-source-'));
  try {
    await fs.cp(location, staging, { recursive: true, verbatimSymlinks: true, filter: (file) => !IGNORED_NAMES.has(path.basename(file)) });
    return { bytes: await packDeterministic(staging), extension: '.tar.gz' };
  } finally {
    await fs.rm(staging, { recursive: true, force: true });
  }
}
