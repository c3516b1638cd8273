// The /metrics exposition of a platform that has handled real events, checked by
// Prometheus's own tooling, and against every query of the dashboards and alerts.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { metricNamesIn, queriedExpressions, recordingRuleNames, selectorsIn, TARGET_LABELS } from '../support/promql.ts';
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

/** Families (from # TYPE lines) and the label names their samples carry, from Prometheus text. */
function parseExposition(text: string): Map<string, { type: string; labels: Set<string>; samples: Set<string> }> {
  const families = new Map<string, { type: string; labels: Set<string>; samples: Set<string> }>();
  for (const match of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) families.set(match[1]!, { type: match[2]!, labels: new Set(), samples: new Set() });
  for (const line of text.split('\n')) {
    const sample = /^([a-zA-Z_:][\w:]*)(?:\{([^}]*)\})? /.exec(line);
    if (!sample) continue;
    const [, name = '', labels = ''] = sample;
    const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
    family?.samples.add(name);
    for (const label of labels.matchAll(/([a-zA-Z_]\w*)="/g)) family?.labels.add(label[1]!);
  }
  return families;
}

describe('what dashboards and alerts query', () => {
  it('is exported by a platform that has handled events, with the labels the queries match on', async () => {
    const families = parseExposition(await (await fetch(`${platform.url}/metrics`)).text());
    const recorded = new Set(recordingRuleNames());
    const missing: string[] = [];
    for (const { source, expr } of queriedExpressions()) {
      for (const name of metricNamesIn(expr)) {
        if (recorded.has(name)) continue;
        const family = families.get(name) ?? families.get(name.replace(/_(bucket|sum|count)$/, ''));
        if (!family) missing.push(`${source}: ${name} is not exported`);
        else if (family.type === 'histogram' && families.get(name) === family) missing.push(`${source}: ${name} is a histogram family; query _bucket, _sum or _count`);
      }
      for (const selector of selectorsIn(expr)) {
        if (recorded.has(selector.metric)) continue;
        const family = families.get(selector.metric) ?? families.get(selector.metric.replace(/_(bucket|sum|count)$/, ''));
        if (!family || family.samples.size === 0) continue;
        for (const label of selector.labels) {
          if ((TARGET_LABELS as readonly string[]).includes(label) || label === '__name__' || label === 'le') continue;
          if (!family.labels.has(label)) missing.push(`${source}: ${selector.metric} has no label ${label}`);
        }
      }
    }
    expect(missing).toEqual([]);
    expect(queriedExpressions().length).toBeGreaterThan(40);
  });
});
