import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RecordStore } from '../../lib/adapters/local/records.ts';

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
