import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { EventEnvelope } from '../events/envelope.ts';
import { permanent } from '../errors.ts';
import { TEMPORARY_SUFFIX, writeFileDurably } from './journal.ts';

/**
 * Dead-lettered events in full, one file each, so that a replay publishes them unchanged
 * while memory and the journal keep only what is shown of them (redacted, maybe truncated).
 */
export class DeadLetterStore {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** Names the copy of accepted event `of` that `trigger` refused: each is refused at most once. */
  static key(of: number, trigger: string): string {
    return `${of}-${encodeURIComponent(trigger)}.json`;
  }

  async put(key: string, event: EventEnvelope): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await writeFileDurably(path.join(this.dir, key), JSON.stringify(event));
  }

  async get(key: string): Promise<EventEnvelope> {
    try {
      return JSON.parse(await fs.readFile(path.join(this.dir, key), 'utf8')) as EventEnvelope;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      throw permanent('DeadLetterLost', `The event of this dead letter is no longer stored (${key})`);
    }
  }

  async remove(key: string): Promise<void> {
    await fs.rm(path.join(this.dir, key), { force: true });
  }

  /** Removes every copy but those in `keep` (and their files being written): dead letters dropped past the bound, leftovers of a crash. */
  async prune(keep: ReadonlySet<string>): Promise<void> {
    const files = await fs.readdir(this.dir).catch(() => []);
    const key = (file: string) => (file.endsWith(TEMPORARY_SUFFIX) ? file.slice(0, -TEMPORARY_SUFFIX.length) : file);
    await Promise.all(files.filter((file) => !keep.has(key(file))).map((file) => this.remove(file)));
  }
}
