import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sha256Hex } from '../../lib/source/load.ts';
import { rawTarGz, rawZip } from '../support/raw-archives.ts';
import { putSource, repoRoot, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { feed, waitForEntry } from '../support/platform-events.ts';
import { listeningAddresses } from '../support/processes.ts';

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

describe('the door: the builder and the broker ingress refuse, with 4xx, what no reader behind them should see', () => {
  const targets = (): Array<[string, string]> => [
    ['builder', builderUrl],
    ['ingress', `${platform.url}/events`],
  ];
  const structuredHeaders = { 'content-type': 'application/cloudevents+json' };
  const structuredEvent = (extra: Record<string, unknown>) => JSON.stringify({ specversion: '1.0', id: randomUUID(), source: 'tests', type: `${PREFIX}.service.delete`, data: { third_party_id: 'hostile', parser_id: 'door' }, ...extra });

  async function post(url: string, headers: Record<string, string>, body: string): Promise<{ status: number; body: { error?: string; message?: string; details?: string[] } }> {
    const response = await fetch(url, { method: 'POST', headers, body });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : {} };
  }

  it('JSON nested 5,000 deep, in either content mode', async () => {
    const deep = `${'['.repeat(5000)}${']'.repeat(5000)}`;
    for (const [, url] of targets()) {
      const binary = await post(url, binaryHeaders(`${PREFIX}.service.delete`), deep);
      const structured = await post(url, structuredHeaders, `{"specversion":"1.0","id":"1","source":"tests","type":"${PREFIX}.service.delete","data":${deep}}`);
      for (const result of [binary, structured]) {
        expect(result.status).toBe(400);
        expect(result.body).toMatchObject({ error: 'InvalidCloudEvent', details: ['data: nested deeper than 64 levels'] });
      }
    }
  });

  it('batched content mode', async () => {
    for (const [, url] of targets()) {
      const result = await post(url, { 'content-type': 'application/cloudevents-batch+json' }, `[${structuredEvent({})}]`);
      expect(result.status).toBe(400);
      expect(result.body.error).toBe('BatchModeUnsupported');
      expect(result.body.message).toMatch(/one CloudEvent per request/);
    }
  });

  it('attributes with NUL, CR/LF or C1 control characters, each named', async () => {
    for (const [, url] of targets()) {
      const structured = await post(url, structuredHeaders, structuredEvent({ id: 'a\u0000b', subject: 'line\r\nbreak' }));
      expect(structured.status).toBe(400);
      expect(structured.body.details).toEqual([expect.stringMatching(/^id: must not contain control characters/), expect.stringMatching(/^subject: must not contain control characters/)]);
      const binary = await post(url, binaryHeaders(`${PREFIX}.service.delete`, { 'ce-correlationid': 'next\u0085line' }), '{}');
      expect(binary.status).toBe(400);
      expect(binary.body.details).toEqual([expect.stringMatching(/^correlationid: must not contain control characters/)]);
    }
  });

  it('delivers an event whose attributes are beyond Latin-1 (in structured mode) instead of dead-lettering it', async () => {
    const correlationid = `注文-${randomUUID()}`;
    const accepted = await fetch(`${platform.url}/events`, { method: 'POST', headers: structuredHeaders, body: structuredEvent({ correlationid, subject: 'Ωmega' }) });
    expect(accepted.status).toBe(202);
    const reply = await waitForEntry(platform.url, (entries) => entries.find((e) => e.event.type === `${PREFIX}.service.deleted`), { correlationId: correlationid, timeoutMs: 10_000 });
    expect(reply.event.correlationid).toBe(correlationid);
    expect((await feed(platform.url, correlationid)).filter((e) => e.kind === 'dead-letter')).toEqual([]);
  });

  it('a body over 1 MiB: 413 PayloadTooLarge', async () => {
    for (const [, url] of targets()) {
      const result = await post(url, structuredHeaders, structuredEvent({ padding: 'x'.repeat(1024 * 1024) }));
      expect(result.status).toBe(413);
      expect(result.body.error).toBe('PayloadTooLarge');
    }
  });

  it('CloudEvent headers on the builder\'s other routes: a 4xx, never a 5xx', async () => {
    const health = await fetch(new URL('/health/liveness', builderUrl), { headers: { 'ce-id': '1' } });
    expect(health.status).toBe(400);
    expect((await fetch(new URL('/health/liveness', builderUrl))).status).toBe(200);
  });

  it('a request target that is no URL is refused, and the platform lives on', async () => {
    const { port } = new URL(platform.url);
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = net.connect(Number(port), '127.0.0.1', () => socket.write('GET // HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (chunk) => (text += chunk));
      socket.on('end', () => resolve(text));
      socket.on('error', reject);
    });
    expect(answer).toMatch(/^HTTP\/1\.1 400/);
    expect((await fetch(`${platform.url}/health/liveness`)).status).toBe(200);
  });
});

describe('the API beyond loopback requires KL_API_TOKEN', () => {
  const token = `token-${randomUUID()}`;

  it('the builder listens on loopback only, whatever faas-js-runtime would do', async () => {
    const { hostname, port } = new URL(builderUrl);
    expect(hostname).toBe('127.0.0.1');
    expect(await listeningAddresses(Number(port))).toEqual(['127.0.0.1']);
  });

  it('the platform refuses to listen on 0.0.0.0 without a token', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-e2e-'));
    const env: NodeJS.ProcessEnv = { ...process.env, KL_DATA_DIR: dataDir, KL_PLATFORM_HOST: '0.0.0.0', KL_PLATFORM_PORT: '0' };
    delete env.KL_API_TOKEN;
    const result = spawnSync(process.execPath, ['lib/platform/main.ts'], { cwd: repoRoot, env, encoding: 'utf8', timeout: 30_000 });
    await fs.rm(dataDir, { recursive: true, force: true });
    expect(result.status).toBe(78);
    expect(result.stderr).toMatch(/KL_PLATFORM_HOST="0\.0\.0\.0": not a loopback address[\s\S]*KL_API_TOKEN/);
  });

  it('with a token, every route but /health/* requires it, and the CLI sends it', async () => {
    const exposed = await startPlatform({ KL_PLATFORM_HOST: '0.0.0.0', KL_API_TOKEN: token });
    try {
      for (const route of ['/api/functions', '/api/platform', '/metrics', '/functions/none/']) {
        const refused = await fetch(`${exposed.url}${route}`);
        expect(refused.status).toBe(401);
        expect(refused.headers.get('www-authenticate')).toBe('Bearer');
      }
      const wrong = await fetch(`${exposed.url}/events`, { method: 'POST', headers: { authorization: 'Bearer not-the-token', 'content-type': 'application/cloudevents+json' }, body: '{}' });
      expect(wrong.status).toBe(401);
      expect((await fetch(`${exposed.url}/api/functions`, { headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
      expect((await fetch(`${exposed.url}/health/liveness`)).status).toBe(200);
      const list = await exposed.cli('list');
      expect(list.stderr).toBe('');
      expect(list.status).toBe(0);
      const deleted = await exposed.cli('delete', 'nothing-here', '--wait', '20');
      expect(deleted.status).toBe(0);
    } finally {
      await exposed.stop();
    }
  });
});
