import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionName } from '../../lib/naming.ts';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';

/**
 * The router keeps each function's record in memory; every change to the record must
 * reach the very next request through it.
 */
let platform: TestPlatform;

const fn = (parserId: string) => functionName({ thirdPartyId: 'local', parserId });
const routed = (parserId: string, query = '') => fetch(`${platform.url}/functions/${fn(parserId)}${query}`);

beforeAll(async () => {
  platform = await startPlatform({ KL_FUNCTION_MAX_RESTARTS: '1' });
});
afterAll(async () => {
  await platform?.stop();
});

describe('the router never answers from a stale record', () => {
  it('sends the request right after a redeploy to the new revision', async () => {
    expect((await platform.cli('deploy', 'test/fixtures/revision-marker.mjs', '--name', 'marker', '--env', 'MARK=one')).status).toBe(0);
    expect(await (await routed('marker')).text()).toBe('one');
    expect((await platform.cli('deploy', 'test/fixtures/revision-marker.mjs', '--name', 'marker', '--env', 'MARK=two')).status).toBe(0);
    expect(await (await routed('marker')).text()).toBe('two');
  }, 60_000);

  it('answers 404 right after a delete', async () => {
    expect((await routed('marker')).status).toBe(200);
    expect((await platform.cli('delete', 'marker')).status).toBe(0);
    expect((await routed('marker')).status).toBe(404);
  }, 60_000);

  it('answers 503 once a crash-looping function is marked failed', async () => {
    expect((await platform.cli('deploy', 'test/fixtures/crashy.mjs', '--name', 'crashloop')).status).toBe(0);
    expect((await routed('crashloop')).status).toBe(200);
    const failed = async () => {
      const response = await routed('crashloop', '?crash=yes');
      await response.arrayBuffer();
      return response.status;
    };
    await expect.poll(failed, { timeout: 20_000, interval: 200 }).toBe(503);
    const status = (await platform.api<Array<{ name: string; phase: string }>>('/api/functions')).find((f) => f.name === fn('crashloop'))?.phase;
    expect(status).toBe('Failed');
  }, 60_000);
});
