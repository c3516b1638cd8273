import { promises as fs } from 'node:fs';

/** Processes whose working directory lies under `dir`: what a build or a function of that data directory runs. */
export async function processesUnder(dir: string): Promise<number[]> {
  const pids = (await fs.readdir('/proc')).filter((entry) => /^\d+$/.test(entry));
  const found: number[] = [];
  for (const pid of pids) {
    const cwd = await fs.readlink(`/proc/${pid}/cwd`).catch(() => '');
    if (cwd.startsWith(dir)) found.push(Number(pid));
  }
  return found;
}
