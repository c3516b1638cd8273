import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from './atomic-file.ts';

/** What identifies one version of a record file: every write puts a new inode in place. */
interface FileVersion {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
}

interface Cached<T> {
  version: FileVersion;
  value: T;
  /** Held open so that the inode cannot be freed and its number given to a later file while cached. */
  handle: fs.FileHandle;
}

/**
 * Records kept in memory per store, the least recently read dropped first: each holds an open
 * file, and a store of builds gains a record with every build.
 */
export const MAX_CACHED_RECORDS = 128;

function sameVersion(a: FileVersion, b: FileVersion): boolean {
  return a.ino === b.ino && a.size === b.size && a.mtimeNs === b.mtimeNs;
}

/** Cached values are shared by every reader: frozen, a mutation throws instead of changing what the next reader sees. */
function deepFreeze<V>(value: V): V {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

function isMissing(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === 'ENOENT';
}

/**
 * JSON records on disk, one file each: the local stand-in for Kubernetes objects.
 * Every write of one record (put, update, upsert, remove) runs in that record's queue,
 * so no read-modify-write ever overwrites another's result.
 *
 * Reads are cached, because the router reads a function's record on every request. The
 * cache is checked against the file with one stat per read rather than kept up to date by
 * this store's writes, because other processes write the same files: a builder run on its
 * own with the embedded backend and the same KL_DATA_DIR has a store of its own. A file is
 * only ever replaced whole (a new file renamed or linked into place, never rewritten), so a
 * cached value read from one inode stays exact for as long as that inode is in place; size
 * and mtime catch a file rewritten in place by hand. The cached inode is kept open, because a
 * freed inode number is soon given to the next new file, and timestamps are too coarse to
 * tell two writes apart. Values are shared between readers, so they are frozen.
 */
export class RecordStore<T> {
  private readonly dir: string;
  private readonly file: string;
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly cache = new Map<string, Cached<T>>();

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
    const file = this.pathOf(name);
    const current = await fs.stat(file, { bigint: true }).catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    const cached = this.cache.get(name);
    if (!current) await this.forget(name);
    else if (cached && sameVersion(cached.version, current)) {
      this.touch(name, cached);
      return cached.value;
    }
    return current && this.read(name, file);
  }

  private async forget(name: string): Promise<void> {
    const cached = this.cache.get(name);
    this.cache.delete(name);
    await cached?.handle.close();
  }

  /** Marks a record the most recently read (a Map iterates in insertion order). */
  private touch(name: string, entry: Cached<T>): void {
    this.cache.delete(name);
    this.cache.set(name, entry);
  }

  private async remember(name: string, entry: Cached<T>): Promise<void> {
    const previous = this.cache.get(name);
    this.touch(name, entry);
    await previous?.handle.close();
    if (this.cache.size <= MAX_CACHED_RECORDS) return;
    const [oldest] = this.cache.keys();
    if (oldest !== undefined) await this.forget(oldest);
  }

  /** Content and version from one open file, so the two always belong together even if the file is replaced meanwhile. */
  private async read(name: string, file: string): Promise<T | undefined> {
    const handle = await fs.open(file, 'r').catch((error: unknown) => {
      if (isMissing(error)) return undefined;
      throw error;
    });
    if (!handle) {
      await this.forget(name);
      return undefined;
    }
    try {
      const version = await handle.stat({ bigint: true });
      const value = deepFreeze(JSON.parse(await handle.readFile('utf8')) as T);
      await this.remember(name, { version, value, handle });
      return value;
    } catch (error) {
      await handle.close();
      throw error;
    }
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
    return this.serialised(name, async () => {
      await fs.rm(this.directoryOf(name), { recursive: true, force: true });
      await this.forget(name);
    });
  }
}
