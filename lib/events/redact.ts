import type { EventEnvelope } from './envelope.ts';

/** What stands in for a value that must not be shown. */
export const REDACTED = '[redacted]';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/**
 * An event as it may be shown (the feed, the dead-letter list, logs): the names of
 * `data.env` stay, their values do not. The function gets them; no reader of the platform does.
 */
export function redactEvent(event: EventEnvelope): EventEnvelope {
  if (!isRecord(event.data) || !isRecord(event.data.env)) return event;
  const env = Object.fromEntries(Object.keys(event.data.env).map((name) => [name, REDACTED]));
  return { ...event, data: { ...event.data, env } };
}
