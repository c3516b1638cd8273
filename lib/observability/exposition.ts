import type { IncomingMessage, ServerResponse } from 'node:http';
import { registry } from './metrics.ts';

export const PROMETHEUS_TEXT = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * The OpenMetrics exposition as Prometheus text 0.0.4: counter families named with
 * `_total`, no exemplars, no `# EOF`. The registry speaks OpenMetrics because exemplars
 * need it; scrapers that do not ask for OpenMetrics get this.
 */
export function toPrometheusText(openMetrics: string): string {
  const counters = new Set([...openMetrics.matchAll(/^# TYPE (\S+) counter$/gm)].map((m) => m[1]));
  const lines = openMetrics.split('\n').flatMap((line) => {
    if (line === '# EOF') return [];
    const meta = /^# (HELP|TYPE) (\S+)( .*)?$/.exec(line);
    if (meta) {
      const [, keyword, family, rest = ''] = meta;
      const name = counters.has(family) ? `${family}_total` : family;
      return [`# ${keyword} ${name}${keyword === 'TYPE' && rest === ' unknown' ? ' untyped' : rest}`];
    }
    const exemplar = line.indexOf(' # {');
    return [exemplar >= 0 ? line.slice(0, exemplar) : line];
  });
  return `${lines.join('\n').trimEnd()}\n`;
}

export async function exposition(accept: string | undefined): Promise<{ contentType: string; body: string }> {
  const openMetrics = await registry.metrics();
  if (accept?.includes('application/openmetrics-text')) return { contentType: registry.contentType, body: openMetrics };
  return { contentType: PROMETHEUS_TEXT, body: toPrometheusText(openMetrics) };
}

/** GET /metrics, for any HTTP server of the platform. */
export async function serveMetrics(request: IncomingMessage, response: ServerResponse): Promise<void> {
  const { contentType, body } = await exposition(request.headers.accept);
  response.writeHead(200, { 'content-type': contentType }).end(body);
}
