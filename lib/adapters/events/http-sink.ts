import { CloudEvent, HTTP } from 'cloudevents';
import type { EventEnvelope } from '../../events/envelope.ts';
import { transient } from '../../errors.ts';
import type { EventSink } from '../../ports/event-sink.ts';

/** The SDK event for an envelope; undefined extensions are left out, as the spec requires. */
export function toCloudEvent(event: EventEnvelope): CloudEvent<unknown> {
  const attributes = Object.fromEntries(Object.entries(event).filter(([, value]) => value !== undefined));
  return new CloudEvent(attributes as ConstructorParameters<typeof CloudEvent>[0], false);
}

/** Posts events in binary content mode to a broker (Knative's K_SINK, or the embedded broker's ingress). */
export class HttpEventSink implements EventSink {
  private readonly url: string;
  constructor(url: string) {
    this.url = url;
  }

  async emit(event: EventEnvelope): Promise<void> {
    const message = HTTP.binary(toCloudEvent(event));
    let response: Response;
    try {
      response = await fetch(this.url, { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string, signal: AbortSignal.timeout(10_000) });
    } catch (error) {
      throw transient('BrokerUnreachable', `The broker at ${this.url} is unreachable: ${(error as Error).message}`, error);
    }
    await response.arrayBuffer();
    if (!response.ok) throw transient('BrokerRejected', `The broker at ${this.url} answered ${response.status}`);
  }
}
