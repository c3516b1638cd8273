import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { repoRoot } from '../support/embedded-platform.ts';

describe('the builder cold start', () => {
  it('loads neither the Kubernetes client, the S3 SDK nor the OpenTelemetry SDK to accept its first event on the embedded backend', async () => {
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'kl-imports-'));
    const port = await freePort();
    const child = spawn(process.execPath, ['--import', './test/support/record-imports.mjs', 'function/server.ts'], {
      cwd: repoRoot,
      env: { ...process.env, PORT: String(port), KL_BACKEND: 'embedded', KL_DATA_DIR: dataDir, KL_LOG_LEVEL: 'silent' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    try {
      let status = 0;
      for (let attempt = 0; attempt < 200 && status === 0; attempt += 1) {
        try {
          const response = await fetch(`http://127.0.0.1:${port}/`, {
            method: 'POST',
            headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': randomUUID(), 'ce-source': 'network.notifi.acme', 'ce-subject': 'fn', 'ce-type': 'network.notifi.lambda.service.delete' },
            body: '{}',
          });
          status = response.status;
        } catch {
          await sleep(50);
        }
      }
      expect(status).toBe(200);
    } finally {
      child.kill('SIGINT');
      await new Promise((resolve) => child.once('exit', resolve));
      await rm(dataDir, { recursive: true, force: true });
    }
    const loaded = JSON.parse(/LOADED (.*)/.exec(output)?.[1] ?? 'null') as string[];
    expect(loaded).toContain('faas-js-runtime');
    expect(loaded).toContain('zod');
    // The OpenTelemetry API and its context manager are small and always there (trace ids reach
    // logs and exemplars even with tracing off); the SDK is the heavy part.
    const light = new Set(['@opentelemetry/api', '@opentelemetry/context-async-hooks']);
    const heavy = (name: string) => name.startsWith('@aws-sdk') || name.startsWith('@kubernetes') || (name.startsWith('@opentelemetry') && !light.has(name));
    expect(loaded.filter(heavy)).toEqual([]);
  });
});
