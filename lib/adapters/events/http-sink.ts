import { CloudEvent, HTTP } from 'cloudevents';
import type { EventEnvelope } from '../../events/envelope.ts';
import { transient } from '../../errors.ts';
import type { EventSink } from '../../ports/event-sink.ts';

/** The SDK event for an envelope; undefined extensions are left out, as the spec requires. */
export function toCloudEvent(event: EventEnvelope): CloudEvent<unknown> {
  const attributes = Object.fromEntries(Object.entries(event).filter(([key, value]) => value !== undefined && !(key === 'datacontenttype' && event.data === undefined)));
  return new CloudEvent(attributes as ConstructorParameters<typeof CloudEvent>[0], false);
}

/** Binary content mode; an event without data is sent without a body and without a content type. */
export function binaryMessage(event: EventEnvelope): { headers: Record<string, string>; body: string | undefined } {
  const message = HTTP.binary(toCloudEvent(event));
  const headers = { ...(message.headers as Record<string, string>) };
  const body = message.body === undefined || message.body === null || message.body === '' ? undefined : (message.body as string);
  if (body === undefined) delete headers['content-type'];
  return { headers, body };
}

/** Posts events in binary content mode to a broker (Knative's K_SINK, or the embedded broker's ingress). */
export class HttpEventSink implements EventSink {
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  async emit(event: EventEnvelope): Promise<void> {
    const message = binaryMessage(event);
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers: message.headers, body: message.body, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw transient('BrokerUnreachable', `The broker at ${this.url} is unreachable: ${(error as Error).message}`, error);
    }
    await response.arrayBuffer();
    if (!response.ok) throw transient('BrokerRejected', `The broker at ${this.url} answered ${response.status}`);
  }
}
