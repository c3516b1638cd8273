import { describe, expect, it } from 'vitest';
import type { EventEnvelope } from '../../lib/events/envelope.ts';
import { BrokerState, type BrokerLimits, type JournalRecord } from '../../lib/platform/broker-state.ts';
import { Feed, FEED_DATA_MAX_BYTES, shownEvent, type DeadLetterEntry } from '../../lib/platform/feed.ts';

const limits: BrokerLimits = { maxEntries: 100, maxBytes: 1024 * 1024, deadLetters: 10, dedupeWindow: 100 };
const event = (id: string, data: unknown = { a: 1 }): EventEnvelope => ({ id, type: 'x.build.start', source: 'test', data });
const dead = (seq: number, id: string): DeadLetterEntry => ({ seq, kind: 'dead-letter', event: event(id), trigger: 't', status: 400, reason: 'no', time: '2026-01-01T00:00:00.000Z' });

function replay(records: JournalRecord[], withLimits = limits): BrokerState {
  const state = new BrokerState(withLimits);
  for (const record of records) state.apply(record);
  return state;
}

/** What a reader of the state can tell apart. */
function view(state: BrokerState) {
  return {
    seq: state.seq,
    feed: state.feed.after(0),
    pending: [...state.pending].map(([seq, p]) => [seq, p.event.id, [...p.deliveries]]),
    deadLetters: [...state.deadLetters.values()],
  };
}

const history: JournalRecord[] = [
  { r: 'accept', seq: 1, event: event('a'), triggers: ['t', 'u'] },
  { r: 'attempt', of: 1, trigger: 't', attempts: 1, retryAt: 100 },
  { r: 'delivered', of: 1, trigger: 't' },
  { r: 'accept', seq: 2, event: event('b'), triggers: ['t'] },
  { r: 'attempt', of: 2, trigger: 't', attempts: 1, retryAt: 100 },
  { r: 'dead', of: 2, entry: dead(3, 'b') },
  { r: 'accept', seq: 4, event: event('c'), triggers: [] },
  { r: 'attempt', of: 1, trigger: 'u', attempts: 2, retryAt: 500 },
];

describe('BrokerState', () => {
  it('keeps undelivered events with their attempts, dead letters and the feed', () => {
    expect(view(replay(history))).toEqual({
      seq: 4,
      feed: [expect.objectContaining({ seq: 1 }), expect.objectContaining({ seq: 2 }), dead(3, 'b'), expect.objectContaining({ seq: 4 })],
      pending: [[1, 'a', [['u', { attempts: 2, retryAt: 500 }]]]],
      deadLetters: [{ of: 2, entry: dead(3, 'b') }],
    });
  });

  it('rebuilds the same state from its snapshot, and records after it apply as they would have', () => {
    const later: JournalRecord[] = [
      { r: 'delivered', of: 1, trigger: 'u' },
      { r: 'accept', seq: 5, event: event('d'), triggers: ['t'] },
      { r: 'replayed', seq: 3 },
    ];
    const whole = replay([...history, ...later]);
    const compacted = replay([...replay(history).snapshot(), ...later]);
    expect(view(compacted)).toEqual(view(whole));
    expect(compacted.hasSeen(JSON.stringify(['test', 'c']))).toBe(true);
  });

  it('drops an accepted event written twice, but not a dead letter published again', () => {
    const state = replay([
      { r: 'accept', seq: 1, event: event('a'), triggers: ['t'] },
      { r: 'delivered', of: 1, trigger: 't' },
      { r: 'accept', seq: 2, event: event('a'), triggers: ['t'] },
      { r: 'accept', seq: 3, event: event('a'), triggers: ['t'], replayOf: 9 },
    ]);
    expect(state.feed.after(0).map((e) => e.seq)).toEqual([1, 3]);
    expect([...state.pending.keys()]).toEqual([3]);
  });

  it('remembers only the last identities of its window, across a snapshot', () => {
    const accepts = ['a', 'b', 'c'].map((id, i): JournalRecord => ({ r: 'accept', seq: i + 1, event: event(id), triggers: [] }));
    const state = replay(replay(accepts, { ...limits, dedupeWindow: 2 }).snapshot(), { ...limits, dedupeWindow: 2 });
    expect(['a', 'b', 'c'].map((id) => state.hasSeen(JSON.stringify(['test', id])))).toEqual([false, true, true]);
  });
});

describe('Feed', () => {
  it('drops the oldest entries past its bound in entries or in bytes', () => {
    const feed = new Feed({ maxEntries: 3, maxBytes: 1024 * 1024 });
    for (let seq = 1; seq <= 5; seq += 1) feed.push({ seq, kind: 'event', event: event(`e${seq}`) });
    expect(feed.after(0).map((e) => e.seq)).toEqual([3, 4, 5]);
    expect(feed.after(4).map((e) => e.seq)).toEqual([5]);

    const small = new Feed({ maxEntries: 100, maxBytes: 1000 });
    for (let seq = 1; seq <= 20; seq += 1) small.push({ seq, kind: 'event', event: event(`e${seq}`, { text: 'x'.repeat(100) }) });
    expect(small.bytes).toBeLessThanOrEqual(1000);
    expect(small.after(0).at(-1)?.seq).toBe(20);
  });

  it('ignores an entry not newer than the newest', () => {
    const feed = new Feed({ maxEntries: 10, maxBytes: 1024 });
    feed.push({ seq: 2, kind: 'event', event: event('b') });
    feed.push({ seq: 1, kind: 'event', event: event('a') });
    expect(feed.after(0).map((e) => e.seq)).toEqual([2]);
  });

  it('shows an event redacted, and without its data when it is too large', () => {
    expect(shownEvent(event('a', { env: { KEY: 'value' } }))).toEqual({ event: event('a', { env: { KEY: '[redacted]' } }) });
    const large = { text: 'x'.repeat(FEED_DATA_MAX_BYTES) };
    const { event: shown, truncated } = shownEvent(event('b', large));
    expect(shown).toEqual({ id: 'b', type: 'x.build.start', source: 'test' });
    expect(truncated).toBe(Buffer.byteLength(JSON.stringify(large)));
  });
});
