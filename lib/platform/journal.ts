import { open, rename, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

/** An append-only log of records that survives a crash of the process, and of the machine. */
export interface Journal<R> {
  /** Every record kept, oldest first. Read once, before the first append. */
  read(): AsyncIterable<R>;
  /** Resolves once the records are on disk. */
  append(records: R[]): Promise<void>;
  /** Replaces every record so far, atomically, by what `snapshot` returns at its turn. */
  compact(snapshot: () => R[]): Promise<void>;
  /** Bytes on disk. */
  readonly bytes: number;
  /** Waits for what is queued, then refuses further appends. */
  close(): Promise<void>;
}

type Task<R> = { records: R[]; snapshot?: undefined; done: Settle } | { records?: undefined; snapshot: () => R[]; done: Settle };

interface Settle {
  resolve(): void;
  reject(error: unknown): void;
}

const FILE_MODE = 0o600;
export const TEMPORARY_SUFFIX = '.tmp';

function lines<R>(records: R[]): string {
  return records.map((record) => `${JSON.stringify(record)}\n`).join('');
}

/** Written to a temporary file, synced, renamed over `file` and the rename synced: all or nothing. */
export async function writeFileDurably(file: string, content: string | Buffer): Promise<void> {
  const temporary = `${file}${TEMPORARY_SUFFIX}`;
  const handle = await open(temporary, 'w', FILE_MODE);
  try {
    await handle.writeFile(content);
    await handle.datasync();
  } finally {
    await handle.close();
  }
  await rename(temporary, file);
  const directory = await open(path.dirname(file), 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

/**
 * A journal as JSON lines in one file. Appends that arrive while a write is being synced are
 * written and synced together by the next one (group commit): one `fdatasync` serves every
 * event that arrived meanwhile. `onDurable` sees each batch once it is on disk, before any
 * caller is answered and before any later task runs, so a compaction's snapshot always holds
 * every record written before it.
 */
export class FileJournal<R> implements Journal<R> {
  private readonly file: string;
  private readonly onDurable: (records: R[]) => void;
  private readonly log: Logger;
  private readonly queue: Array<Task<R>> = [];
  private handle: FileHandle | undefined;
  private draining: Promise<void> | undefined;
  private size = 0;
  private closed = false;
  /** The file may end in part of a line (a crash, a failed write): the next write starts a new one. */
  private torn = true;

  constructor(file: string, options: { onDurable: (records: R[]) => void; log: Logger }) {
    this.file = file;
    this.onDurable = options.onDurable;
    this.log = options.log;
  }

  get bytes(): number {
    return this.size;
  }

  async *read(): AsyncGenerator<R> {
    let handle: FileHandle;
    try {
      handle = await open(this.file, 'r');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    let unreadable = 0;
    try {
      for await (const line of handle.readLines({ autoClose: false })) {
        if (line === '') continue;
        try {
          yield JSON.parse(line) as R;
        } catch {
          unreadable += 1;
        }
      }
    } finally {
      await handle.close();
    }
    // A crash can cut the last line short; it was never acknowledged.
    if (unreadable > 0) this.log.warn({ file: this.file, lines: unreadable }, 'unreadable journal lines skipped');
  }

  append(records: R[]): Promise<void> {
    return this.enqueue((done) => ({ records, done }));
  }

  compact(snapshot: () => R[]): Promise<void> {
    return this.enqueue((done) => ({ snapshot, done }));
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.draining;
    await this.handle?.close();
    this.handle = undefined;
  }

  private enqueue(task: (done: Settle) => Task<R>): Promise<void> {
    if (this.closed) return Promise.reject(new Error('the journal is closed'));
    return new Promise<void>((resolve, reject) => {
      this.queue.push(task({ resolve, reject }));
      this.draining ??= this.drain();
    });
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (head?.snapshot) {
        this.queue.shift();
        await this.run([head], () => this.rewrite(head.snapshot()));
        continue;
      }
      const compaction = this.queue.findIndex((task) => task.snapshot);
      const batch = this.queue.splice(0, compaction < 0 ? this.queue.length : compaction);
      const records = batch.flatMap((task) => task.records ?? []);
      await this.run(batch, async () => {
        await this.write(records);
        this.onDurable(records);
      });
    }
    this.draining = undefined;
  }

  private async run(tasks: Array<Task<R>>, work: () => Promise<void>): Promise<void> {
    try {
      await work();
      for (const task of tasks) task.done.resolve();
    } catch (error) {
      for (const task of tasks) task.done.reject(error);
    }
  }

  private async write(records: R[]): Promise<void> {
    if (!this.handle) {
      this.handle = await open(this.file, 'a', FILE_MODE);
      this.size = (await this.handle.stat()).size;
    }
    const text = `${this.torn && this.size > 0 ? '\n' : ''}${lines(records)}`;
    this.torn = true;
    await this.handle.appendFile(text);
    await this.handle.datasync();
    this.torn = false;
    this.size += Buffer.byteLength(text);
  }

  private async rewrite(records: R[]): Promise<void> {
    const text = lines(records);
    await writeFileDurably(this.file, text);
    await this.handle?.close();
    this.handle = undefined;
    this.size = Buffer.byteLength(text);
    this.torn = false;
  }
}
