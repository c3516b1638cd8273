import type { EventEnvelope } from '../events/envelope.ts';
import { parseCommand } from '../events/incoming.ts';
import { EventKind } from '../events/types.ts';
import { cancelBuilds } from './build-cancel.ts';
import { startBuild } from './build-start.ts';
import type { PipelineDeps } from './deps.ts';
import { deleteService } from './service-delete.ts';

/** A reply event, or a JSON body when the command has no event to answer with. */
export type Reply = { event: EventEnvelope } | { body: Record<string, unknown> };

/** Routes one incoming event to its pipeline step. Throws PlatformError for 4xx/5xx. */
export async function dispatch(deps: PipelineDeps, incoming: EventEnvelope): Promise<Reply> {
  const command = parseCommand(deps.settings.events.prefix, incoming);
  switch (command.kind) {
    case EventKind.BuildStart:
      return { event: await startBuild(deps, command) };
    case EventKind.ServiceDelete:
      return { event: await deleteService(deps, command) };
    case EventKind.BuildCancel:
      return { body: await cancelBuilds(deps, command) };
  }
}
