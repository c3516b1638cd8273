import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { detectFormat, looksLikeText } from '../../lib/source/formats.ts';
import { contextKey, sourceKey } from '../../lib/source/keys.ts';
import { materializeSource, sha256Hex, verifyContentHash } from '../../lib/source/load.ts';
import { rawTarGz, rawZip } from '../support/raw-archives.ts';

const limits = { maxBytes: 1 << 20, maxFiles: 100, maxDepth: 8 };
let dir: string;
beforeEach(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'source-test-'));
});
afterEach(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('sourceKey', () => {
  it('fills the layout, tenant included', () => {
    expect(sourceKey('sources/{third_party_id}/{parser_id}/{content_hash}', { thirdPartyId: 'acme', parserId: 'p', contentHash: 'abc' })).toBe('sources/acme/p/abc');
    expect(sourceKey('global/parser/{third_party_id}-{parser_id}.zip', { thirdPartyId: 'acme', parserId: 'p' })).toBe('global/parser/acme-p.zip');
  });
  it('keeps two tenants with the same function apart', () => {
    const layout = 'sources/{third_party_id}/{parser_id}/{content_hash}';
    expect(sourceKey(layout, { thirdPartyId: 'a', parserId: 'p', contentHash: 'h' })).not.toBe(sourceKey(layout, { thirdPartyId: 'b', parserId: 'p', contentHash: 'h' }));
    expect(contextKey('a', 'd')).not.toBe(contextKey('b', 'd'));
  });
  it('asks for content_hash when the layout needs it', () => {
    expect(() => sourceKey('s/{third_party_id}/{parser_id}/{content_hash}', { thirdPartyId: 'a', parserId: 'p' })).toThrow('content_hash');
  });
});

describe('detectFormat', () => {
  it('recognises archives by their bytes, whatever their name', () => {
    expect(detectFormat('x.js', rawZip([{ name: 'a' }]))).toEqual({ kind: 'zip' });
    expect(detectFormat('x', rawTarGz([{ name: 'a' }]))).toEqual({ kind: 'tar.gz' });
  });
  it('keeps the extension of a single file for the runtimes to decide', () => {
    expect(detectFormat('a/b.ts', Buffer.from('x'))).toEqual({ kind: 'file', extension: '.ts' });
    expect(detectFormat('a/b.MJS', Buffer.from('x'))).toEqual({ kind: 'file', extension: '.mjs' });
    expect(detectFormat('a/b.py', Buffer.from('x'))).toEqual({ kind: 'file', extension: '.py' });
    expect(detectFormat('a/b.go', Buffer.from('x'))).toEqual({ kind: 'file', extension: '.go' });
    expect(detectFormat('a/b', Buffer.from('x'))).toEqual({ kind: 'file', extension: '' });
  });
  it('tells text from binary', () => {
    expect(looksLikeText(Buffer.from('export const a = 1;'))).toBe(true);
    expect(looksLikeText(Buffer.from([0, 1, 2]))).toBe(false);
    expect(looksLikeText(Buffer.from([0xff, 0xfe, 0x41]))).toBe(false);
  });
});

describe('materializeSource', () => {
  it('writes a single file as index.<ext>', async () => {
    const loaded = await materializeSource('k/fn.ts', Buffer.from('export const handle = () => 1;'), dir, limits);
    expect(loaded.singleFile).toBe('index.ts');
    expect(await fs.readFile(path.join(loaded.root, 'index.ts'), 'utf8')).toContain('handle');
  });
  it('uses the single top folder of an archive as its root', async () => {
    const loaded = await materializeSource('k', rawZip([{ name: 'fn/package.json', data: '{}' }, { name: '__MACOSX/x', data: '' }]), dir, limits);
    expect(path.basename(loaded.root)).toBe('fn');
  });
  it('refuses binary data that is not an archive', async () => {
    await expect(materializeSource('k', Buffer.from([0, 159, 146, 150]), dir, limits)).rejects.toThrow('neither a zip or tar.gz archive nor a UTF-8 source file');
  });
});

describe('verifyContentHash', () => {
  it('accepts matching bytes and refuses others', () => {
    const bytes = Buffer.from('abc');
    expect(() => verifyContentHash(bytes, sha256Hex(bytes))).not.toThrow();
    expect(() => verifyContentHash(bytes, '0'.repeat(64))).toThrow('does not match content_hash');
  });
});
