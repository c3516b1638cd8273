import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FilesystemStore } from '../../lib/adapters/store/filesystem-store.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'store-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('FilesystemStore', () => {
  it('puts, gets, checks and deletes objects under the bucket folder', async () => {
    const store = new FilesystemStore(dir, 'bucket');
    await store.put('sources/acme/p/1.js', Buffer.from('code'));
    expect(await store.exists('sources/acme/p/1.js')).toBe(true);
    expect((await store.get('sources/acme/p/1.js', { maxBytes: 100 })).toString()).toBe('code');
    expect(store.url('sources/acme/p/1.js')).toBe(`file://${dir}/bucket/sources/acme/p/1.js`);
    await store.delete('sources/acme/p/1.js');
    expect(await store.exists('sources/acme/p/1.js')).toBe(false);
  });

  it('reads another bucket when the event names one', async () => {
    await fs.mkdir(path.join(dir, 'other', 'k'), { recursive: true });
    await fs.writeFile(path.join(dir, 'other', 'k', 'f'), 'x');
    expect((await new FilesystemStore(dir, 'bucket').get('k/f', { maxBytes: 10, bucket: 'other' })).toString()).toBe('x');
  });

  it('answers missing and oversized objects with permanent errors', async () => {
    const store = new FilesystemStore(dir, 'bucket');
    await expect(store.get('nope', { maxBytes: 10 })).rejects.toMatchObject({ reason: 'SourceNotFound', category: 'permanent' });
    await store.put('big', Buffer.alloc(20));
    await expect(store.get('big', { maxBytes: 10 })).rejects.toMatchObject({ reason: 'SourceTooLarge', statusCode: 413 });
  });

  it('never resolves a key outside its folder', async () => {
    const store = new FilesystemStore(dir, 'bucket');
    await expect(store.put('../escape', Buffer.from('x'))).rejects.toMatchObject({ reason: 'InvalidKey' });
    await expect(fs.stat(path.join(dir, 'escape'))).rejects.toThrow();
  });
});
