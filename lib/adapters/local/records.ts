import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJson, writeFileAtomic } from './atomic-file.ts';

/**
 * JSON records on disk, one file each: the local stand-in for Kubernetes objects.
 * Updates of one record are serialised so that no update is lost.
 */
export class RecordStore<T> {
  private readonly dir: string;
  private readonly file: string;
  private readonly queues = new Map<string, Promise<unknown>>();

  constructor(dir: string, file: string) {
    this.dir = dir;
    this.file = file;
  }

  directoryOf(name: string): string {
    return path.join(this.dir, name);
  }

  private pathOf(name: string): string {
    return path.join(this.dir, name, this.file);
  }

  /** Creates the record unless it exists. Atomic: the link fails if another writer got there first. */
  async createIfAbsent(name: string, value: T): Promise<boolean> {
    await fs.mkdir(this.directoryOf(name), { recursive: true });
    const temporary = `${this.pathOf(name)}.${randomBytes(6).toString('hex')}.tmp`;
    await fs.writeFile(temporary, JSON.stringify(value, null, 2));
    try {
      await fs.link(temporary, this.pathOf(name));
      return true;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw error;
    } finally {
      await fs.rm(temporary, { force: true });
    }
  }

  async get(name: string): Promise<T | undefined> {
    return readJson<T>(this.pathOf(name));
  }

  async put(name: string, value: T): Promise<void> {
    await fs.mkdir(this.directoryOf(name), { recursive: true });
    await writeFileAtomic(this.pathOf(name), JSON.stringify(value, null, 2));
  }

  /** Read-modify-write under a per-record queue; returns the new value, or undefined if absent. */
  async update(name: string, change: (current: T) => T): Promise<T | undefined> {
    const previous = this.queues.get(name) ?? Promise.resolve();
    const next = previous.then(async () => {
      const current = await this.get(name);
      if (current === undefined) return undefined;
      const updated = change(current);
      await writeFileAtomic(this.pathOf(name), JSON.stringify(updated, null, 2));
      return updated;
    });
    this.queues.set(name, next.catch(() => undefined));
    return next;
  }

  async list(): Promise<T[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const records = await Promise.all(names.map((name) => this.get(name).catch(() => undefined)));
    return records.filter((r): r is Awaited<T> => r !== undefined) as T[];
  }

  async remove(name: string): Promise<void> {
    await fs.rm(this.directoryOf(name), { recursive: true, force: true });
  }
}
