// What the dashboards and the PrometheusRule query: every PromQL expression
// (panel targets, recording rules, alerts) and the metric names and label
// matchers in it. Shared by the manifest unit test and the scrape test that
// checks every queried series is really exported.
//
// This is a small lexer, not a PromQL parser: it knows enough of the syntax
// (strings, label matchers, grouping clauses, ranges, offsets, function and
// aggregation calls, Grafana variables) to tell metric names from the rest.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const DASHBOARDS_DIR = join(REPO_ROOT, 'dashboards');
export const PROMETHEUS_RULE_FILE = join(REPO_ROOT, 'config/prometheus-rule.yaml');

/**
 * Labels Prometheus adds to every scraped series (target labels). Queries may
 * group by them; the code does not export them.
 */
export const TARGET_LABELS = ['job', 'instance'] as const;

const KEYWORDS = new Set([
  'and', 'or', 'unless', 'by', 'without', 'on', 'ignoring', 'group_left', 'group_right',
  'offset', 'bool', 'atan2', 'inf', 'nan',
]);

/** Replaces string literals ("...", '...', `...`) by empty ones, so their content is never read as names. */
function blankStrings(expr: string): string {
  return expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""');
}

/** Drops Grafana variables ($__rate_interval, ${datasource}, $runtime). */
function blankVariables(expr: string): string {
  return expr.replace(/\$\{[^}]*\}|\$\w+/g, ' ');
}

/** Drops comments (# to end of line). Strings are blanked first, so a # inside one is gone already. */
function blankComments(expr: string): string {
  return expr.replace(/#[^\n]*/g, ' ');
}

function normalise(expr: string): string {
  return blankComments(blankVariables(blankStrings(expr)));
}

/**
 * Metric names an expression selects, in order of first appearance, without
 * duplicates. Recording-rule names (with colons) are metric names too.
 * `{__name__="x"}` selectors are not supported and make it throw, so a query
 * cannot hide a name from the checks.
 */
export function metricNamesIn(expr: string): string[] {
  if (/__name__/.test(expr)) throw new Error(`selector by __name__ is not supported: ${expr}`);
  const text = normalise(expr)
    // Label matchers, ranges and subqueries, grouping label lists.
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\boffset\s+-?[\w.]+/g, ' ');
  const names: string[] = [];
  // Numbers (with exponents, durations, hex) first, so their letters are not read as names.
  const token = /(\d[\w.]*(?:[eE][+-]?\d+)?)|([A-Za-z_:][\w:]*)(\s*\()?/g;
  for (const m of text.matchAll(token)) {
    const [, number, name, call] = m;
    if (number || !name || call) continue; // a function or aggregation call
    if (KEYWORDS.has(name.toLowerCase())) continue;
    if (!names.includes(name)) names.push(name);
  }
  return names;
}

export interface Selector {
  metric: string;
  /** Label names in the selector's matchers ({code=~"5.."} gives code). */
  labels: string[];
}

/** Every `metric{matchers}` in an expression with the label names it matches on. */
export function selectorsIn(expr: string): Selector[] {
  const text = blankComments(blankVariables(expr.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')));
  const selectors: Selector[] = [];
  for (const m of text.matchAll(/([A-Za-z_:][\w:]*)\s*\{([^}]*)\}/g)) {
    const [, metric, body] = m;
    if (!metric || body === undefined) continue;
    if (KEYWORDS.has(metric.toLowerCase())) continue;
    const labels = [...body.matchAll(/([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)/g)].map((l) => l[1]!);
    selectors.push({ metric, labels });
  }
  return selectors;
}

// ---------------------------------------------------------------- sources

export interface DashboardTarget {
  refId?: string;
  expr?: string;
  datasource?: { type?: string; uid?: string };
}

export interface DashboardPanel {
  id?: number;
  type: string;
  title?: string;
  datasource?: { type?: string; uid?: string };
  targets?: DashboardTarget[];
  panels?: DashboardPanel[];
}

export interface Dashboard {
  uid: string;
  title: string;
  schemaVersion: number;
  panels: DashboardPanel[];
  templating: { list: Array<{ name: string; type: string; query?: unknown }> };
}

export function dashboardFiles(): string[] {
  return readdirSync(DASHBOARDS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => join(DASHBOARDS_DIR, f));
}

export function loadDashboard(file: string): Dashboard {
  return JSON.parse(readFileSync(file, 'utf8')) as Dashboard;
}

/** Every panel, rows' nested panels included. */
export function allPanels(dashboard: Dashboard): DashboardPanel[] {
  const out: DashboardPanel[] = [];
  const walk = (panels: DashboardPanel[] | undefined) => {
    for (const p of panels ?? []) {
      out.push(p);
      walk(p.panels);
    }
  };
  walk(dashboard.panels);
  return out;
}

export interface Rule {
  record?: string;
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface PrometheusRule {
  apiVersion: string;
  kind: string;
  metadata: { name: string; labels?: Record<string, string> };
  spec: { groups: Array<{ name: string; interval?: string; rules: Rule[] }> };
}

export function loadPrometheusRule(): PrometheusRule {
  return parse(readFileSync(PROMETHEUS_RULE_FILE, 'utf8')) as PrometheusRule;
}

export function allRules(rule: PrometheusRule = loadPrometheusRule()): Rule[] {
  return rule.spec.groups.flatMap((g) => g.rules);
}

/** Names of the recording rules the PrometheusRule defines. */
export function recordingRuleNames(rule: PrometheusRule = loadPrometheusRule()): string[] {
  return allRules(rule).flatMap((r) => (r.record ? [r.record] : []));
}

/** Every PromQL expression of the dashboards (panel targets) and of the PrometheusRule (records and alerts). */
export function queriedExpressions(): Array<{ source: string; expr: string }> {
  const out: Array<{ source: string; expr: string }> = [];
  for (const file of dashboardFiles()) {
    const name = `dashboards/${file.slice(DASHBOARDS_DIR.length + 1)}`;
    for (const panel of allPanels(loadDashboard(file))) {
      for (const target of panel.targets ?? []) {
        if (typeof target.expr === 'string' && target.expr.trim() !== '') {
          out.push({ source: `${name} panel ${panel.id ?? '?'} "${panel.title ?? ''}" target ${target.refId ?? '?'}`, expr: target.expr });
        }
      }
    }
  }
  for (const r of allRules()) {
    out.push({ source: `config/prometheus-rule.yaml ${r.alert ? `alert ${r.alert}` : `record ${r.record ?? '?'}`}`, expr: r.expr });
  }
  return out;
}

/**
 * The PromQL in the runbooks' ```promql blocks (docs/runbooks/*.md): one
 * expression per line, `#` lines are comments, an indented line continues
 * the previous expression. Operators paste these during an incident, so they
 * must query real series too.
 */
export function runbookExpressions(): Array<{ source: string; expr: string }> {
  const dir = join(REPO_ROOT, 'docs/runbooks');
  const out: Array<{ source: string; expr: string }> = [];
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.md')).sort()) {
    const text = readFileSync(join(dir, file), 'utf8');
    for (const block of text.matchAll(/```promql\n([\s\S]*?)```/g)) {
      const exprs: string[] = [];
      for (const line of block[1]!.split('\n')) {
        if (line.trim() === '' || line.trim().startsWith('#')) continue;
        if (/^\s/.test(line) && exprs.length > 0) exprs[exprs.length - 1] += `\n${line}`;
        else exprs.push(line);
      }
      for (const expr of exprs) out.push({ source: `docs/runbooks/${file}`, expr });
    }
  }
  return out;
}
