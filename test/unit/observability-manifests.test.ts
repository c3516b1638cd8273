// The dashboards and the PrometheusRule are only useful if they query what
// the code exports: every metric name in every panel, alert and recording
// rule must be defined in lib/observability/metrics.ts (with the suffixes
// the exposition really has), a recording rule, or a default process metric;
// every alert must carry a severity, a summary and a runbook that exists.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Metric } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { MetricName, registry } from '../../lib/observability/metrics.ts';
import {
  allPanels,
  allRules,
  dashboardFiles,
  loadDashboard,
  loadPrometheusRule,
  metricNamesIn,
  queriedExpressions,
  recordingRuleNames,
  REPO_ROOT,
  runbookExpressions,
  selectorsIn,
  TARGET_LABELS,
} from '../support/promql.ts';

/**
 * The default metrics collectDefaultMetrics registers with our prefix
 * (prom-client 15 on Linux), by type. Listed here, not derived, so a change
 * in prom-client shows up as a failing test instead of silently changing
 * what panels may query.
 */
const DEFAULT_METRICS: Record<string, 'counter' | 'gauge' | 'histogram'> = {
  knative_lambda_process_cpu_user_seconds_total: 'counter',
  knative_lambda_process_cpu_system_seconds_total: 'counter',
  knative_lambda_process_cpu_seconds_total: 'counter',
  knative_lambda_process_start_time_seconds: 'gauge',
  knative_lambda_process_resident_memory_bytes: 'gauge',
  knative_lambda_process_virtual_memory_bytes: 'gauge',
  knative_lambda_process_heap_bytes: 'gauge',
  knative_lambda_process_open_fds: 'gauge',
  knative_lambda_process_max_fds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_min_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_max_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_mean_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_stddev_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_p50_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_p90_seconds: 'gauge',
  knative_lambda_nodejs_eventloop_lag_p99_seconds: 'gauge',
  knative_lambda_nodejs_active_resources: 'gauge',
  knative_lambda_nodejs_active_resources_total: 'gauge',
  knative_lambda_nodejs_active_handles: 'gauge',
  knative_lambda_nodejs_active_handles_total: 'gauge',
  knative_lambda_nodejs_active_requests: 'gauge',
  knative_lambda_nodejs_active_requests_total: 'gauge',
  knative_lambda_nodejs_heap_size_total_bytes: 'gauge',
  knative_lambda_nodejs_heap_size_used_bytes: 'gauge',
  knative_lambda_nodejs_external_memory_bytes: 'gauge',
  knative_lambda_nodejs_heap_space_size_total_bytes: 'gauge',
  knative_lambda_nodejs_heap_space_size_used_bytes: 'gauge',
  knative_lambda_nodejs_heap_space_size_available_bytes: 'gauge',
  knative_lambda_nodejs_version_info: 'gauge',
  knative_lambda_nodejs_gc_duration_seconds: 'histogram',
};

const RUNBOOK_URL_PREFIX = 'https://github.com/knative-lambda/knative-lambda/blob/main/';
const SEVERITIES = ['critical', 'warning', 'info'];

/** prom-client keeps each metric's label names and histogram bounds on the instance; its typings do not show them. */
function internals(name: string): { labelNames: string[]; upperBounds?: number[] } {
  const metric = registry.getSingleMetric(name) as (Metric & { labelNames?: string[]; upperBounds?: number[] }) | undefined;
  if (!metric) throw new Error(`${name} is not registered`);
  return { labelNames: [...(metric.labelNames ?? [])], upperBounds: metric.upperBounds };
}

interface Exported {
  /** The base name in metrics.ts (counters include _total). */
  base: string;
  type: string;
  labels: string[];
}

/** Every series name the exposition can contain, mapped to its metric. */
async function exportedSeries(): Promise<Map<string, Exported>> {
  const out = new Map<string, Exported>();
  for (const m of await registry.getMetricsAsJSON()) {
    const type = String(m.type);
    const { labelNames } = internals(m.name);
    const entry = { base: m.name, type, labels: labelNames };
    if (type === 'histogram') {
      for (const suffix of ['_bucket', '_sum', '_count']) out.set(m.name + suffix, entry);
    } else {
      out.set(m.name, entry);
    }
  }
  return out;
}

describe('metrics available to queries', () => {
  it('lists the default process metrics exactly as the registry has them', async () => {
    const ours = new Set<string>(Object.values(MetricName));
    const defaults = Object.fromEntries(
      (await registry.getMetricsAsJSON()).filter((m) => !ours.has(m.name)).map((m) => [m.name, String(m.type)]),
    );
    expect(defaults).toEqual(DEFAULT_METRICS);
  });

  it('has every metric of metrics.ts queried by at least one dashboard panel', () => {
    const panelNames = new Set(
      queriedExpressions()
        .filter((q) => q.source.startsWith('dashboards/'))
        .flatMap((q) => metricNamesIn(q.expr)),
    );
    for (const name of Object.values(MetricName)) {
      const forms = [name, `${name}_bucket`, `${name}_sum`, `${name}_count`];
      expect(forms.some((f) => panelNames.has(f)), `${name} is on no dashboard`).toBe(true);
    }
  });
});

describe('metric names in panels, alerts, recording rules and runbook queries', () => {
  const queries = [...queriedExpressions(), ...runbookExpressions()];
  const records = new Set(recordingRuleNames());

  it('finds queries in every dashboard and in the PrometheusRule', () => {
    for (const file of dashboardFiles()) {
      const name = `dashboards/${file.split('/').at(-1)}`;
      expect(queries.some((q) => q.source.startsWith(name)), `${name} has no queries`).toBe(true);
    }
    expect(queries.some((q) => q.source.includes(' alert '))).toBe(true);
    expect(queries.some((q) => q.source.includes(' record '))).toBe(true);
    expect(queries.some((q) => q.source.startsWith('docs/runbooks/'))).toBe(true);
  });

  it('queries only exported series (histograms by _bucket/_sum/_count) or recording rules', async () => {
    const exported = await exportedSeries();
    const unknown: string[] = [];
    for (const { source, expr } of queries) {
      const names = metricNamesIn(expr);
      expect(names.length, `${source} queries no metric`).toBeGreaterThan(0);
      for (const name of names) {
        if (!exported.has(name) && !records.has(name)) unknown.push(`${source}: ${name}`);
      }
    }
    expect(unknown).toEqual([]);
  });

  it('matches only on labels the metric has (plus le on buckets and target labels)', async () => {
    const exported = await exportedSeries();
    const wrong: string[] = [];
    for (const { source, expr } of queries) {
      for (const { metric, labels } of selectorsIn(expr)) {
        const m = exported.get(metric);
        if (!m) continue; // recording rules: checked by name above
        const allowed = new Set<string>([...m.labels, ...TARGET_LABELS, ...(metric.endsWith('_bucket') ? ['le'] : [])]);
        for (const label of labels) if (!allowed.has(label)) wrong.push(`${source}: ${metric}{${label}}`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it('bases the build-to-ready SLO on a bucket boundary deploy_duration really has', () => {
    const bounds = internals(MetricName.DeployDuration).upperBounds ?? [];
    expect(bounds).toContain(300);
    const sloRules = allRules().filter((r) => r.record?.startsWith('knative_lambda:deploy_duration_seconds_over_300:'));
    expect(sloRules.length).toBeGreaterThan(0);
    for (const r of sloRules) expect(r.expr).toContain(`${MetricName.DeployDuration}_bucket{le=~"300(\\\\.0)?"}`);
  });
});

describe('metricNamesIn', () => {
  it('reads metric names and recording rules, not functions, keywords, labels, strings, numbers or variables', () => {
    expect(
      metricNamesIn(
        'histogram_quantile(0.99, sum by (handler, le) (rate(a_bucket{code=~"5..|x_total"}[$__rate_interval]))) > 1e3 ' +
          'and on () sum(increase(b_total[1h] offset 1h)) / ignoring (job) group_left (type) rec:c:rate5m ' +
          'or label_replace(rate(d_total[5m]), "outcome", "e_total", "", "") unless sum(x_total) without (instance)',
      ),
    ).toEqual(['a_bucket', 'b_total', 'rec:c:rate5m', 'd_total', 'x_total']);
  });

  it('refuses __name__ selectors, which would hide a name', () => {
    expect(() => metricNamesIn('{__name__=~"knative_lambda_.+"}')).toThrow(/__name__/);
  });

  it('reports the labels of each selector', () => {
    expect(selectorsIn('sum(rate(a_total{code=~"5..", type!="x{y}"}[5m])) / b{le="300"}')).toEqual([
      { metric: 'a_total', labels: ['code', 'type'] },
      { metric: 'b', labels: ['le'] },
    ]);
  });
});

describe('PrometheusRule', () => {
  const rule = loadPrometheusRule();
  const rules = allRules(rule);
  const alerts = rules.filter((r) => r.alert);

  it('is in the kustomization', () => {
    const kustomization = parse(readFileSync(join(REPO_ROOT, 'config/kustomization.yaml'), 'utf8')) as { resources: string[] };
    expect(kustomization.resources).toContain('prometheus-rule.yaml');
  });

  it('covers error rate, latency, build failures, stuck builds, dead letters, dependency errors and both SLOs', () => {
    const names = alerts.map((a) => a.alert!);
    for (const expected of [
      'KnativeLambdaEventErrorRateHigh',
      'KnativeLambdaEventHandlingLatencyHigh',
      'KnativeLambdaBuildFailureRateHigh',
      'KnativeLambdaBuildStuck',
      'KnativeLambdaBuildsNotFinishing',
      'KnativeLambdaEventsDeadLettered',
      'KnativeLambdaDependencyErrorsHigh',
      'KnativeLambdaEventAvailabilityFastBurn',
      'KnativeLambdaEventAvailabilitySlowBurn',
      'KnativeLambdaBuildToReadyLatencyFastBurn',
      'KnativeLambdaBuildToReadyLatencySlowBurn',
    ]) {
      expect(names).toContain(expected);
    }
    expect(new Set(names).size).toBe(names.length);
  });

  it('gives every alert a severity, a summary, a description and a runbook that exists', () => {
    for (const a of alerts) {
      expect(SEVERITIES, `${a.alert} severity`).toContain(a.labels?.severity);
      expect(a.annotations?.summary?.trim(), `${a.alert} summary`).toBeTruthy();
      expect(a.annotations?.description?.trim(), `${a.alert} description`).toBeTruthy();
      const url = a.annotations?.runbook_url ?? '';
      expect(url).toBe(`${RUNBOOK_URL_PREFIX}docs/runbooks/${a.alert}.md`);
      const file = join(REPO_ROOT, url.slice(RUNBOOK_URL_PREFIX.length));
      expect(existsSync(file), `${a.alert}: ${file} is missing`).toBe(true);
      const text = readFileSync(file, 'utf8');
      for (const heading of ['## Symptom', '## Impact', '## Queries', '## Recovery']) {
        expect(text, `${a.alert} runbook lacks ${heading}`).toContain(heading);
      }
    }
  });

  it('has a runbook only for alerts that exist', () => {
    const runbooks = readdirSync(join(REPO_ROOT, 'docs/runbooks')).filter((f) => f.endsWith('.md') && f !== 'README.md');
    expect(runbooks.map((f) => f.replace(/\.md$/, '')).sort()).toEqual(alerts.map((a) => a.alert!).sort());
  });

  it('names recording rules level:metric:operations under knative_lambda, uniquely, each used by an alert or a panel', () => {
    const names = recordingRuleNames(rule);
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names).size).toBe(names.length);
    const used = new Set(queriedExpressions().filter((q) => !q.source.includes(' record ')).flatMap((q) => metricNamesIn(q.expr)));
    for (const name of names) {
      expect(name).toMatch(/^knative_lambda:[a-z0-9_]+:[a-z0-9_]+$/);
      expect(used.has(name) || rules.some((r) => r.record !== name && metricNamesIn(r.expr).includes(name)), `${name} is unused`).toBe(true);
    }
  });

  it('alerts on both SLOs with 1h/5m at 14.4x and 6h/30m at 6x burn rates', () => {
    const fast = alerts.filter((a) => a.alert!.endsWith('FastBurn'));
    expect(fast).toHaveLength(2);
    for (const a of fast) {
      for (const w of ['ratio_rate1h', 'ratio_rate5m']) expect(a.expr).toMatch(new RegExp(`${w} > \\(14\\.4 \\* 0\\.0\\d+\\)`));
      for (const w of ['ratio_rate6h', 'ratio_rate30m']) expect(a.expr).toMatch(new RegExp(`${w} > \\(6 \\* 0\\.0\\d+\\)`));
    }
  });
});

describe('dashboards', () => {
  const files = dashboardFiles();

  it('are the overview, build pipeline, errors and resources dashboards, with unique uids', () => {
    expect(files.map((f) => f.split('/').at(-1)).sort()).toEqual(['build-pipeline.json', 'errors.json', 'overview.json', 'resources.json']);
    const uids = files.map((f) => loadDashboard(f).uid);
    expect(uids.every((u) => typeof u === 'string' && u.length > 0 && u.length <= 40)).toBe(true);
    expect(new Set(uids).size).toBe(uids.length);
  });

  for (const file of files) {
    const name = file.split('/').at(-1)!;
    describe(name, () => {
      it('is valid JSON of a recent schema with a Prometheus datasource variable', () => {
        const d = JSON.parse(readFileSync(file, 'utf8')) as ReturnType<typeof loadDashboard>;
        expect(d.schemaVersion).toBeGreaterThanOrEqual(39);
        expect(d.title).toMatch(/^knative-lambda \/ /);
        const variable = d.templating.list.find((v) => v.name === 'datasource');
        expect(variable).toMatchObject({ type: 'datasource', query: 'prometheus' });
      });

      it('uses the datasource variable on every panel and target, with unique panel ids and a unit', () => {
        const d = loadDashboard(file);
        const panels = allPanels(d);
        const ids = panels.map((p) => p.id);
        expect(ids.every((id) => typeof id === 'number')).toBe(true);
        expect(new Set(ids).size).toBe(ids.length);
        const dataPanels = panels.filter((p) => p.type !== 'row');
        expect(dataPanels.length).toBeGreaterThan(0);
        for (const p of dataPanels) {
          expect(p.datasource, `${name} panel ${p.id}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
          expect(p.targets?.length, `${name} panel ${p.id} has no targets`).toBeGreaterThan(0);
          for (const t of p.targets ?? []) {
            expect(t.datasource, `${name} panel ${p.id} target ${t.refId}`).toEqual({ type: 'prometheus', uid: '${datasource}' });
            expect(t.expr?.trim()).toBeTruthy();
          }
          const refIds = (p.targets ?? []).map((t) => t.refId);
          expect(new Set(refIds).size).toBe(refIds.length);
          const unit = (p as { fieldConfig?: { defaults?: { unit?: string } } }).fieldConfig?.defaults?.unit;
          if (p.type !== 'heatmap') expect(unit, `${name} panel ${p.id} unit`).toBeTruthy();
        }
      });
    });
  }
});
