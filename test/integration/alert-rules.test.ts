// The product's PrometheusRule (config/prometheus-rule.yaml) through promtool:
// its groups must load (`check rules`), and the unit tests in
// fixtures/alert-rules.test.yaml must pass (`test rules`): each alert fires
// on synthetic series of a failure and stays silent on healthy ones.
import { execFile } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { allRules, loadPrometheusRule } from '../support/promql.ts';
import { REPO_ROOT, requireTool } from './support/env.ts';

const execFileAsync = promisify(execFile);
const TEST_FILE = resolve(REPO_ROOT, 'test/integration/fixtures/alert-rules.test.yaml');
// The name the fixture's rule_files expects next to it.
const RULES_FILE_NAME = 'alert-rules.rules.yaml';

async function promtool(cwd: string, ...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(requireTool('promtool'), args, { cwd });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

interface AlertTest {
  alertname: string;
  eval_time: string;
  exp_alerts?: unknown[];
}
interface RuleTestFile {
  rule_files: string[];
  tests: Array<{ name?: string; alert_rule_test?: AlertTest[] }>;
}

describe('PrometheusRule under promtool', () => {
  const rule = loadPrometheusRule();

  it('is a PrometheusRule whose groups promtool accepts', async () => {
    expect(rule.apiVersion).toBe('monitoring.coreos.com/v1');
    expect(rule.kind).toBe('PrometheusRule');
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    writeFileSync(join(dir, RULES_FILE_NAME), stringify({ groups: rule.spec.groups }));
    const res = await promtool(dir, 'check', 'rules', RULES_FILE_NAME);
    expect(res.out).toContain(`SUCCESS: ${allRules(rule).length} rules found`);
    expect(res.code).toBe(0);
  });

  it('fires every alert on failing series and none on healthy ones (promtool test rules)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'alert-rules-'));
    // promtool compares annotations verbatim when an alert fires; the fixture
    // asserts labels only, so annotations are left out of this copy (their
    // templates are checked by `check rules` above, their content by
    // test/unit/observability-manifests.test.ts).
    const groups = rule.spec.groups.map((g) => ({
      ...g,
      rules: g.rules.map(({ annotations: _annotations, ...r }) => r),
    }));
    writeFileSync(join(dir, RULES_FILE_NAME), stringify({ groups }));
    copyFileSync(TEST_FILE, join(dir, 'alert-rules.test.yaml'));
    const res = await promtool(dir, 'test', 'rules', 'alert-rules.test.yaml');
    expect(res.out).toContain('SUCCESS');
    expect(res.code).toBe(0);
  });

  it('has a firing and a silent promtool case for every alert, and cases only for alerts that exist', () => {
    const tests = (parse(readFileSync(TEST_FILE, 'utf8')) as RuleTestFile).tests;
    expect(tests.length).toBeGreaterThan(0);
    const cases = tests.flatMap((t) => t.alert_rule_test ?? []);
    const alerts = allRules(rule).flatMap((r) => (r.alert ? [r.alert] : []));
    expect(alerts.length).toBeGreaterThanOrEqual(12);
    for (const alert of alerts) {
      const mine = cases.filter((c) => c.alertname === alert);
      expect(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${alert} never fires in the fixture`).toBe(true);
      expect(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${alert} is never checked silent in the fixture`).toBe(true);
    }
    // Every alert is checked in the healthy case, with nothing firing.
    const healthy = tests[0]!.alert_rule_test ?? [];
    expect(new Set(healthy.map((c) => c.alertname))).toEqual(new Set(alerts));
    expect(healthy.every((c) => (c.exp_alerts ?? []).length === 0)).toBe(true);
    for (const c of cases) expect(alerts, `fixture tests unknown alert ${c.alertname}`).toContain(c.alertname);
  });
});
