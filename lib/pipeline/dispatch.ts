import type { EventEnvelope } from '../events/envelope.ts';
import { permanent } from '../errors.ts';
import { parseCommand, type Command } from '../events/incoming.ts';
import { EventKind } from '../events/types.ts';
import { addLogContext } from '../observability/log-context.ts';
import { metrics } from '../observability/metrics.ts';
import { currentTraceparent } from '../observability/tracing.ts';
import { cancelBuilds } from './build-cancel.ts';
import { startBuild } from './build-start.ts';
import type { PipelineDeps } from './deps.ts';
import { deleteService } from './service-delete.ts';

/** A refusal is permanent (403: the broker does not retry it) and counted by reason. */
function enforceTenantBoundary(deps: PipelineDeps, command: Command): void {
  const decision = deps.tenants.decide(command);
  if (decision.allowed) return;
  metrics.tenantRefusals.inc({ reason: decision.reason });
  throw permanent(decision.reason, decision.message, decision.details, 403);
}

/** A reply event, or a JSON body when the command has no event to answer with. */
export type Reply = { event: EventEnvelope } | { body: Record<string, unknown> };

/** Routes one incoming event to its pipeline step. Throws PlatformError for 4xx/5xx. */
export async function dispatch(deps: PipelineDeps, incoming: EventEnvelope): Promise<Reply> {
  const parsed = parseCommand(deps.settings.events.prefix, incoming);
  enforceTenantBoundary(deps, parsed);
  // What this event causes continues the trace from the span handling it.
  const command = { ...parsed, correlation: { ...parsed.correlation, traceparent: currentTraceparent() ?? parsed.correlation.traceparent } } as typeof parsed;
  addLogContext({ correlation_id: command.correlation.correlationId });
  switch (command.kind) {
    case EventKind.BuildStart:
      return { event: await startBuild(deps, command) };
    case EventKind.ServiceDelete:
      return { event: await deleteService(deps, command) };
    case EventKind.BuildCancel:
      return { body: await cancelBuilds(deps, command) };
  }
}
