import { describe, expect, it } from 'vitest';
import { exposition, PROMETHEUS_TEXT, toPrometheusText } from '../../lib/observability/exposition.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { MetricName, metrics, reportBuildsFrom } from '../../lib/observability/metrics.ts';

const sample = `# HELP knative_lambda_events counted things
# TYPE knative_lambda_events counter
knative_lambda_events_total{type="a"} 2
# HELP knative_lambda_latency_seconds a histogram
# TYPE knative_lambda_latency_seconds histogram
knative_lambda_latency_seconds_bucket{le="0.1"} 1 # {trace_id="abc"} 0.05 1795669685.814
knative_lambda_latency_seconds_count 1
# EOF
`;

describe('toPrometheusText', () => {
  it('names counter families with _total, drops exemplars and the EOF marker', () => {
    const text = toPrometheusText(sample);
    expect(text).toContain('# TYPE knative_lambda_events_total counter');
    expect(text).toContain('# HELP knative_lambda_events_total counted things');
    expect(text).toContain('knative_lambda_events_total{type="a"} 2');
    expect(text).toContain('knative_lambda_latency_seconds_bucket{le="0.1"} 1\n');
    expect(text).not.toContain('trace_id');
    expect(text).not.toContain('# EOF');
  });
});

describe('exposition', () => {
  it('serves OpenMetrics with exemplars when asked, Prometheus text otherwise', async () => {
    metrics.dependencyRequestDuration.observe({ labels: { dependency: 'store', operation: 'get' }, value: 0.01, exemplarLabels: { trace_id: '4bf92f3577b34da6a3ce929d0e0e4736' } } as never);
    const open = await exposition('application/openmetrics-text; version=1.0.0');
    expect(open.contentType).toContain('application/openmetrics-text');
    expect(open.body).toMatch(/knative_lambda_dependency_request_duration_seconds_bucket\{[^}]*\} 1 # \{trace_id="4bf92f3577b34da6a3ce929d0e0e4736"\}/);
    expect(open.body.trimEnd().endsWith('# EOF')).toBe(true);

    const plain = await exposition('text/plain');
    expect(plain.contentType).toBe(PROMETHEUS_TEXT);
    expect(plain.body).not.toContain('# {trace_id');
    expect(plain.body).toContain(`# TYPE ${MetricName.CloudEventsReceived} counter`);
    expect(plain.body).toContain('knative_lambda_process_cpu_seconds_total');
  });
});

describe('build gauges', () => {
  it('report running builds, the oldest age and how far the most overdue is past its own deadline', async () => {
    const ago = (seconds: number) => new Date(Date.now() - seconds * 1000).toISOString();
    reportBuildsFrom(async () => [
      { spec: { timeoutSeconds: 30 }, status: { startTime: ago(100) } },
      { spec: { timeoutSeconds: 600 }, status: { startTime: ago(200) } },
      { createdAt: ago(10), spec: { timeoutSeconds: 600 }, status: {} },
    ], createLogger('silent'));
    const text = (await exposition('text/plain')).body;
    const read = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
    expect(read(MetricName.BuildsRunning)).toBe(3);
    expect(read(MetricName.OldestRunningBuildAge)).toBeGreaterThanOrEqual(200);
    expect(read(MetricName.OldestBuildOverdue)).toBeGreaterThanOrEqual(70);
    expect(read(MetricName.OldestBuildOverdue)).toBeLessThan(100);
  });
});
