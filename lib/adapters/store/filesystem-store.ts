import { promises as fs } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { permanent } from '../../errors.ts';
import type { SourceStore } from '../../ports/source-store.ts';
import { writeFileAtomic } from '../local/atomic-file.ts';

/** The embedded default: objects are files under `<root>/<bucket>/<key>`. */
export class FilesystemStore implements SourceStore {
  readonly location: string;
  private readonly root: string;
  private readonly bucket: string;

  constructor(root: string, bucket: string) {
    this.root = path.resolve(root);
    this.bucket = bucket;
    this.location = path.join(this.root, bucket);
  }

  private pathOf(key: string, bucket = this.bucket): string {
    const base = path.join(this.root, bucket);
    const file = path.resolve(base, ...key.split('/'));
    if (!file.startsWith(`${base}${path.sep}`)) throw permanent('InvalidKey', `Key "${key}" leaves the store`);
    return file;
  }

  async get(key: string, options: { maxBytes: number; bucket?: string | undefined }): Promise<Buffer> {
    const file = this.pathOf(key, options.bucket);
    const stat = await fs.stat(file).catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT' || error.code === 'ENOTDIR') throw permanent('SourceNotFound', `No object "${key}" in ${path.join(this.root, options.bucket ?? this.bucket)}`);
      throw error;
    });
    if (!stat.isFile()) throw permanent('SourceNotFound', `"${key}" is not an object`);
    if (stat.size > options.maxBytes) throw permanent('SourceTooLarge', `Object "${key}" is ${stat.size} bytes; the limit is ${options.maxBytes}`, [], 413);
    return fs.readFile(file);
  }

  async put(key: string, body: Buffer): Promise<void> {
    const file = this.pathOf(key);
    await fs.mkdir(path.dirname(file), { recursive: true });
    await writeFileAtomic(file, body);
  }

  async exists(key: string): Promise<boolean> {
    return fs.stat(this.pathOf(key)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async delete(key: string): Promise<void> {
    await fs.rm(this.pathOf(key), { force: true });
  }

  url(key: string): string {
    return pathToFileURL(this.pathOf(key)).href;
  }
}
