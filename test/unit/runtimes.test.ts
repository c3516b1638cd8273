import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findRuntime, selectRuntime } from '../../lib/runtimes/registry.ts';

let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'runtime-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('runtime registry', () => {
  it('finds runtimes by name and alias', () => {
    expect(findRuntime('nodejs')?.name).toBe('nodejs');
    expect(findRuntime('node')?.name).toBe('nodejs');
    expect(findRuntime('cobol')).toBeUndefined();
  });

  it('refuses an unknown runtime, naming the supported ones', async () => {
    await expect(selectRuntime('cobol', { root: dir, format: { kind: 'file', extension: '.js' } })).rejects.toThrow('Runtime "cobol" is not supported');
  });

  it('detects Node.js from a package.json, and refuses an archive without one', async () => {
    const archive = { root: dir, format: { kind: 'zip' as const } };
    await expect(selectRuntime(undefined, archive)).rejects.toThrow('No runtime recognises this source');
    await expect(selectRuntime('nodejs', archive)).rejects.toThrow('must hold a package.json');
    await fs.writeFile(path.join(dir, 'package.json'), '{ broken');
    await expect(selectRuntime(undefined, archive)).rejects.toThrow('package.json is not valid JSON');
    await fs.writeFile(path.join(dir, 'package.json'), '{}');
    expect((await selectRuntime(undefined, archive)).name).toBe('nodejs');
  });
});
