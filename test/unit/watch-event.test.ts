import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { Labels, MANAGED_BY } from '../../lib/naming.ts';
import { decideWatchEvent, RecentKeys } from '../../lib/pipeline/watch-event.ts';

const job = (labels: Record<string, string> = { [Labels.ManagedBy]: MANAGED_BY }, namespace = 'kl') => ({
  apiVersion: 'batch/v1',
  kind: 'Job',
  metadata: { name: 'build-x', namespace, uid: 'u1', resourceVersion: '42', labels },
});
const event = (type: string, data: unknown): EventEnvelope => ({ id: 'new-every-time', type, source: 'https://apiserver', data });

describe('decideWatchEvent', () => {
  it('reconciles our Jobs and Knative Services, keyed by uid and resourceVersion', () => {
    expect(decideWatchEvent(event('dev.knative.apiserver.resource.update', job()), 'kl')).toEqual({ action: 'reconcile', target: 'build', name: 'build-x', namespace: 'kl', dedupeKey: 'u1/42' });
    const ksvc = { ...job(), apiVersion: 'serving.knative.dev/v1', kind: 'Service' };
    expect(decideWatchEvent(event('dev.knative.apiserver.resource.add', ksvc), 'kl')).toMatchObject({ action: 'reconcile', target: 'service' });
  });

  it('decides the same for add and update: only the object counts', () => {
    const add = decideWatchEvent(event('dev.knative.apiserver.resource.add', job()), 'kl');
    const update = decideWatchEvent(event('dev.knative.apiserver.resource.update', job()), 'kl');
    expect(add).toEqual(update);
  });

  it.each([
    ['a delete', event('dev.knative.apiserver.resource.delete', job())],
    ['another event type', event('com.example', job())],
    ['an object not ours', event('dev.knative.apiserver.resource.update', job({}))],
    ['another namespace', event('dev.knative.apiserver.resource.update', job(undefined, 'other'))],
    ['another kind', event('dev.knative.apiserver.resource.update', { ...job(), kind: 'Pod', apiVersion: 'v1' })],
    ['no metadata', event('dev.knative.apiserver.resource.update', { apiVersion: 'batch/v1', kind: 'Job' })],
  ])('ignores %s', (_label, e) => {
    expect(decideWatchEvent(e, 'kl').action).toBe('ignore');
  });
});

describe('RecentKeys', () => {
  it('knows a key once, forgets the oldest past its capacity, and can forget on failure', () => {
    const keys = new RecentKeys(2);
    expect(keys.add('a')).toBe(true);
    expect(keys.add('a')).toBe(false);
    keys.add('b');
    keys.add('c');
    expect(keys.add('a')).toBe(true);
    keys.forget('c');
    expect(keys.add('c')).toBe(true);
  });
});
