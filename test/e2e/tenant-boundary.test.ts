import { createHash, randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionName } from '../../lib/naming.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { publish, waitForEntry } from '../support/platform-events.ts';

const PREFIX = 'network.notifi.lambda';
/** Values that must reach the function and nothing else: searched for in every output. */
const plainValue = `plain-${randomUUID()}`;
const secretValue = `secret-${randomUUID()}`;

/** Answers with digests of its two variables, so the test learns they arrived without echoing them. */
const SOURCE = `import { createHash } from 'node:crypto';
const digest = (value) => createHash('sha256').update(value ?? 'unset').digest('hex');
export const handler = async () => ({ statusCode: 200, body: JSON.stringify({ api: digest(process.env.API_KEY), db: digest(process.env.DB_PASSWORD) }) });
`;

const digest = (value: string) => createHash('sha256').update(value).digest('hex');
const globex = { thirdPartyId: 'globex', parserId: 'invoice' };
const globexFunction = functionName(globex);
let platform: TestPlatform;
let builderUrl: string;

async function postToBuilder(source: string, type: string, data: Record<string, unknown>): Promise<{ status: number; body: { error: string; message: string } }> {
  const response = await fetch(builderUrl, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': source, 'ce-type': `${PREFIX}.${type}` },
    body: JSON.stringify(data),
  });
  return { status: response.status, body: (await response.json()) as { error: string; message: string } };
}

beforeAll(async () => {
  platform = await startPlatform();
  builderUrl = (await platform.api<{ builderUrl: string }>('/api/platform')).builderUrl;
  // The operator's side: globex's secret, as a Kubernetes Secret mounted as files would be.
  const secretDir = path.join(platform.dataDir, 'secrets', 'globex.db');
  await fs.mkdir(secretDir, { recursive: true });
  await fs.writeFile(path.join(secretDir, 'password'), secretValue);
  const bytes = Buffer.from(SOURCE);
  const key = `sources/globex/invoice/${sha256Hex(bytes)}.mjs`;
  await putSource(platform.dataDir, key, bytes);
  const correlationid = `globex-${randomUUID()}`;
  const accepted = await publish(platform.url, {
    type: `${PREFIX}.build.start`,
    source: 'network.notifi.globex',
    correlationid,
    data: { ...{ third_party_id: 'globex', parser_id: 'invoice' }, source: { key }, env: { API_KEY: plainValue }, secret_env: { DB_PASSWORD: { secret: 'db', key: 'password' } } },
  });
  expect(accepted.status).toBe(202);
  await waitForEntry(platform.url, (entries) => entries.find((e) => e.event.type === `${PREFIX}.service.ready`), { correlationId: correlationid, timeoutMs: 90_000 });
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe('secrets by reference', () => {
  it('reach the function: the plain variable and the one read from the tenant\'s secret', async () => {
    const response = await fetch(`${platform.url}/functions/${globexFunction}`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ api: digest(plainValue), db: digest(secretValue) });
  });

  it('appear in no output of the platform: feed, API, dead letters, logs, build logs', async () => {
    const builds = await platform.api<Array<{ name: string }>>(`/api/builds?function=${globexFunction}`);
    const outputs: Record<string, string> = {
      feed: JSON.stringify(await platform.api('/api/events?after=0')),
      deadLetters: JSON.stringify(await platform.api('/api/dead-letters')),
      functions: JSON.stringify(await platform.api('/api/functions')),
      function: JSON.stringify(await platform.api(`/api/functions/${globexFunction}`)),
      builds: JSON.stringify(builds),
      buildLogs: (await Promise.all(builds.map(async (b) => (await fetch(`${platform.url}/api/builds/${b.name}/logs`)).text()))).join('\n'),
      functionLogs: await (await fetch(`${platform.url}/api/functions/${globexFunction}/logs`)).text(),
      platformLog: await platform.log(),
      list: (await platform.cli('list', '--json')).stdout,
    };
    expect(outputs.feed).toContain('API_KEY');
    for (const [name, text] of Object.entries(outputs)) {
      expect(text, name).not.toContain(plainValue);
      expect(text, name).not.toContain(secretValue);
    }
  });
});

describe('one tenant cannot touch another', () => {
  it('acme cannot build from globex\'s source key', async () => {
    const key = (await fs.readdir(path.join(platform.dataDir, 'store', 'knative-lambda', 'sources', 'globex', 'invoice')))[0];
    const result = await postToBuilder('network.notifi.acme', 'build.start', { third_party_id: 'acme', parser_id: 'invoice', source: { key: `sources/globex/invoice/${key}` } });
    expect(result.status).toBe(403);
    expect(result.body.error).toBe('ForeignSourceKey');
    expect(await platform.api(`/api/builds?function=${functionName({ thirdPartyId: 'acme', parserId: 'invoice' })}`)).toEqual([]);
  });

  it('acme cannot delete or cancel globex\'s function by naming globex in the data', async () => {
    const deletion = await postToBuilder('network.notifi.acme', 'service.delete', { third_party_id: 'globex', parser_id: 'invoice' });
    expect(deletion.status).toBe(403);
    expect(deletion.body.error).toBe('TenantMismatch');
    const cancel = await postToBuilder('network.notifi.acme', 'build.cancel', { third_party_id: 'globex', parser_id: 'invoice' });
    expect(cancel.status).toBe(403);
    expect((await fetch(`${platform.url}/functions/${globexFunction}`)).status).toBe(200);
  });

  it('acme cannot read sources from a bucket that is not allowed', async () => {
    const result = await postToBuilder('network.notifi.acme', 'build.start', { third_party_id: 'acme', parser_id: 'fn', source: { bucket: 'globex-private', key: 'sources/acme/fn/x.js' } });
    expect(result.status).toBe(403);
    expect(result.body.error).toBe('BucketNotAllowed');
  });

  it('a refusal sent through the broker is dead-lettered at once (not retried) and counted by reason', async () => {
    const id = randomUUID();
    const accepted = await publish(platform.url, { id, type: `${PREFIX}.service.delete`, source: 'network.notifi.acme', data: { third_party_id: 'globex', parser_id: 'invoice' } });
    expect(accepted.status).toBe(202);
    const dead = await waitForEntry(platform.url, (entries) => entries.find((e) => e.kind === 'dead-letter' && e.event.id === id), { timeoutMs: 10_000 });
    expect(dead.status).toBe(403);
    const metrics = await (await fetch(`${platform.url}/metrics`)).text();
    const refusals = Number(/^knative_lambda_tenant_refusals_total\{reason="TenantMismatch"\} (\d+)/m.exec(metrics)?.[1] ?? 0);
    expect(refusals).toBeGreaterThanOrEqual(3);
    expect(metrics).toMatch(/^knative_lambda_tenant_refusals_total\{reason="ForeignSourceKey"\} [1-9]/m);
    expect(await platform.log()).toMatch(/"reason":"TenantMismatch"/);
  });
});
