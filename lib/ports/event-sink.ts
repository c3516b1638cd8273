import type { EventEnvelope } from '../events/envelope.ts';

/** Where emitted events go: the embedded broker, or the cluster broker over HTTP. */
export interface EventSink {
  emit(event: EventEnvelope): Promise<void>;
}
