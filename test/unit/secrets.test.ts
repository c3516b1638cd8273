import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readSecretEnvironment } from '../../lib/adapters/local/secret-files.ts';
import { buildStartData } from '../../lib/events/payloads.ts';
import { REDACTED, redactEvent } from '../../lib/events/redact.ts';
import { desiredService } from '../../lib/pipeline/service-spec.ts';
import { describeIssues } from '../../lib/validation.ts';

const identity = { third_party_id: 'acme', parser_id: 'fn' };

describe('secret_env in build.start', () => {
  it('names a secret of the acting tenant and one of its keys', () => {
    const data = buildStartData.parse({ ...identity, secret_env: { DB_PASSWORD: { secret: 'db', key: 'password' } } });
    const spec = desiredService({ name: 'fn', identity: { thirdPartyId: 'acme', parserId: 'fn' }, runtime: 'nodejs', buildName: 'b', contentDigest: 'd', data, requestedAt: '', correlation: { correlationId: 'c' } });
    expect(spec.secretEnv).toEqual({ DB_PASSWORD: { name: 'acme.db', key: 'password' } });
  });

  it.each([
    [{ X: { secret: 'globex.db', key: 'k' } }, 'DNS label'],
    [{ X: { secret: 'db', key: '..' } }, '".."'],
    [{ X: { secret: 'db', key: 'a/b' } }, 'Secret key'],
    [{ X: { secret: 'db' } }, 'key'],
    [{ X: { secret: 'db', key: 'k', value: 'inline' } }, 'value'],
    [{ KL_ROLE: { secret: 'db', key: 'k' } }, 'reserved'],
  ])('refuses %j', (secret_env, words) => {
    const result = buildStartData.safeParse({ ...identity, secret_env });
    expect(result.success).toBe(false);
    expect(describeIssues(result.error?.issues ?? []).join('\n')).toContain(words);
  });

  it('refuses a name given both as a plain and as a secret variable', () => {
    const result = buildStartData.safeParse({ ...identity, env: { DB: 'x' }, secret_env: { DB: { secret: 'db', key: 'k' } } });
    expect(result.error?.issues[0]?.message).toContain('not in both');
  });
});

describe('redactEvent', () => {
  it('keeps the names of env and drops its values, leaving the rest alone', () => {
    const event = { id: '1', type: 't', source: 's', data: { ...identity, env: { API_KEY: 'v1', OTHER: 'v2' } } };
    const redacted = redactEvent(event);
    expect(redacted.data).toEqual({ ...identity, env: { API_KEY: REDACTED, OTHER: REDACTED } });
    expect(event.data.env.API_KEY).toBe('v1');
    expect(redactEvent({ id: '1', type: 't', source: 's', data: 'text' }).data).toBe('text');
  });
});

describe('readSecretEnvironment', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'secrets-'));
    await fs.mkdir(path.join(dir, 'acme.db'));
    await fs.writeFile(path.join(dir, 'acme.db', 'password'), 's3cret');
  });
  afterAll(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  it('reads one file per key', async () => {
    expect(await readSecretEnvironment(dir, { DB_PASSWORD: { name: 'acme.db', key: 'password' } })).toEqual({ DB_PASSWORD: 's3cret' });
    expect(await readSecretEnvironment(dir, undefined)).toEqual({});
  });

  it('says which secret and key is missing, and where it looked', async () => {
    await expect(readSecretEnvironment(dir, { X: { name: 'acme.db', key: 'user' } })).rejects.toThrow(`secret "acme.db" key "user": ${path.join(dir, 'acme.db', 'user')} does not exist`);
  });
});
