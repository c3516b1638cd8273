import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../lib/observability/logger.ts';
import { FileJournal } from '../../lib/platform/journal.ts';

interface Line {
  n: number;
}

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((dir) => fs.rm(dir, { recursive: true, force: true })));
});

async function journalFile(): Promise<string> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-journal-'));
  dirs.push(dir);
  return path.join(dir, 'journal.jsonl');
}

function open(file: string, batches: Line[][] = []): FileJournal<Line> {
  return new FileJournal<Line>(file, { onDurable: (records) => batches.push(records), log: createLogger('silent') });
}

async function readAll(file: string): Promise<Line[]> {
  const read: Line[] = [];
  for await (const line of open(file).read()) read.push(line);
  return read;
}

describe('FileJournal', () => {
  it('reads back what was appended, in order, and nothing from a missing file', async () => {
    const file = await journalFile();
    expect(await readAll(file)).toEqual([]);
    const journal = open(file);
    await journal.append([{ n: 1 }, { n: 2 }]);
    await journal.append([{ n: 3 }]);
    await journal.close();
    expect(await readAll(file)).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
    expect(journal.bytes).toBe((await fs.stat(file)).size);
  });

  it('writes appends that arrive during a sync together, with one sync (group commit)', async () => {
    const file = await journalFile();
    const batches: Line[][] = [];
    const journal = open(file, batches);
    await Promise.all(Array.from({ length: 200 }, (_, n) => journal.append([{ n }])));
    await journal.close();
    expect(batches.flat().map((line) => line.n)).toEqual(Array.from({ length: 200 }, (_, n) => n));
    expect(batches.length).toBeLessThanOrEqual(3);
  });

  it('skips a line cut short by a crash, and starts the next append on a line of its own', async () => {
    const file = await journalFile();
    await fs.writeFile(file, '{"n":1}\n{"n":2');
    const journal = open(file);
    expect(await readAll(file)).toEqual([{ n: 1 }]);
    await journal.append([{ n: 3 }]);
    await journal.close();
    expect(await readAll(file)).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it('replaces everything by the snapshot taken at its turn; appends queued behind it follow it', async () => {
    const file = await journalFile();
    const seen: Line[] = [];
    const journal = new FileJournal<Line>(file, { onDurable: (records) => seen.push(...records), log: createLogger('silent') });
    await journal.append([{ n: 1 }]);
    const appended = journal.append([{ n: 2 }]);
    const compacted = journal.compact(() => [{ n: seen.reduce((sum, line) => sum + line.n, 0) }]);
    const after = journal.append([{ n: 10 }]);
    await Promise.all([appended, compacted, after]);
    await journal.close();
    expect(await readAll(file)).toEqual([{ n: 3 }, { n: 10 }]);
    expect(await fs.readdir(path.dirname(file))).toEqual(['journal.jsonl']);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
  });

  it('refuses appends once closed', async () => {
    const journal = open(await journalFile());
    await journal.close();
    await expect(journal.append([{ n: 1 }])).rejects.toThrow(/closed/);
  });
});
