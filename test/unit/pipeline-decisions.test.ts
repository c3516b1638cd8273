import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Annotations } from '../../lib/naming.ts';
import { decideBuildOutcome } from '../../lib/pipeline/build-outcome.ts';
import { decideBuildStart } from '../../lib/pipeline/build-start.ts';
import { isLaterRequest, revisionOf } from '../../lib/pipeline/service-spec.ts';
import { announcementKey, decideServiceStatus } from '../../lib/pipeline/service-status.ts';
import type { BuildRecord } from '../../lib/ports/build-executor.ts';
import type { ServiceRecord, ServiceSpec } from '../../lib/ports/deployer.ts';

/** The same instant written with a UTC offset of `minutes`, RFC 3339 style. */
function withOffset(date: Date, minutes: number): string {
  const local = new Date(date.getTime() + minutes * 60_000).toISOString().slice(0, 23);
  const sign = minutes < 0 ? '-' : '+';
  const hours = String(Math.floor(Math.abs(minutes) / 60)).padStart(2, '0');
  return `${local}${sign}${hours}:${String(Math.abs(minutes) % 60).padStart(2, '0')}`;
}

const desired: Omit<ServiceSpec, 'image'> = {
  name: 'fn-acme-p-123',
  identity: { thirdPartyId: 'acme', parserId: 'p' },
  runtime: 'nodejs',
  buildName: 'build-p-abc',
  contentDigest: 'd1',
  env: { A: '1' },
  scaling: {},
  resources: {},
  requestedAt: '2026-01-01T00:00:10.000Z',
  correlation: { correlationId: 'c1', traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' },
};

function service(spec: Partial<ServiceSpec>, status: Partial<ServiceRecord['status']> = {}): ServiceRecord {
  const full: ServiceSpec = { ...desired, image: 'file:///img', ...spec };
  return { spec: full, revision: revisionOf(full), status: { phase: 'Ready', url: 'http://x/functions/fn', ...status } };
}

function build(status: Partial<BuildRecord['status']>, spec: Omit<ServiceSpec, 'image'> = desired): BuildRecord {
  return {
    name: spec.buildName,
    labels: {},
    annotations: { [Annotations.ServiceSpec]: JSON.stringify(spec) },
    spec: { functionName: spec.name, runtime: 'nodejs', contextKey: 'contexts/acme/d1.tar.gz', contentDigest: spec.contentDigest, timeoutSeconds: 60 },
    status: { phase: 'Pending', ...status },
  };
}

describe('decideBuildStart', () => {
  it('builds a new source', () => {
    expect(decideBuildStart(desired, undefined, undefined)).toEqual({ action: 'build', replaceFailed: false });
    expect(decideBuildStart(desired, service({ contentDigest: 'other' }), undefined).action).toBe('build');
  });

  it('answers ready when the same source and configuration already run', () => {
    const running = service({});
    expect(decideBuildStart(desired, running, undefined)).toEqual({ action: 'reply-ready', service: running });
  });

  it('redeploys the existing image when only the configuration changed, without building', () => {
    const decision = decideBuildStart({ ...desired, env: { A: '2' } }, service({}), undefined);
    expect(decision.action).toBe('redeploy');
    expect(decision.action === 'redeploy' && decision.spec.image).toBe('file:///img');
  });

  it('leaves a build in progress alone, and retries one that failed', () => {
    expect(decideBuildStart(desired, undefined, build({ phase: 'Running' })).action).toBe('in-progress');
    expect(decideBuildStart(desired, undefined, build({ phase: 'Failed', announced: false })).action).toBe('in-progress');
    expect(decideBuildStart(desired, undefined, build({ phase: 'Failed', announced: true }))).toEqual({ action: 'build', replaceFailed: true });
  });

  it('deploys a source built before (a rollback) from that build', () => {
    const decision = decideBuildStart(desired, service({ contentDigest: 'd2' }), build({ phase: 'Succeeded', image: 'file:///old' }));
    expect(decision.action === 'redeploy' && decision.spec.image).toBe('file:///old');
  });

  it('rebuilds a service that failed', () => {
    expect(decideBuildStart(desired, service({}, { phase: 'Failed' }), undefined).action).toBe('build');
  });
});

describe('decideBuildOutcome', () => {
  it('does nothing while the build runs or once it was announced', () => {
    expect(decideBuildOutcome(build({ phase: 'Running' }), undefined)).toEqual({});
    expect(decideBuildOutcome(build({ phase: 'Succeeded', image: 'i', announced: true }), undefined)).toEqual({});
  });

  it('deploys a successful build by its image and announces build.complete with the duration from the build itself', () => {
    const outcome = decideBuildOutcome(build({ phase: 'Succeeded', image: 'file:///built', startTime: '2026-01-01T00:00:00Z', completionTime: '2026-01-01T00:00:42Z' }), undefined);
    expect(outcome.deploy?.image).toBe('file:///built');
    expect(outcome.deploy?.env).toEqual({ A: '1' });
    expect(outcome.announce?.kind).toBe('build.complete');
    expect(outcome.announce?.data).toMatchObject({ duration_seconds: 42, cache_hit: false, superseded: false, correlation_id: 'c1', build_id: 'build-p-abc' });
    expect(outcome.announce?.correlation.traceparent).toBe(desired.correlation.traceparent);
  });

  it('does not let an older request replace a newer deployment', () => {
    const newer = service({ buildName: 'build-p-new', requestedAt: '2026-01-01T00:05:00.000Z' });
    const outcome = decideBuildOutcome(build({ phase: 'Succeeded', image: 'file:///old' }), newer);
    expect(outcome.deploy).toBeUndefined();
    expect(outcome.announce?.data.superseded).toBe(true);
  });

  it('compares request times as instants, whatever their offsets', () => {
    // 00:05+02:00 is 22:05Z the day before: earlier than the build's request at 00:00:10Z.
    const earlierWithOffset = service({ buildName: 'build-p-new', requestedAt: '2026-01-01T00:05:00+02:00' });
    expect(decideBuildOutcome(build({ phase: 'Succeeded', image: 'file:///new' }), earlierWithOffset).announce?.data.superseded).toBe(false);
    const laterWithOffset = service({ buildName: 'build-p-new', requestedAt: '2025-12-31T23:00:20-01:00' });
    expect(decideBuildOutcome(build({ phase: 'Succeeded', image: 'file:///new' }), laterWithOffset).announce?.data.superseded).toBe(true);
    fc.assert(
      fc.property(fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), fc.date({ min: new Date('2000-01-01'), max: new Date('2100-01-01'), noInvalidDate: true }), fc.integer({ min: -14 * 60, max: 14 * 60 }), (a, b, offsetMinutes) => {
        expect(isLaterRequest(withOffset(a, offsetMinutes), b.toISOString())).toBe(a.getTime() > b.getTime());
      }),
    );
    expect(isLaterRequest('not a time', '2026-01-01T00:00:00Z')).toBe(false);
    expect(isLaterRequest('2026-01-01T00:00:00Z', 'not a time')).toBe(true);
  });

  it('announces build.timeout on a deadline and build.failed otherwise, with reason and log tail', () => {
    expect(decideBuildOutcome(build({ phase: 'Failed', reason: 'DeadlineExceeded', logTail: 'slow' }), undefined).announce).toMatchObject({ kind: 'build.timeout', data: { timeout_seconds: 60, log_tail: 'slow' } });
    const failed = decideBuildOutcome(build({ phase: 'Failed', reason: 'BuildFailed', message: 'npm ci exited with status 1', logTail: 'ERR!' }), undefined);
    expect(failed.deploy).toBeUndefined();
    expect(failed.announce).toMatchObject({ kind: 'build.failed', data: { reason: 'BuildFailed', message: 'npm ci exited with status 1', error_category: 'permanent', log_tail: 'ERR!' } });
  });
});

describe('announcement ids', () => {
  it('are the same for every repeat of one announcement, and differ for another object or outcome', () => {
    const done = build({ phase: 'Succeeded', image: 'file:///img' });
    const first = { ...done, createdAt: '2026-01-01T00:00:00Z' };
    const id = decideBuildOutcome(first, undefined).announce?.id;
    expect(id).toMatch(/^build\.complete-[0-9a-f]{32}$/);
    expect(decideBuildOutcome(structuredClone(first), undefined).announce?.id).toBe(id);
    expect(decideBuildOutcome({ ...first, createdAt: '2026-01-01T00:10:00Z' }, undefined).announce?.id).not.toBe(id);
    expect(decideBuildOutcome({ ...first, status: { phase: 'Failed', reason: 'BuildFailed' } }, undefined).announce?.id).not.toBe(id);
    const ready = service({});
    expect(decideServiceStatus(ready)?.id).toBe(decideServiceStatus(structuredClone(ready))?.id);
    expect(decideServiceStatus(service({ requestedAt: '2026-02-01T00:00:00Z' }))?.id).not.toBe(decideServiceStatus(ready)?.id);
    expect(decideServiceStatus(service({}, { phase: 'Failed' }))?.id).not.toBe(decideServiceStatus(ready)?.id);
  });
});

describe('decideServiceStatus', () => {
  it('announces ready once per revision', () => {
    const ready = service({});
    expect(decideServiceStatus(ready)).toMatchObject({ kind: 'service.ready', data: { url: 'http://x/functions/fn', revision: ready.revision } });
    expect(decideServiceStatus({ ...ready, status: { ...ready.status, announcedRevision: announcementKey(ready) } })).toBeUndefined();
  });

  it('announces a failure even after the same revision was announced ready', () => {
    const ready = service({});
    const failed = { ...ready, status: { ...ready.status, phase: 'Failed' as const, reason: 'CrashLoop', message: 'crashed', announcedRevision: announcementKey(ready) } };
    expect(decideServiceStatus(failed)).toMatchObject({ kind: 'service.failed', data: { reason: 'CrashLoop' } });
  });

  it('says nothing while deploying', () => {
    expect(decideServiceStatus(service({}, { phase: 'Deploying' }))).toBeUndefined();
  });
});
