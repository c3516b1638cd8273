import { ApiException } from '@kubernetes/client-node';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, expect, it } from 'vitest';
import { kubernetesError } from '../../lib/adapters/kubernetes/kube-errors.ts';
import { exposition } from '../../lib/observability/exposition.ts';
import { createLogger } from '../../lib/observability/logger.ts';
import { MetricName, reportBuildsFrom, type ActiveBuild } from '../../lib/observability/metrics.ts';

/** One listing serves the scrapes of a second; the next scrape must list again. */
const SNAPSHOT_MS = 1000;

async function scrape(): Promise<(name: string) => number> {
  const text = (await exposition('text/plain')).body;
  return (name) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);
}

describe('build gauges when the listing fails', () => {
  it('keep their last values instead of reading 0, and log the failure with its status', async () => {
    const lines: string[] = [];
    const log = createLogger('error', 'test', { write: (line: string) => void lines.push(line) });
    const stuck: ActiveBuild = { spec: { timeoutSeconds: 30 }, status: { startTime: new Date(Date.now() - 100_000).toISOString() } };
    let refuse = false;
    reportBuildsFrom(async () => {
      if (refuse) throw kubernetesError(new ApiException(403, 'forbidden', { reason: 'Forbidden', message: 'jobs.batch is forbidden: cannot list resource "jobs"' }, {}), 'list build Jobs');
      return [stuck];
    }, log);

    const before = await scrape();
    expect(before(MetricName.BuildsRunning)).toBe(1);
    expect(before(MetricName.OldestBuildOverdue)).toBeGreaterThanOrEqual(70);

    refuse = true;
    await sleep(SNAPSHOT_MS + 100);
    const after = await scrape();
    expect(after(MetricName.BuildsRunning)).toBe(1);
    expect(after(MetricName.OldestBuildOverdue)).toBeGreaterThanOrEqual(70);
    expect(lines).toHaveLength(1);
    const logged = JSON.parse(lines[0]!) as { msg: string; reason: string; category: string };
    expect(logged).toMatchObject({ reason: 'KubernetesForbidden', category: 'transient' });
    expect(logged.msg).toContain('(403)');
  });
});
