import { promises as fs } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { create } from 'tar';

/** Skipped when packing a function: installed or generated, never part of the source. */
export const IGNORED_NAMES = new Set(['node_modules', '.git', '.knative-lambda', '.DS_Store', '__MACOSX', '__pycache__', '.venv']);

/** Every path under `root`, sorted by bytes, directories before their contents. */
async function listTree(root: string, relative = ''): Promise<string[]> {
  const entries = await fs.readdir(path.join(root, relative), { withFileTypes: true });
  const names = entries.filter((e) => !IGNORED_NAMES.has(e.name)).sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const result: string[] = [];
  for (const entry of names) {
    const child = relative ? `${relative}/${entry.name}` : entry.name;
    result.push(child);
    if (entry.isDirectory()) result.push(...(await listTree(root, child)));
  }
  return result;
}

/** Permissions are part of the digest: reduce them to 755/644 so umask and copies do not matter. */
async function normaliseModes(root: string, paths: string[]): Promise<void> {
  for (const relative of paths) {
    const file = path.join(root, relative);
    const stat = await fs.lstat(file);
    if (stat.isSymbolicLink()) continue;
    const mode = stat.isDirectory() || (stat.mode & 0o111) !== 0 ? 0o755 : 0o644;
    if ((stat.mode & 0o777) !== mode) await fs.chmod(file, mode);
  }
}

/**
 * Packs a directory as tar.gz so that the same files give the same bytes: sorted entries,
 * fixed mtime, no owner or host metadata, normalised modes, gzip without timestamp.
 */
export async function packDeterministic(root: string): Promise<Buffer> {
  const paths = await listTree(root);
  if (paths.length === 0) return gzipSync(Buffer.alloc(1024), { level: 9 });
  await normaliseModes(root, paths);
  const stream = create({ cwd: root, gzip: { level: 9 }, portable: true, mtime: new Date(0), noDirRecurse: true, follow: false }, paths);
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
