import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionName } from '../../lib/naming.ts';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { publish, waitForEntry } from '../support/platform-events.ts';

const PREFIX = 'network.notifi.lambda';
let platform: TestPlatform;

beforeAll(async () => {
  platform = await startPlatform({ KL_BUILD_TIMEOUT_SECONDS: '3', KL_FUNCTION_START_TIMEOUT_SECONDS: '5' });
});
afterAll(async () => {
  await platform?.stop();
});

describe('builds that do not end well', () => {
  it('a build past its deadline ends with build.timeout and the log tail', async () => {
    const result = await platform.cli('deploy', 'test/fixtures/slow-build.mjs', '--name', 'slow');
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('build timed out after 3s');
    const builds = await platform.api<Array<{ phase: string; reason: string }>>(`/api/builds?function=${functionName({ thirdPartyId: 'local', parserId: 'slow' })}`);
    expect(builds).toMatchObject([{ phase: 'Failed', reason: 'DeadlineExceeded' }]);
  }, 60_000);

  it('build.cancel stops a running build, announced as build.failed (Cancelled)', async () => {
    const deploying = platform.cli('deploy', 'test/fixtures/slow-build.mjs', '--name', 'cancel-me', '--env', 'DIFFERENT=1', '--wait', '30');
    const name = functionName({ thirdPartyId: 'local', parserId: 'cancel-me' });
    await waitForEntry(platform.url, (entries) => entries.find((e) => e.event.type === `${PREFIX}.build.started` && e.event.data.function_name === name));
    const correlationid = `cancel-${randomUUID()}`;
    const response = await publish(platform.url, { type: `${PREFIX}.build.cancel`, source: 'network.notifi.local', subject: 'cancel-me', correlationid });
    expect(response.status).toBe(202);
    const result = await deploying;
    expect(result.status).toBe(1);
    expect(result.stdout, await platform.log()).toContain('build failed (Cancelled)');
    const failed = await waitForEntry(platform.url, (entries) => entries.find((e) => e.event.type === `${PREFIX}.build.failed` && e.event.data.function_name === name));
    expect(failed.event.data).toMatchObject({ reason: 'Cancelled', error_category: 'permanent' });
  }, 60_000);

  it('a function that cannot start ends with service.failed and its log', async () => {
    const result = await platform.cli('deploy', 'test/fixtures/fails-at-start.mjs', '--name', 'nostart');
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('function failed to start (StartFailed)');
    expect(result.stdout).toContain('cannot reach the database');
    const list = await platform.cli('list', '--json');
    expect(JSON.parse(list.stdout)).toContainEqual(expect.objectContaining({ parser_id: 'nostart', phase: 'Failed' }));
    expect((await fetch(`${platform.url}/functions/${functionName({ thirdPartyId: 'local', parserId: 'nostart' })}`)).status).toBe(503);
  }, 60_000);

  it('a failed build is retried by the next build.start of the same source', async () => {
    const result = await platform.cli('deploy', 'test/fixtures/slow-build.mjs', '--name', 'slow');
    expect(result.stdout).toMatch(/building build-slow-\w+\n/);
    expect(result.stdout).not.toContain('already in progress');
    expect(result.stdout).toContain('build timed out');
  }, 60_000);
});
