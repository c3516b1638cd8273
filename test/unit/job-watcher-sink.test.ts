// The job-watcher as a process in the cluster backend, before and after its SinkBinding gives
// it K_SINK: without it, it starts but is not ready and refuses events with 503 (nothing is
// read or changed, so no apiserver is needed to see it); with it, it is ready. The same
// against the real control plane and the real ApiServerSource adapter:
// test/integration/job-watcher-sink.test.ts.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { repoRoot } from '../support/embedded-platform.ts';

const stops: Array<() => Promise<void>> = [];

/** Starts function/server.ts as a job-watcher in the cluster backend, and waits for its liveness probe. */
async function startWatcher(extraEnv: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'kl-sink-'));
  const port = await freePort();
  const child = spawn(process.execPath, ['function/server.ts'], {
    cwd: repoRoot,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: dir,
      PORT: String(port),
      KUBERNETES_SERVICE_HOST: '127.0.0.1',
      KL_ROLE: 'job-watcher',
      KL_STORE: 's3',
      KL_NAMESPACE: 'knative-lambda',
      KL_IMAGE_REPOSITORY: 'registry.example.com/functions',
      KL_DATA_DIR: dir,
      KL_LOG_LEVEL: 'silent',
      ...extraEnv,
    },
    stdio: 'ignore',
  });
  stops.push(async () => {
    child.kill('SIGTERM');
    if (child.exitCode === null) await new Promise((resolve) => child.once('exit', resolve));
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/`;
  await expect.poll(async () => (await fetch(`${url}health/liveness`).catch(() => undefined))?.status, { timeout: 15_000 }).toBe(200);
  return url;
}

afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

describe('the job-watcher without K_SINK', () => {
  it('starts, reports not ready, and answers an ApiServerSource event 503 SinkMissing', async () => {
    const url = await startWatcher({});

    const readiness = await fetch(`${url}health/readiness`);
    expect(readiness.status).toBe(503);
    expect(await readiness.text()).toContain('K_SINK');
    const refused = await fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': 'https://127.0.0.1:6443', 'ce-type': 'dev.knative.apiserver.resource.update', 'ce-subject': '/apis/batch/v1/namespaces/knative-lambda/jobs/build-x' },
      body: JSON.stringify({ apiVersion: 'batch/v1', kind: 'Job', metadata: { name: 'build-x', namespace: 'knative-lambda' } }),
    });
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ error: 'SinkMissing' });
  });

  it('is ready once a revision has it', async () => {
    const url = await startWatcher({ K_SINK: `http://127.0.0.1:${await freePort()}/` });
    expect((await fetch(`${url}health/readiness`)).status).toBe(200);
  });
});
