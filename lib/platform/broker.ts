import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import type { Logger } from 'pino';
import { httpMessage } from '../adapters/events/http-sink.ts';
import { toEnvelope, type EventEnvelope } from '../events/envelope.ts';
import { transient } from '../errors.ts';
import type { EventSink } from '../ports/event-sink.ts';
import { eventKindLabel } from '../observability/labels.ts';
import { metrics } from '../observability/metrics.ts';
import { BrokerState, identity, type BrokerLimits, type JournalRecord } from './broker-state.ts';
import { DeadLetterStore } from './dead-letter-store.ts';
import { shownEvent, type DeadLetterEntry, type FeedEntry } from './feed.ts';
import { FileJournal, type Journal } from './journal.ts';

export type { DeadLetterEntry, FeedEntry } from './feed.ts';

export interface Trigger {
  name: string;
  accepts: (type: string) => boolean;
  url: () => string;
}

export interface BrokerOptions {
  /** Holds the journal and the dead-lettered events. */
  dir: string;
  retries: number;
  backoffMs: number;
  eventTypePrefix: string;
  log: Logger;
  limits: BrokerLimits;
  /** Past this size the journal is compacted, when that at least halves it. */
  journalMaxBytes: number;
}

export const JOURNAL_FILE = 'journal.jsonl';
const DEAD_LETTER_DIR = 'dead-letters';
const DELIVERY_TIMEOUT_MS = 120_000;
const REASON_MAX_CHARS = 4096;
const INTERRUPTED = 'the platform stopped during the last delivery attempt';

interface Outcome {
  status: number;
  reason: string;
}

/** Statuses the RabbitMQ broker's dispatcher retries; every other 4xx is final. */
export function isRetryable(status: number): boolean {
  return status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;
}

/**
 * The embedded stand-in for a Knative broker: ingress, triggers, delivery with retries and
 * exponential backoff, replies published back, dead letters, and a feed that the CLI follows.
 * An event is journalled before it is acknowledged, each delivery's progress after, so a
 * restart delivers what a crash left undelivered (at least once). A repeated (source, id) is
 * accepted once.
 */
export class EmbeddedBroker implements EventSink {
  private readonly options: BrokerOptions;
  private readonly state: BrokerState;
  private readonly journal: Journal<JournalRecord>;
  private readonly store: DeadLetterStore;
  private readonly triggers = new Map<string, Trigger>();
  private readonly waiters = new Set<() => void>();
  /** Events being journalled, by identity: a repeat waits for the first. */
  private readonly accepting = new Map<string, Promise<void>>();
  /** Deliveries waiting for their turn (their timer) or under way (undefined), by `seq/trigger`. */
  private readonly active = new Map<string, NodeJS.Timeout | undefined>();
  /** Dead letters being stored or replayed, by store key. */
  private readonly busy = new Set<string>();
  private lastSeq = 0;
  private compactedBytes = 0;
  private compaction: Promise<void> | undefined;
  private closed = false;

  private constructor(options: BrokerOptions) {
    this.options = options;
    this.state = new BrokerState(options.limits);
    this.journal = new FileJournal<JournalRecord>(path.join(options.dir, JOURNAL_FILE), { onDurable: (records) => this.applyDurable(records), log: options.log });
    this.store = new DeadLetterStore(path.join(options.dir, DEAD_LETTER_DIR));
  }

  /** Reads the journal back and compacts it. Deliveries left undone resume as their triggers subscribe. */
  static async open(options: BrokerOptions): Promise<EmbeddedBroker> {
    await mkdir(options.dir, { recursive: true });
    const broker = new EmbeddedBroker(options);
    for await (const record of broker.journal.read()) broker.state.apply(record);
    broker.lastSeq = broker.state.seq;
    await broker.compact();
    return broker;
  }

  subscribe(trigger: Trigger): void {
    this.triggers.set(trigger.name, trigger);
    for (const [seq, pending] of this.state.pending) {
      const delivery = pending.deliveries.get(trigger.name);
      if (delivery) this.schedule(seq, trigger.name, delivery.retryAt - Date.now());
    }
  }

  async emit(event: EventEnvelope): Promise<void> {
    await this.publish(event);
  }

  /**
   * Resolves once the event is on disk, or is one already accepted (same source and id): the
   * moment the ingress may answer 202. A transient PlatformError when it cannot be kept.
   */
  async publish(event: EventEnvelope): Promise<void> {
    const key = identity(event);
    if (this.state.hasSeen(key)) return;
    const first = this.accepting.get(key);
    if (first) return first;
    const triggers = [...this.triggers.values()].filter((t) => t.accepts(event.type)).map((t) => t.name);
    const accepted = this.accept(event, triggers).then(() => undefined);
    this.accepting.set(key, accepted);
    try {
      await accepted;
    } finally {
      this.accepting.delete(key);
    }
  }

  /** Entries after `after`, optionally only one correlation id; waits up to `waitMs` for the first. */
  async feed(after: number, correlationId: string | undefined, waitMs: number): Promise<FeedEntry[]> {
    let found = this.state.feed.after(after, correlationId);
    const deadline = Date.now() + waitMs;
    while (found.length === 0 && Date.now() < deadline && !this.closed) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, deadline - Date.now());
        this.waiters.add(wake);
      });
      found = this.state.feed.after(after, correlationId);
    }
    return found;
  }

  /** Oldest first. */
  deadLetters(): DeadLetterEntry[] {
    return [...this.state.deadLetters.values()].map((dead) => dead.entry);
  }

  /**
   * Publishes dead letter `seq` again, unchanged, to the trigger that refused it, and takes it
   * off the list. Resolves to the new event's seq; undefined when there is no such dead letter.
   */
  async replay(seq: number): Promise<number | undefined> {
    const dead = this.state.deadLetters.get(seq);
    if (!dead) return undefined;
    const key = DeadLetterStore.key(dead.of, dead.entry.trigger);
    if (this.busy.has(key)) return undefined;
    this.busy.add(key);
    try {
      const replayed = await this.accept(await this.store.get(key), [dead.entry.trigger], seq);
      await this.store.remove(key);
      return replayed;
    } finally {
      this.busy.delete(key);
    }
  }

  get pendingDeliveries(): number {
    return this.state.pendingDeliveries;
  }

  /** Stops delivering and waits for the journal; what is undelivered is delivered by the next start. */
  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.active.values()) clearTimeout(timer);
    for (const wake of [...this.waiters]) wake();
    await this.journal.close();
  }

  private applyDurable(records: JournalRecord[]): void {
    for (const record of records) this.state.apply(record);
    for (const wake of [...this.waiters]) wake();
  }

  private nextSeq(): number {
    this.lastSeq += 1;
    return this.lastSeq;
  }

  private async accept(event: EventEnvelope, triggers: string[], replayOf?: number): Promise<number> {
    const seq = this.nextSeq();
    const accept: JournalRecord = { r: 'accept', seq, event, triggers, ...(replayOf === undefined ? {} : { replayOf }) };
    await this.write(replayOf === undefined ? [accept] : [accept, { r: 'replayed', seq: replayOf }]);
    for (const trigger of triggers) this.schedule(seq, trigger, 0);
    return seq;
  }

  private async write(records: JournalRecord[]): Promise<void> {
    try {
      await this.journal.append(records);
    } catch (error) {
      throw transient('JournalUnavailable', `The broker could not keep the event on disk: ${(error as Error).message}`, error);
    }
    if (this.journal.bytes > this.options.journalMaxBytes && this.journal.bytes > 2 * this.compactedBytes) void this.compact();
  }

  private compact(): Promise<void> {
    this.compaction ??= (async () => {
      try {
        await this.journal.compact(() => this.state.snapshot());
        this.compactedBytes = this.journal.bytes;
        const kept = [...this.state.deadLetters.values()].map((dead) => DeadLetterStore.key(dead.of, dead.entry.trigger));
        await this.store.prune(new Set([...kept, ...this.busy]));
      } catch (error) {
        this.options.log.warn({ err: error }, 'compacting the broker journal failed');
      } finally {
        this.compaction = undefined;
      }
    })();
    return this.compaction;
  }

  private backoff(attempts: number): number {
    return this.options.backoffMs * 2 ** (attempts - 1);
  }

  /** At most one timer or attempt per delivery, however often it is asked for. */
  private schedule(seq: number, trigger: string, delayMs: number): void {
    const key = `${seq}/${trigger}`;
    if (this.closed || this.active.has(key) || !this.triggers.has(trigger)) return;
    const timer = setTimeout(async () => {
      this.active.set(key, undefined);
      const retryIn = await this.deliver(seq, trigger);
      this.active.delete(key);
      if (retryIn !== undefined) this.schedule(seq, trigger, retryIn);
    }, Math.max(0, delayMs));
    this.active.set(key, timer);
  }

  /** One attempt; resolves to the delay before the next, or undefined once the delivery is settled. */
  private async deliver(seq: number, name: string): Promise<number | undefined> {
    const { retries, log } = this.options;
    const event = this.state.pending.get(seq)?.event;
    const delivery = this.state.delivery(seq, name);
    const trigger = this.triggers.get(name);
    if (!event || !delivery || !trigger || this.closed) return undefined;
    const context = { trigger: name, eventId: event.id, eventType: event.type };
    try {
      // An attempt that never ended counts: an event that brings the platform down is dead-lettered, not retried forever.
      if (delivery.attempts > retries) {
        await this.deadLetter(seq, name, event, { status: 0, reason: INTERRUPTED });
        return undefined;
      }
      const attempts = delivery.attempts + 1;
      await this.write([{ r: 'attempt', of: seq, trigger: name, attempts, retryAt: Date.now() + this.backoff(attempts) }]);
      const outcome = await this.attempt(trigger, event);
      if (this.closed) return undefined;
      if (outcome.status >= 200 && outcome.status < 300) {
        await this.write([{ r: 'delivered', of: seq, trigger: name }]);
        return undefined;
      }
      if (attempts <= retries && (outcome.status === 0 || isRetryable(outcome.status))) {
        log.warn({ ...context, status: outcome.status, attempt: attempts }, 'delivery failed; retrying');
        return this.backoff(attempts);
      }
      await this.deadLetter(seq, name, event, outcome);
      return undefined;
    } catch (error) {
      if (this.closed) return undefined;
      log.warn({ ...context, err: error }, 'delivery state not journalled; retrying');
      return this.backoff(delivery.attempts + 1);
    }
  }

  private async deadLetter(of: number, trigger: string, event: EventEnvelope, { status, reason }: Outcome): Promise<void> {
    const key = DeadLetterStore.key(of, trigger);
    this.busy.add(key);
    try {
      await this.store.put(key, event);
      const entry: DeadLetterEntry = { seq: this.nextSeq(), kind: 'dead-letter', ...shownEvent(event), trigger, status, reason, time: new Date().toISOString() };
      await this.write([{ r: 'dead', of, entry }]);
    } finally {
      this.busy.delete(key);
    }
    this.options.log.warn({ trigger, eventId: event.id, eventType: event.type, status, reason }, 'event dead-lettered');
    metrics.deadLetteredEvents.inc({ type: eventKindLabel(this.options.eventTypePrefix, event.type) });
  }

  private async attempt(trigger: Trigger, event: EventEnvelope): Promise<Outcome> {
    const message = httpMessage(event);
    let response: Response;
    let body: string;
    try {
      response = await fetch(trigger.url(), { method: 'POST', headers: message.headers, body: message.body, signal: AbortSignal.timeout(DELIVERY_TIMEOUT_MS) });
      body = await response.text();
    } catch (error) {
      return { status: 0, reason: `network error: ${(error as Error).message}` };
    }
    if (!response.ok) return { status: response.status, reason: body.slice(0, REASON_MAX_CHARS) };
    try {
      await this.publishReply(trigger, Object.fromEntries(response.headers.entries()), body);
    } catch (error) {
      return { status: 0, reason: `the reply could not be kept: ${(error as Error).message}` };
    }
    return { status: response.status, reason: '' };
  }

  /** A reply that is not a valid CloudEvent is logged and dropped: the delivery itself succeeded. */
  private async publishReply(trigger: Trigger, headers: Record<string, string>, body: string): Promise<void> {
    if (!HTTP.isEvent({ headers, body })) return;
    let reply: EventEnvelope;
    try {
      const event = HTTP.toEvent({ headers, body }) as CloudEvent<unknown>;
      event.validate();
      reply = toEnvelope(event as unknown as Record<string, unknown>);
    } catch (error) {
      this.options.log.warn({ trigger: trigger.name, err: error }, 'invalid reply event dropped');
      return;
    }
    await this.publish(reply);
  }
}
