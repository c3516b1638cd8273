import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { readJson, writeFileAtomic } from './atomic-file.ts';

/**
 * JSON records on disk, one file each: the local stand-in for Kubernetes objects.
 * Every write of one record (put, update, upsert, remove) runs in that record's queue,
 * so no read-modify-write ever overwrites another's result.
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

  private serialised<R>(name: string, work: () => Promise<R>): Promise<R> {
    const next = (this.queues.get(name) ?? Promise.resolve()).then(work);
    const settled = next.then(
      () => undefined,
      () => undefined,
    );
    this.queues.set(name, settled);
    void settled.then(() => {
      if (this.queues.get(name) === settled) this.queues.delete(name);
    });
    return next;
  }

  private async write(name: string, value: T): Promise<void> {
    await fs.mkdir(this.directoryOf(name), { recursive: true });
    await writeFileAtomic(this.pathOf(name), JSON.stringify(value, null, 2));
  }

  put(name: string, value: T): Promise<void> {
    return this.serialised(name, () => this.write(name, value));
  }

  /** Read-modify-write, created when absent; `change` answering undefined leaves the record as it is. */
  upsert(name: string, change: (current: T | undefined) => T | undefined): Promise<T | undefined> {
    return this.serialised(name, async () => {
      const current = await this.get(name);
      const updated = change(current);
      if (updated === undefined) return current;
      await this.write(name, updated);
      return updated;
    });
  }

  /** Read-modify-write of an existing record; returns the new value, or undefined if absent. */
  async update(name: string, change: (current: T) => T): Promise<T | undefined> {
    return this.upsert(name, (current) => (current === undefined ? undefined : change(current)));
  }

  async list(): Promise<T[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const records = await Promise.all(names.map((name) => this.get(name).catch(() => undefined)));
    return records.filter((r): r is Awaited<T> => r !== undefined) as T[];
  }

  remove(name: string): Promise<void> {
    return this.serialised(name, () => fs.rm(this.directoryOf(name), { recursive: true, force: true }));
  }
}
