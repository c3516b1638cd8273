import type { EventEnvelope } from '../events/envelope.ts';
import { Feed, shownEvent, type DeadLetterEntry, type FeedEntry, type FeedLimits } from './feed.ts';

/**
 * One line of the broker's journal. The journal since the last compaction, read in order,
 * rebuilds the state: a compaction writes the state back as `head`, `seen`, `feed`,
 * `accept`, `attempt` and `dead` records.
 */
export type JournalRecord =
  /** Starts a compacted journal: records numbered up to `seq` are already in the feed and the window. */
  | { r: 'head'; seq: number }
  | { r: 'seen'; keys: string[] }
  | { r: 'feed'; entry: FeedEntry }
  /** An event accepted, to be delivered to `triggers`; `replayOf` when a dead letter is published again. */
  | { r: 'accept'; seq: number; event: EventEnvelope; triggers: string[]; replayOf?: number }
  /** Attempt `attempts` of a delivery is starting; if it is interrupted, the next one is due at `retryAt`. */
  | { r: 'attempt'; of: number; trigger: string; attempts: number; retryAt: number }
  | { r: 'delivered'; of: number; trigger: string }
  | { r: 'dead'; of: number; entry: DeadLetterEntry }
  /** The dead letter numbered `seq` was published again and leaves the list. */
  | { r: 'replayed'; seq: number };

export interface BrokerLimits extends FeedLimits {
  deadLetters: number;
  /** How many accepted (source, id) pairs are remembered to drop a repeat. */
  dedupeWindow: number;
}

export interface Delivery {
  attempts: number;
  /** When the next attempt is due, in epoch milliseconds. */
  retryAt: number;
}

export interface PendingEvent {
  event: EventEnvelope;
  deliveries: Map<string, Delivery>;
}

export interface DeadLetter {
  /** The accepted event's seq, which names its stored copy. */
  of: number;
  entry: DeadLetterEntry;
}

const SEEN_KEYS_PER_RECORD = 10_000;

/** CloudEvents identity: a producer that sends the same source and id sends the same event. */
export function identity(event: Pick<EventEnvelope, 'source' | 'id'>): string {
  return JSON.stringify([event.source, event.id]);
}

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));
}

/**
 * Everything the broker knows, as the journal's records made it: events not yet delivered to
 * every trigger, dead letters, the deduplication window and the feed. No I/O.
 */
export class BrokerState {
  /** The highest seq recorded. */
  seq = 0;
  readonly pending = new Map<number, PendingEvent>();
  /** Oldest first, by the seq of their feed entry. */
  readonly deadLetters = new Map<number, DeadLetter>();
  readonly feed: Feed;
  private readonly limits: BrokerLimits;
  /** Oldest first. */
  private readonly seen = new Set<string>();
  /** Records numbered up to here were counted by the compaction that wrote the journal. */
  private floor = 0;

  constructor(limits: BrokerLimits) {
    this.limits = limits;
    this.feed = new Feed(limits);
  }

  hasSeen(key: string): boolean {
    return this.seen.has(key);
  }

  delivery(seq: number, trigger: string): Delivery | undefined {
    return this.pending.get(seq)?.deliveries.get(trigger);
  }

  get pendingDeliveries(): number {
    return [...this.pending.values()].reduce((sum, p) => sum + p.deliveries.size, 0);
  }

  apply(record: JournalRecord): void {
    switch (record.r) {
      case 'head':
        this.seq = Math.max(this.seq, record.seq);
        this.floor = record.seq;
        return;
      case 'seen':
        for (const key of record.keys) this.remember(key);
        return;
      case 'feed':
        this.feed.push(record.entry);
        return;
      case 'accept':
        return this.accept(record);
      case 'attempt':
        if (this.delivery(record.of, record.trigger)) this.pending.get(record.of)?.deliveries.set(record.trigger, { attempts: record.attempts, retryAt: record.retryAt });
        return;
      case 'delivered':
        return this.settle(record.of, record.trigger);
      case 'dead':
        return this.deadLetter(record.of, record.entry);
      case 'replayed':
        this.deadLetters.delete(record.seq);
        return;
    }
  }

  /** The records that rebuild this state, for a compacted journal. */
  snapshot(): JournalRecord[] {
    return [
      { r: 'head', seq: this.seq },
      ...chunks([...this.seen], SEEN_KEYS_PER_RECORD).map((keys): JournalRecord => ({ r: 'seen', keys })),
      ...this.feed.after(0).map((entry): JournalRecord => ({ r: 'feed', entry })),
      ...[...this.pending].flatMap(([seq, { event, deliveries }]): JournalRecord[] => [
        { r: 'accept', seq, event, triggers: [...deliveries.keys()] },
        ...[...deliveries].filter(([, d]) => d.attempts > 0).map(([trigger, d]): JournalRecord => ({ r: 'attempt', of: seq, trigger, ...d })),
      ]),
      ...[...this.deadLetters.values()].map((dead): JournalRecord => ({ r: 'dead', ...dead })),
    ];
  }

  private accept(record: Extract<JournalRecord, { r: 'accept' }>): void {
    this.seq = Math.max(this.seq, record.seq);
    if (record.seq > this.floor) {
      const key = identity(record.event);
      // The same event written twice (a producer retried after a failed write) is delivered once.
      if (record.replayOf === undefined && this.seen.has(key)) return;
      this.remember(key);
      this.feed.push({ seq: record.seq, kind: 'event', ...shownEvent(record.event), ...(record.replayOf === undefined ? {} : { replayOf: record.replayOf }) });
    }
    if (record.triggers.length === 0) return;
    this.pending.set(record.seq, { event: record.event, deliveries: new Map(record.triggers.map((trigger) => [trigger, { attempts: 0, retryAt: 0 }])) });
  }

  private settle(seq: number, trigger: string): void {
    const pending = this.pending.get(seq);
    pending?.deliveries.delete(trigger);
    if (pending?.deliveries.size === 0) this.pending.delete(seq);
  }

  private deadLetter(of: number, entry: DeadLetterEntry): void {
    this.seq = Math.max(this.seq, entry.seq);
    this.settle(of, entry.trigger);
    this.deadLetters.set(entry.seq, { of, entry });
    for (const oldest of this.deadLetters.keys()) {
      if (this.deadLetters.size <= this.limits.deadLetters) break;
      this.deadLetters.delete(oldest);
    }
    if (entry.seq > this.floor) this.feed.push(entry);
  }

  private remember(key: string): void {
    this.seen.add(key);
    for (const oldest of this.seen) {
      if (this.seen.size <= this.limits.dedupeWindow) break;
      this.seen.delete(oldest);
    }
  }
}
