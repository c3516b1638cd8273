import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** Set in every recorded process's environment: the proof, read back from /proc, that a pid is still ours. */
export const PROCESS_MARK = 'KL_PROCESS_MARK';

/**
 * The process groups the platform of one data directory started: one file each, named by the
 * group's id and holding the mark its leader carries in its environment. Each group has a
 * watcher that ends it with the platform (host-process.ts); if the watcher itself was killed
 * (a SIGKILL of the whole tree, the OOM killer), the group would run on. The next start ends
 * such leftovers, but only a pid whose environment still holds its mark: a pid reused by an
 * unrelated process is left alone. Where /proc is missing (not Linux), it does nothing.
 */
export class ProcessRegistry {
  private readonly dir: string;

  constructor(dir: string) {
    this.dir = dir;
  }

  /** A new mark for one process, to put in its environment. */
  newMark(): string {
    return randomBytes(12).toString('hex');
  }

  async record(pid: number, mark: string): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
    await fs.writeFile(path.join(this.dir, String(pid)), mark, { mode: 0o600 });
  }

  async forget(pid: number): Promise<void> {
    await fs.rm(path.join(this.dir, String(pid)), { force: true });
  }

  /** Ends every recorded group whose leader still carries its mark; forgets every record. Returns the pids ended. */
  async endLeftovers(): Promise<number[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const ended: number[] = [];
    for (const name of names.filter((entry) => /^\d+$/.test(entry))) {
      const pid = Number(name);
      const mark = await fs.readFile(path.join(this.dir, name), 'utf8').catch(() => '');
      if (mark && (await carriesMark(pid, mark))) {
        endGroup(pid);
        ended.push(pid);
      }
      await this.forget(pid);
    }
    return ended;
  }
}

async function carriesMark(pid: number, mark: string): Promise<boolean> {
  const environ = await fs.readFile(`/proc/${pid}/environ`, 'latin1').catch(() => '');
  return environ.split('\0').includes(`${PROCESS_MARK}=${mark}`);
}

function endGroup(pid: number): void {
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // Gone between the check and the signal: nothing left to end.
  }
}
