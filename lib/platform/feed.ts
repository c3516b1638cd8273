import type { EventEnvelope } from '../events/envelope.ts';
import { redactEvent } from '../events/redact.ts';

/** An event whose data is larger than this is shown without it. */
export const FEED_DATA_MAX_BYTES = 32 * 1024;

interface Shown {
  seq: number;
  /** Redacted, and without `data` when `truncated` is set. */
  event: EventEnvelope;
  /** Bytes of JSON data left out because the event was too large to show. */
  truncated?: number;
}

export interface EventEntry extends Shown {
  kind: 'event';
  /** Set when this event is a dead letter published again: that dead letter's seq. */
  replayOf?: number;
}

export interface DeadLetterEntry extends Shown {
  kind: 'dead-letter';
  trigger: string;
  status: number;
  reason: string;
  time: string;
}

export type FeedEntry = EventEntry | DeadLetterEntry;

export interface FeedLimits {
  maxEntries: number;
  maxBytes: number;
}

function jsonBytes(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value) ?? '');
}

/** What a reader may see of an event: redacted, and its data left out when too large to keep. */
export function shownEvent(event: EventEnvelope): { event: EventEnvelope; truncated?: number } {
  const redacted = redactEvent(event);
  const { data, ...attributes } = redacted;
  const dataBytes = jsonBytes(data);
  return dataBytes <= FEED_DATA_MAX_BYTES ? { event: redacted } : { event: attributes, truncated: dataBytes };
}

/**
 * The events and dead letters the CLI follows, oldest first, numbered by `seq`. Bounded in
 * entries and in bytes: the oldest entries go first.
 */
export class Feed {
  private readonly limits: FeedLimits;
  private readonly entries: FeedEntry[] = [];
  private readonly sizes: number[] = [];
  private totalBytes = 0;

  constructor(limits: FeedLimits) {
    this.limits = limits;
  }

  /** Entries come in seq order; one not newer than the newest is already here. */
  push(entry: FeedEntry): void {
    if (entry.seq <= (this.entries.at(-1)?.seq ?? 0)) return;
    const bytes = jsonBytes(entry);
    this.entries.push(entry);
    this.sizes.push(bytes);
    this.totalBytes += bytes;
    while (this.entries.length > this.limits.maxEntries || this.totalBytes > this.limits.maxBytes) {
      this.entries.shift();
      this.totalBytes -= this.sizes.shift() ?? 0;
    }
  }

  /** Entries newer than `seq`, optionally of one correlation id only. */
  after(seq: number, correlationId?: string): FeedEntry[] {
    const start = this.firstAfter(seq);
    const newer = this.entries.slice(start);
    return correlationId === undefined ? newer : newer.filter((e) => e.event.correlationid === correlationId);
  }

  get bytes(): number {
    return this.totalBytes;
  }

  private firstAfter(seq: number): number {
    let low = 0;
    let high = this.entries.length;
    while (low < high) {
      const middle = (low + high) >>> 1;
      if ((this.entries[middle]?.seq ?? 0) <= seq) low = middle + 1;
      else high = middle;
    }
    return low;
  }
}
