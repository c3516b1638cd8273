import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/source/load.ts';
import { rawTarGz, rawZip } from '../support/raw-archives.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';

const PREFIX = 'network.notifi.lambda';
let platform: TestPlatform;
let builderUrl: string;
/** A name no test file uses elsewhere: if it appears anywhere on disk, an archive escaped. */
const marker = `escaped-${randomUUID()}`;

beforeAll(async () => {
  platform = await startPlatform();
  builderUrl = (await platform.api<{ builderUrl: string }>('/api/platform')).builderUrl;
});
afterAll(async () => {
  await platform?.stop();
});

function binaryHeaders(type: string, extra: Record<string, string> = {}): Record<string, string> {
  return { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'tests', 'ce-type': type, ...extra };
}

async function postToBuilder(headers: Record<string, string>, body: unknown): Promise<{ status: number; body: { error: string; message: string; details: string[] } }> {
  const response = await fetch(builderUrl, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
  const text = await response.text();
  let parsed: { error: string; message: string; details: string[] };
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = { error: '', message: text, details: [] };
  }
  return { status: response.status, body: parsed };
}

async function buildStart(key: string, bytes: Buffer, extra: Record<string, unknown> = {}) {
  await putSource(platform.dataDir, key, bytes);
  return postToBuilder(binaryHeaders(`${PREFIX}.build.start`), { third_party_id: 'hostile', parser_id: 'fn', content_hash: sha256Hex(bytes), source: { key }, ...extra });
}

async function findMarker(roots: string[]): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 12) return;
    const entries = await fs.readdir(dir, { withFileTypes: true }).catch(() => []);
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.name.includes(marker)) found.push(full);
      if (entry.isDirectory() && entry.name !== 'node_modules') await walk(full, depth + 1);
    }
  };
  for (const root of roots) await walk(root, 0);
  return found;
}

describe('malformed events get 4xx with a clear reason', () => {
  it('a request that is not a CloudEvent', async () => {
    const result = await postToBuilder({ 'content-type': 'application/json' }, { hello: 'world' });
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('NotACloudEvent');
  });

  it('a binary-mode event without a type', async () => {
    const headers = binaryHeaders('x');
    delete headers['ce-type'];
    const result = await postToBuilder(headers, {});
    expect(result.status).toBe(400);
    expect(result.body.message).toMatch(/type/);
  });

  it('a structured-mode event that is not JSON', async () => {
    const result = await postToBuilder({ 'content-type': 'application/cloudevents+json' }, '{"specversion": "1.0", "id":');
    expect(result.status).toBeGreaterThanOrEqual(400);
    expect(result.status).toBeLessThan(500);
  });

  it('an event type the builder does not handle', async () => {
    const result = await postToBuilder(binaryHeaders('com.example.other'), {});
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('UnsupportedEventType');
    expect(result.body.details[0]).toContain(`${PREFIX}.build.start`);
  });

  it('a build.start whose payload is wrong in several ways, each named', async () => {
    const result = await postToBuilder(binaryHeaders(`${PREFIX}.build.start`), { third_party_id: '../x', parser_id: 'a b', env: { PATH_: 1 }, timeout_seconds: -1 });
    expect(result.status).toBe(400);
    expect(result.body.error).toBe('InvalidPayload');
    expect(result.body.details.join('\n')).toMatch(/third_party_id[\s\S]*parser_id[\s\S]*env[\s\S]*timeout_seconds/);
  });

  it('a source that is not in the store, and one that does not match its hash', async () => {
    const missing = await postToBuilder(binaryHeaders(`${PREFIX}.build.start`), { third_party_id: 'hostile', parser_id: 'fn', source: { key: 'sources/hostile/none.js' } });
    expect(missing.status).toBe(422);
    expect(missing.body.error).toBe('SourceNotFound');
    await putSource(platform.dataDir, 'sources/hostile/fn/x.js', Buffer.from('export const handle = () => 1;'));
    const mismatch = await postToBuilder(binaryHeaders(`${PREFIX}.build.start`), { third_party_id: 'hostile', parser_id: 'fn', content_hash: '0'.repeat(64), source: { key: 'sources/hostile/fn/x.js' } });
    expect(mismatch.status).toBe(422);
    expect(mismatch.body.error).toBe('ContentHashMismatch');
  });

  it('the broker ingress refuses an invalid CloudEvent, and dead-letters a valid one the builder refuses', async () => {
    const invalid = await fetch(`${platform.url}/events`, { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: JSON.stringify({ specversion: '1.0', id: '1', type: 'x' }) });
    expect(invalid.status).toBe(400);
    expect(((await invalid.json()) as { message: string }).message).toContain('source');

    const id = randomUUID();
    const accepted = await fetch(`${platform.url}/events`, { method: 'POST', headers: binaryHeaders(`${PREFIX}.build.start`, { 'ce-id': id }), body: JSON.stringify({ third_party_id: '' }) });
    expect(accepted.status).toBe(202);
    await expect
      .poll(async () => (await platform.api<Array<{ event: { id: string }; status: number; reason: string }>>('/api/dead-letters')).find((d) => d.event.id === id), { timeout: 10_000 })
      .toMatchObject({ status: 400, reason: expect.stringContaining('third_party_id') });
  });
});

describe('hostile archives get 422 and write nothing outside the work directory', () => {
  const cases: Array<[string, Buffer, string]> = [
    ['zip slip', rawZip([{ name: 'package.json', data: '{}' }, { name: `../../../../${marker}.txt`, data: 'x' }]), 'UnsafeArchivePath'],
    ['absolute tar path', rawTarGz([{ name: 'package.json', data: '{}' }, { name: `${os.tmpdir()}/${marker}.txt`, data: 'x' }]), 'UnsafeArchivePath'],
    ['escaping symlink', rawTarGz([{ name: 'package.json', data: '{}' }, { name: `${marker}-link`, type: '2', linkname: '../../../../../../tmp' }]), 'LinkEscapes'],
    ['symlink then write through it', rawTarGz([{ name: 'package.json', data: '{}' }, { name: 'out', type: '2', linkname: '../../../..' }, { name: `out/${marker}.txt`, data: 'x' }]), 'LinkEscapes'],
    ['device file', rawTarGz([{ name: 'package.json', data: '{}' }, { name: `${marker}-dev`, type: '3' }]), 'DeviceFile'],
    ['zip symlink escape', rawZip([{ name: 'package.json', data: '{}' }, { name: `${marker}-zl`, data: '/etc/passwd', unixMode: 0o120777 }]), 'LinkEscapes'],
  ];

  it.each(cases)('%s', async (_label, archive, reason) => {
    const result = await buildStart(`sources/hostile/fn/${randomUUID()}.bin`, archive);
    expect(result.status).toBe(422);
    expect(result.body.error).toBe(reason);
    expect(result.body.message.length).toBeGreaterThan(10);
  });

  it('an archive over the file-count limit', async () => {
    const many = rawTarGz([{ name: 'package.json', data: '{}' }, ...Array.from({ length: 10_001 }, (_, i) => ({ name: `f/${i}`, data: '' }))]);
    const result = await buildStart('sources/hostile/fn/many.tar.gz', many);
    expect(result.status).toBe(422);
    expect(result.body.error).toBe('ArchiveTooManyFiles');
  });

  it('an archive without package.json', async () => {
    const result = await buildStart('sources/hostile/fn/nopkg.zip', rawZip([{ name: 'index.js', data: 'x' }]));
    expect(result.status).toBe(422);
    expect(result.body.error).toBe('UnknownRuntime');
  });

  it('left no file of theirs anywhere', async () => {
    const roots = [platform.dataDir, os.tmpdir(), path.dirname(platform.dataDir)];
    expect(await findMarker(roots)).toEqual([]);
    const scratch = await fs.readdir(path.join(platform.dataDir, 'scratch')).catch(() => []);
    expect(scratch).toEqual([]);
  });
});

describe('a dependency that is down gets 5xx, so the broker retries', () => {
  let unreachable: TestPlatform;
  beforeAll(async () => {
    unreachable = await startPlatform({ KL_STORE: 's3', KL_S3_ENDPOINT: 'http://127.0.0.1:9', AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_MAX_ATTEMPTS: '1' });
  });
  afterAll(async () => {
    await unreachable?.stop();
  });

  it('answers 503 StoreUnavailable when the store cannot be reached', async () => {
    const { builderUrl: url } = await unreachable.api<{ builderUrl: string }>('/api/platform');
    const response = await fetch(url, { method: 'POST', headers: binaryHeaders(`${PREFIX}.build.start`), body: JSON.stringify({ third_party_id: 'acme', parser_id: 'fn', source: { key: 'sources/acme/fn/x.js' } }) });
    expect(response.status).toBe(503);
    expect(await response.json()).toMatchObject({ error: 'StoreUnavailable' });
  });
});
