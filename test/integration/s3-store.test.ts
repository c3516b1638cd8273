// The S3 store adapter against the real MinIO of the test environment, and the
// embedded platform using it end to end (the CLI uploads to MinIO, the builder reads from it).
import { randomUUID } from 'node:crypto';
import { S3Client } from '@aws-sdk/client-s3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { S3Store } from '../../lib/adapters/store/s3-store.ts';
import { functionName } from '../../lib/naming.ts';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { requireS3, type TestEnv } from './support/env.ts';

let env: TestEnv;
let store: S3Store;
const prefix = `store-test/${randomUUID()}`;

beforeAll(async () => {
  env = await requireS3();
  const client = new S3Client({ region: env.s3.region, endpoint: env.s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey } });
  store = new S3Store({ bucket: env.s3.bucket, region: env.s3.region, endpoint: env.s3.endpoint, forcePathStyle: true }, client);
});

describe('S3Store on MinIO', () => {
  it('puts, checks, gets and deletes an object', async () => {
    const key = `${prefix}/sources/acme/fn/index.js`;
    await store.put(key, Buffer.from('export const handle = () => 1;'));
    expect(await store.exists(key)).toBe(true);
    expect((await store.get(key, { maxBytes: 1024 })).toString()).toContain('handle');
    expect(store.url(key)).toBe(`s3://${env.s3.bucket}/${key}`);
    await store.delete(key);
    expect(await store.exists(key)).toBe(false);
  });

  it('answers a missing object as a permanent SourceNotFound and an oversized one as SourceTooLarge', async () => {
    await expect(store.get(`${prefix}/missing`, { maxBytes: 10 })).rejects.toMatchObject({ reason: 'SourceNotFound', category: 'permanent' });
    const key = `${prefix}/big`;
    await store.put(key, Buffer.alloc(64));
    await expect(store.get(key, { maxBytes: 10 })).rejects.toMatchObject({ reason: 'SourceTooLarge', statusCode: 413 });
  });

  it('answers bad credentials as a transient error (the broker retries while they are fixed)', async () => {
    const wrong = new S3Client({ region: env.s3.region, endpoint: env.s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: 'wrong', secretAccessKey: 'wrong-secret' } });
    const denied = new S3Store({ bucket: env.s3.bucket, region: env.s3.region, forcePathStyle: true }, wrong);
    await expect(denied.get(`${prefix}/x`, { maxBytes: 10 })).rejects.toMatchObject({ category: 'transient' });
  });
});

describe('the embedded platform on an S3 store', () => {
  let platform: TestPlatform;
  beforeAll(async () => {
    platform = await startPlatform({
      KL_STORE: 's3',
      KL_STORE_BUCKET: env.s3.bucket,
      KL_S3_ENDPOINT: env.s3.endpoint,
      KL_S3_REGION: env.s3.region,
      AWS_ACCESS_KEY_ID: env.s3.accessKeyId,
      AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey,
    });
  });
  afterAll(async () => {
    await platform?.stop();
  });

  it('deploys through the CLI with the source and the build context in MinIO', async () => {
    const tenant = `t${randomUUID().slice(0, 8)}`;
    const result = await platform.cli('deploy', 'examples/faas-greet', '--name', 'greet', '--tenant', tenant);
    expect(result.stdout).toContain(`uploaded`);
    expect(result.stdout).toContain(`s3://${env.s3.bucket}/sources/${tenant}/greet/`);
    expect(result.status).toBe(0);
    const response = await fetch(`${platform.url}/functions/${functionName({ thirdPartyId: tenant, parserId: 'greet' })}?name=S3`);
    expect(await response.json()).toMatchObject({ greeting: 'Greetings, S3' });
    const log = await platform.log();
    expect(log).not.toContain(env.s3.secretAccessKey);
  }, 120_000);
});
