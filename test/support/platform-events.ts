// The event side of the embedded platform as a producer and a follower see it: publish
// to the broker ingress, read the feed, wait for what a request causes.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';

export interface FeedEntry {
  seq: number;
  kind: 'event' | 'dead-letter';
  event: { id: string; type: string; data: Record<string, unknown>; correlationid?: string; traceparent?: string };
  status?: number;
  reason?: string;
}

/** Publishes an event in structured mode; `id` and `source` are filled in when absent. */
export function publish(platformUrl: string, event: Record<string, unknown>): Promise<Response> {
  return fetch(`${platformUrl}/events`, {
    method: 'POST',
    headers: { 'content-type': 'application/cloudevents+json' },
    body: JSON.stringify({ specversion: '1.0', id: randomUUID(), source: 'tests', ...event }),
  });
}

/** The feed from its start, or only the entries of one correlation id. */
export async function feed(platformUrl: string, correlationId?: string): Promise<FeedEntry[]> {
  const query = correlationId === undefined ? '' : `&correlationid=${encodeURIComponent(correlationId)}`;
  const response = await fetch(`${platformUrl}/api/events?after=0${query}`);
  if (!response.ok) throw new Error(`/api/events: ${response.status} ${await response.text()}`);
  return (await response.json()) as FeedEntry[];
}

/** Polls the feed until `pick` finds an entry, or fails with what the feed held. */
export async function waitForEntry(platformUrl: string, pick: (entries: FeedEntry[]) => FeedEntry | undefined, options: { correlationId?: string; timeoutMs?: number } = {}): Promise<FeedEntry> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  for (;;) {
    const entries = await feed(platformUrl, options.correlationId);
    const found = pick(entries);
    if (found) return found;
    if (Date.now() > deadline) throw new Error(`timed out waiting for an event; the feed holds ${JSON.stringify(entries.map((e) => e.event.type))}`);
    await sleep(100);
  }
}

/** Entries of one full event type. */
export const ofType = (type: string) => (entries: FeedEntry[]) => entries.find((e) => e.event.type === type);
