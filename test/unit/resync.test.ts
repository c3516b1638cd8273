import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decideResync } from '../../lib/pipeline/resync.ts';
import { revisionOf } from '../../lib/pipeline/service-spec.ts';
import { announcementKey } from '../../lib/pipeline/service-status.ts';
import type { BuildPhase, BuildRecord } from '../../lib/ports/build-executor.ts';
import type { ServicePhase, ServiceRecord, ServiceSpec } from '../../lib/ports/deployer.ts';

function build(name: string, phase: BuildPhase, announced?: boolean): BuildRecord {
  return {
    name,
    labels: {},
    annotations: {},
    spec: { functionName: `fn-${name}`, runtime: 'nodejs', contextKey: `contexts/acme/${name}.tar.gz`, contentDigest: name, timeoutSeconds: 60 },
    status: { phase, announced },
  };
}

function service(name: string, phase: ServicePhase, announced: 'this revision' | 'an older revision' | 'nothing'): ServiceRecord {
  const spec: ServiceSpec = {
    name,
    identity: { thirdPartyId: 'acme', parserId: name },
    runtime: 'nodejs',
    image: `registry.test/${name}@sha256:${'a'.repeat(64)}`,
    buildName: `build-${name}`,
    contentDigest: 'd1',
    env: {},
    scaling: {},
    resources: {},
    requestedAt: '2026-01-01T00:00:00.000Z',
    correlation: { correlationId: `corr-${name}` },
  };
  const record: ServiceRecord = { spec, revision: revisionOf(spec), status: { phase } };
  const announcedRevision = { 'this revision': announcementKey(record), 'an older revision': 'r0:Ready', nothing: undefined }[announced];
  return { ...record, status: { ...record.status, announcedRevision } };
}

describe('decideResync', () => {
  it('reconciles the builds that ended without their outcome announced', () => {
    const builds = [build('ok', 'Succeeded'), build('broken', 'Failed', false), build('done', 'Succeeded', true), build('told', 'Failed', true), build('busy', 'Running'), build('queued', 'Pending')];
    expect(decideResync(builds, [])).toEqual([
      { target: 'build', name: 'ok' },
      { target: 'build', name: 'broken' },
    ]);
  });

  it('reconciles the services whose readiness or failure of the current revision is not announced', () => {
    const services = [
      service('ready', 'Ready', 'nothing'),
      service('redeployed', 'Ready', 'an older revision'),
      service('failed', 'Failed', 'nothing'),
      service('announced', 'Ready', 'this revision'),
      service('failure-told', 'Failed', 'this revision'),
      service('deploying', 'Deploying', 'nothing'),
    ];
    expect(decideResync([], services)).toEqual([
      { target: 'service', name: 'ready' },
      { target: 'service', name: 'redeployed' },
      { target: 'service', name: 'failed' },
    ]);
  });

  it('puts builds before services: a build applies the service whose readiness follows', () => {
    expect(decideResync([build('b', 'Succeeded')], [service('s', 'Ready', 'nothing')]).map((ref) => ref.target)).toEqual(['build', 'service']);
  });

  it('finds nothing when everything is announced or still running', () => {
    expect(decideResync([build('a', 'Succeeded', true), build('b', 'Running')], [service('s', 'Ready', 'this revision')])).toEqual([]);
  });

  it('names every object at most once, and exactly the ones not announced', () => {
    const phases = fc.constantFrom<BuildPhase>('Pending', 'Running', 'Succeeded', 'Failed');
    const builds = fc.uniqueArray(fc.record({ name: fc.stringMatching(/^build-[a-z0-9]{1,8}$/), phase: phases, announced: fc.option(fc.boolean(), { nil: undefined }) }), { selector: (b) => b.name });
    fc.assert(
      fc.property(builds, (specs) => {
        const records = specs.map((s) => build(s.name, s.phase, s.announced));
        const due = decideResync(records, []).map((ref) => ref.name);
        expect(new Set(due).size).toBe(due.length);
        expect(due).toEqual(specs.filter((s) => (s.phase === 'Succeeded' || s.phase === 'Failed') && !s.announced).map((s) => s.name));
      }),
    );
  });
});
