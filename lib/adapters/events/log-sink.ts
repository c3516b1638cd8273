import type { Logger } from 'pino';
import type { EventEnvelope } from '../../events/envelope.ts';
import type { EventSink } from '../../ports/event-sink.ts';

/** For a builder running with no broker to send to: events become log lines, nothing is lost silently. */
export class LogEventSink implements EventSink {
  private readonly log: Logger;
  constructor(log: Logger) {
    this.log = log;
  }
  async emit(event: EventEnvelope): Promise<void> {
    this.log.info({ event }, 'event emitted (no broker configured: set K_SINK)');
  }
}
