import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { configSchema } from '../../lib/config/schema.ts';
import { freePort } from '../../lib/adapters/local/free-port.ts';
import { EventKind, eventType } from '../../lib/events/types.ts';
import { repoRoot } from '../support/embedded-platform.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');
/** A parsed manifest; each test reads the fields it checks. */
type Manifest = { kind: string; metadata: { name: string } } & Record<string, never>;
const documents = (path: string): Manifest[] => parseAllDocuments(read(path)).map((d) => d.toJS() as Manifest);
const kustomization = (dir: string) => parse(read(`${dir}/kustomization.yaml`)) as { resources: string[] };
const all = (dir: string) => kustomization(dir).resources.flatMap((file) => documents(`${dir}/${file}`));

describe('config/ and eventing/', () => {
  const config = all('config');
  const eventing = all('eventing');
  const named = (kind: string) => new Set([...config, ...eventing].filter((d) => d.kind === kind).map((d) => d.metadata.name));

  it('bind every Role to an existing ServiceAccount, and run each function as its own', () => {
    const accounts = named('ServiceAccount');
    for (const binding of config.filter((d) => d.kind === 'RoleBinding') as unknown as Array<{ subjects: Array<{ name: string }>; roleRef: { name: string } }>) {
      expect(named('Role').has(binding.roleRef.name)).toBe(true);
      for (const subject of binding.subjects) expect(accounts.has(subject.name)).toBe(true);
    }
    const services = config.filter((d) => d.kind === 'Service') as unknown as Array<{ metadata: { name: string }; spec: { template: { spec: { serviceAccountName: string; containers: Array<{ env: Array<{ name: string; value?: string }> }> } } } }>;
    expect(services.map((s) => [s.metadata.name, s.spec.template.spec.serviceAccountName])).toEqual([
      ['knative-lambda-builder', 'knative-lambda-builder'],
      ['knative-lambda-job-watcher', 'knative-lambda-job-watcher'],
    ]);
    expect(services.map((s) => s.spec.template.spec.containers[0]!.env.find((e) => e.name === 'KL_ROLE')?.value)).toEqual(['builder', 'job-watcher']);
  });

  it('grant no Role any access to Secrets', () => {
    for (const role of config.filter((d) => d.kind === 'Role') as unknown as Array<{ rules: Array<{ resources: string[] }> }>) {
      expect(role.rules.flatMap((r) => r.resources)).not.toContain('secrets');
    }
  });

  it('configure only variables the configuration schema knows, with valid values', () => {
    const data = (config.find((d) => d.kind === 'ConfigMap') as unknown as { data: Record<string, string> }).data;
    for (const key of Object.keys(data)) expect(Object.keys(configSchema.shape)).toContain(key);
    expect(configSchema.safeParse(data).success).toBe(true);
  });

  it('route every consumed event type to the builder', () => {
    const triggers = eventing.filter((d) => d.kind === 'Trigger') as unknown as Array<{ spec: { filter: { attributes: { type: string } }; subscriber: { ref: { name: string } } } }>;
    for (const kind of [EventKind.BuildStart, EventKind.BuildCancel, EventKind.ServiceDelete]) {
      const trigger = triggers.find((t) => t.spec.filter.attributes.type === eventType('network.notifi.lambda', kind));
      expect(trigger?.spec.subscriber.ref.name).toBe('knative-lambda-builder');
    }
  });
});

describe('func.yaml', () => {
  const func = parse(read('func.yaml')) as { runtime: string; run: { envs: Array<{ name?: string; value: string }> }; deploy: { serviceAccountName: string; healthEndpoints: Record<string, string> } };

  it('runs the builder with its own identity, the shared settings and the health endpoints the function serves', () => {
    expect(func.runtime).toBe('node');
    expect(func.run.envs).toContainEqual({ name: 'KL_ROLE', value: 'builder' });
    expect(func.run.envs).toContainEqual({ value: '{{ configMap:knative-lambda-config }}' });
    expect(func.deploy.serviceAccountName).toBe('knative-lambda-builder');
    expect(func.deploy.healthEndpoints).toEqual({ liveness: '/health/liveness', readiness: '/health/readiness' });
  });

  it('relies on `npm start` starting the function (not the embedded platform) on a cluster, on Node.js 24', async () => {
    const pkg = JSON.parse(read('package.json')) as { scripts: { start: string } };
    // Node.js flags may come first (the platform's heap settings); the entry point is the same.
    expect(pkg.scripts.start).toMatch(/^node (?:--\S+ )*lib\/platform\/main\.ts$/);
    expect(read('.node-version').trim()).toBe('24');
    const port = await freePort();
    const child = spawn(process.execPath, ['lib/platform/main.ts'], {
      cwd: repoRoot,
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBERNETES_SERVICE_HOST: '127.0.0.1', KL_ROLE: 'builder', KL_STORE: 's3', KL_NAMESPACE: 'knative-lambda', KL_IMAGE_REPOSITORY: 'registry.example.com/functions', PORT: String(port) },
    });
    try {
      await expect.poll(async () => (await fetch(`http://127.0.0.1:${port}/health/readiness`).catch(() => undefined))?.status, { timeout: 15_000 }).toBe(200);
      expect(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text()).toContain('knative_lambda_cloudevents_received_total');
      const refused = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', headers: { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-id': '1', 'ce-source': 's', 'ce-type': 'dev.knative.apiserver.resource.update' }, body: '{}' });
      expect(((await refused.json()) as { error: string }).error).toBe('WrongRole');
    } finally {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
  });

  it('ends `npm start` on a cluster with the configuration problem and EX_CONFIG (78), not a stack trace, when a setting cannot work', async () => {
    const clusterEnv = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', KUBERNETES_SERVICE_HOST: '127.0.0.1', KL_ROLE: 'builder', KL_NAMESPACE: 'knative-lambda' };
    const cases: Array<[Record<string, string>, string]> = [
      [{ KL_STORE: 's3' }, 'KL_IMAGE_REPOSITORY'],
      [{ KL_STORE: 'filesystem', KL_IMAGE_REPOSITORY: 'registry.example.com/functions' }, 'KL_STORE'],
    ];
    for (const [settings, named] of cases) {
      const child = spawn(process.execPath, ['lib/platform/main.ts'], { cwd: repoRoot, env: { ...clusterEnv, ...settings, PORT: String(await freePort()) } });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
      expect(code, stderr).toBe(78);
      expect(stderr).toMatch(new RegExp(`^Invalid configuration:\\n  - ${named}`));
      expect(stderr).not.toContain('    at ');
    }
  });
});
