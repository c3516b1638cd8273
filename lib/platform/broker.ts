import { appendFile } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudEvent, HTTP } from 'cloudevents';
import type { Logger } from 'pino';
import { httpMessage } from '../adapters/events/http-sink.ts';
import { toEnvelope, type EventEnvelope } from '../events/envelope.ts';
import { redactEvent } from '../events/redact.ts';
import type { EventSink } from '../ports/event-sink.ts';
import { eventKindLabel } from '../observability/labels.ts';
import { metrics } from '../observability/metrics.ts';

export interface Trigger {
  name: string;
  accepts: (type: string) => boolean;
  url: () => string;
}

export type FeedEntry =
  | { seq: number; kind: 'event'; event: EventEnvelope }
  | { seq: number; kind: 'dead-letter'; event: EventEnvelope; trigger: string; status: number; reason: string };

export interface BrokerOptions {
  retries: number;
  backoffMs: number;
  eventTypePrefix: string;
  log: Logger;
  /** Every entry is also appended here, one JSON line each, for debugging. */
  journalFile?: string;
  maxEntries?: number;
}

/** Statuses the RabbitMQ broker's dispatcher retries; every other 4xx is final. */
export function isRetryable(status: number): boolean {
  return status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;
}

/**
 * The embedded stand-in for a Knative broker: ingress, triggers, delivery with retries and
 * exponential backoff, replies published back, a dead-letter list, and a feed that the CLI
 * follows. Delivery is asynchronous: ingress answers 202 before any trigger runs.
 */
export class EmbeddedBroker implements EventSink {
  private readonly triggers: Trigger[] = [];
  private readonly entries: FeedEntry[] = [];
  private readonly waiters = new Set<() => void>();
  private readonly options: BrokerOptions;
  private seq = 0;
  private inflight = 0;

  constructor(options: BrokerOptions) {
    this.options = options;
  }

  subscribe(trigger: Trigger): void {
    this.triggers.push(trigger);
  }

  async emit(event: EventEnvelope): Promise<void> {
    this.publish(event);
  }

  publish(event: EventEnvelope): void {
    this.record({ seq: 0, kind: 'event', event });
    for (const trigger of this.triggers.filter((t) => t.accepts(event.type))) {
      this.inflight += 1;
      void this.deliver(trigger, event).finally(() => (this.inflight -= 1));
    }
  }

  /** Entries after `after`, optionally only one correlation id; waits up to `waitMs` for the first. */
  async feed(after: number, correlationId: string | undefined, waitMs: number): Promise<FeedEntry[]> {
    const select = () => this.entries.filter((e) => e.seq > after && (correlationId === undefined || e.event.correlationid === correlationId));
    let found = select();
    const deadline = Date.now() + waitMs;
    while (found.length === 0 && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        const wake = () => {
          this.waiters.delete(wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, deadline - Date.now());
        this.waiters.add(wake);
      });
      found = select();
    }
    return found;
  }

  deadLetters(): FeedEntry[] {
    return this.entries.filter((e) => e.kind === 'dead-letter');
  }

  get pendingDeliveries(): number {
    return this.inflight;
  }

  private record(entry: FeedEntry): void {
    this.seq += 1;
    const numbered = { ...entry, event: redactEvent(entry.event), seq: this.seq };
    this.entries.push(numbered);
    if (this.entries.length > (this.options.maxEntries ?? 10_000)) this.entries.shift();
    if (this.options.journalFile) void appendFile(this.options.journalFile, `${JSON.stringify(numbered)}\n`).catch(() => undefined);
    for (const wake of [...this.waiters]) wake();
  }

  private async deliver(trigger: Trigger, event: EventEnvelope): Promise<void> {
    const { retries, backoffMs, log } = this.options;
    let last = { status: 0, reason: '' };
    for (let attempt = 0; attempt <= retries; attempt += 1) {
      if (attempt > 0) await sleep(backoffMs * 2 ** (attempt - 1));
      last = await this.attempt(trigger, event);
      if (last.status >= 200 && last.status < 300) return;
      if (last.status !== 0 && !isRetryable(last.status)) break;
      log.warn({ trigger: trigger.name, eventId: event.id, eventType: event.type, status: last.status, attempt }, 'delivery failed; retrying');
    }
    log.warn({ trigger: trigger.name, eventId: event.id, eventType: event.type, status: last.status, reason: last.reason }, 'event dead-lettered');
    this.record({ seq: 0, kind: 'dead-letter', event, trigger: trigger.name, status: last.status, reason: last.reason });
    metrics.deadLetteredEvents.inc({ type: eventKindLabel(this.options.eventTypePrefix, event.type) });
  }

  private async attempt(trigger: Trigger, event: EventEnvelope): Promise<{ status: number; reason: string }> {
    const message = httpMessage(event);
    let response: Response;
    let body: string;
    try {
      response = await fetch(trigger.url(), { method: 'POST', headers: message.headers, body: message.body, signal: AbortSignal.timeout(120_000) });
      body = await response.text();
    } catch (error) {
      return { status: 0, reason: `network error: ${(error as Error).message}` };
    }
    if (response.ok) this.publishReply(trigger, Object.fromEntries(response.headers.entries()), body);
    return { status: response.status, reason: response.ok ? '' : body.slice(0, 4096) };
  }

  /** A reply that is not a valid CloudEvent is logged and dropped: the delivery itself succeeded. */
  private publishReply(trigger: Trigger, headers: Record<string, string>, body: string): void {
    if (!HTTP.isEvent({ headers, body })) return;
    try {
      const reply = HTTP.toEvent({ headers, body }) as CloudEvent<unknown>;
      reply.validate();
      this.publish(toEnvelope(reply as unknown as Record<string, unknown>));
    } catch (error) {
      this.options.log.warn({ trigger: trigger.name, err: error }, 'invalid reply event dropped');
    }
  }
}
