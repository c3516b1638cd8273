import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MAX_CACHED_RECORDS, RecordStore } from '../../lib/adapters/local/records.ts';

interface Counter {
  count: number;
  phase: 'Deploying' | 'Ready';
  spec: number;
}

let dir: string;
let store: RecordStore<Counter>;

beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'records-'));
  store = new RecordStore<Counter>(dir, 'record.json');
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('RecordStore: one writer per record', () => {
  it('loses no update when hundreds of read-modify-writes of one record run at once', async () => {
    await store.put('fn', { count: 0, phase: 'Deploying', spec: 0 });
    await Promise.all(
      Array.from({ length: 300 }, (_, i) =>
        i % 3 === 0
          ? store.upsert('fn', (current) => ({ ...(current ?? { phase: 'Deploying', spec: 0 }), count: (current?.count ?? 0) + 1 }))
          : store.update('fn', (current) => ({ ...current, count: current.count + 1 })),
      ),
    );
    expect((await store.get('fn'))?.count).toBe(300);
  });

  it('a status written while the spec is re-applied is never overwritten (the lost Ready)', async () => {
    for (let round = 0; round < 50; round += 1) {
      await store.put('fn', { count: 0, phase: 'Deploying', spec: round });
      const reapply = store.upsert('fn', (current) => (current ? { ...current, spec: round + 1 } : undefined));
      const ready = store.update('fn', (current) => ({ ...current, phase: 'Ready' }));
      await Promise.all([reapply, ready]);
      expect(await store.get('fn')).toEqual({ count: 0, phase: 'Ready', spec: round + 1 });
    }
  });

  it('serialises removal with updates: an update queued after a remove finds nothing', async () => {
    await store.put('fn', { count: 1, phase: 'Ready', spec: 1 });
    const [, , updated] = await Promise.all([store.update('fn', (c) => ({ ...c, count: 2 })), store.remove('fn'), store.update('fn', (c) => ({ ...c, count: 3 }))]);
    expect(updated).toBeUndefined();
    expect(await store.get('fn')).toBeUndefined();
    expect(await store.list()).toEqual([]);
  });
});

describe('RecordStore: cached reads', () => {
  it('reads every write of its own, and a removal, on the next get', async () => {
    await store.put('fn', { count: 1, phase: 'Deploying', spec: 1 });
    expect(await store.get('fn')).toEqual({ count: 1, phase: 'Deploying', spec: 1 });
    await store.update('fn', (c) => ({ ...c, phase: 'Ready' }));
    expect(await store.get('fn')).toEqual({ count: 1, phase: 'Ready', spec: 1 });
    await store.remove('fn');
    expect(await store.get('fn')).toBeUndefined();
  });

  it('reads what another process wrote, even a record of the same size, and its removal', async () => {
    const other = new RecordStore<Counter>(dir, 'record.json');
    await store.put('fn', { count: 1, phase: 'Ready', spec: 1 });
    expect(await store.get('fn')).toEqual({ count: 1, phase: 'Ready', spec: 1 });
    for (let count = 2; count < 10; count += 1) {
      await other.put('fn', { count, phase: 'Ready', spec: 1 });
      expect(await store.get('fn')).toEqual({ count, phase: 'Ready', spec: 1 });
    }
    await other.remove('fn');
    expect(await store.get('fn')).toBeUndefined();
    await other.put('fn', { count: 0, phase: 'Deploying', spec: 2 });
    expect(await store.get('fn')).toEqual({ count: 0, phase: 'Deploying', spec: 2 });
  });

  it('reads a file another program replaced in place', async () => {
    await store.put('fn', { count: 1, phase: 'Ready', spec: 1 });
    expect((await store.get('fn'))?.spec).toBe(1);
    await fs.writeFile(path.join(dir, 'fn', 'record.json'), JSON.stringify({ count: 1, phase: 'Ready', spec: 22 }));
    expect((await store.get('fn'))?.spec).toBe(22);
  });

  it('hands out frozen values, so no reader can change what the next one reads', async () => {
    await store.put('fn', { count: 1, phase: 'Ready', spec: 1 });
    const read = await store.get('fn');
    expect(() => Object.assign(read as Counter, { count: 2 })).toThrow(TypeError);
    expect((await store.get('fn'))?.count).toBe(1);
  });

  it('holds a bounded number of open files however many records are read, and still reads each right', async () => {
    const openFiles = async () => (await fs.readdir('/proc/self/fd')).length;
    const names = Array.from({ length: 3 * MAX_CACHED_RECORDS }, (_, i) => `fn-${i}`);
    for (const [i, name] of names.entries()) await store.put(name, { count: i, phase: 'Ready', spec: 1 });
    const before = await openFiles();
    for (const [i, name] of names.entries()) expect((await store.get(name))?.count).toBe(i);
    for (const [i, name] of names.entries()) expect((await store.get(name))?.count).toBe(i);
    expect(await openFiles()).toBeLessThanOrEqual(before + MAX_CACHED_RECORDS);
  });
});
