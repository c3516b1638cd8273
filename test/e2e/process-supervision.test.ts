import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, repoRoot, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { processesUnder } from '../support/processes.ts';

const PREFIX = 'network.notifi.lambda';

async function slowBuildStart(url: string, dataDir: string): Promise<void> {
  const source = await fs.readFile(path.join(repoRoot, 'test/fixtures/slow-build.mjs'));
  const key = `sources/acme/slow/${sha256Hex(source)}.mjs`;
  await putSource(dataDir, key, source);
  const response = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'tests', 'ce-type': `${PREFIX}.build.start` },
    body: JSON.stringify({ third_party_id: 'acme', parser_id: 'slow', source: { key } }),
  });
  expect(response.status).toBe(200);
}

let platform: TestPlatform | undefined;
afterEach(async () => {
  await platform?.stop();
  platform = undefined;
});

describe('no build or function outlives the platform', () => {
  it('a SIGKILL of the embedded platform mid-build ends the build within seconds, and a restart runs it again', async () => {
    platform = await startPlatform();
    const { builderUrl } = await platform.api<{ builderUrl: string }>('/api/platform');
    await slowBuildStart(builderUrl, platform.dataDir);
    await expect.poll(() => processesUnder(platform!.dataDir), { timeout: 20_000 }).not.toEqual([]);
    const first = await platform.api<Array<{ name: string; phase: string }>>('/api/builds');
    expect(first).toMatchObject([{ phase: 'Running' }]);

    await platform.kill('SIGKILL');
    await expect.poll(() => processesUnder(platform!.dataDir), { timeout: 5000, interval: 200 }).toEqual([]);

    await platform.restart();
    await expect.poll(() => processesUnder(platform!.dataDir), { timeout: 20_000 }).not.toEqual([]);
    const workDirs = (await fs.readdir(path.join(platform.dataDir, 'builds', first[0]!.name))).filter((entry) => entry.startsWith('work-'));
    expect(workDirs).toHaveLength(1);
  }, 90_000);

  it('a standalone builder stopped with SIGTERM stops the builds it started', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-standalone-'));
    const port = await freePort();
    const builder = spawn(process.execPath, ['function/server.ts'], { cwd: repoRoot, env: { ...process.env, PORT: String(port), KL_BACKEND: 'embedded', KL_DATA_DIR: dataDir, KL_LOG_LEVEL: 'silent' }, stdio: 'ignore' });
    try {
      const url = `http://127.0.0.1:${port}/`;
      await expect.poll(async () => (await fetch(`${url}health/readiness`).catch(() => undefined))?.status, { timeout: 20_000 }).toBe(200);
      await slowBuildStart(url, dataDir);
      await expect.poll(() => processesUnder(dataDir), { timeout: 20_000 }).not.toEqual([]);
      builder.kill('SIGTERM');
      await new Promise((resolve) => (builder.exitCode !== null ? resolve(undefined) : builder.once('exit', resolve)));
      expect(await processesUnder(dataDir)).toEqual([]);
    } finally {
      builder.kill('SIGKILL');
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);
});
