import type { EventEnvelope } from '../events/envelope.ts';
import type { Command } from '../events/incoming.ts';
import { outgoingEvent } from '../events/outgoing.ts';
import { EventKind } from '../events/types.ts';
import { functionName } from '../naming.ts';
import type { PipelineDeps } from './deps.ts';

type ServiceDeleteCommand = Extract<Command, { kind: typeof EventKind.ServiceDelete }>;

/** Removes the service, its builds and their contexts. Deleting what is gone still succeeds. */
export async function deleteService(deps: PipelineDeps, command: ServiceDeleteCommand): Promise<EventEnvelope> {
  const { data, correlation } = command;
  const name = functionName({ thirdPartyId: data.third_party_id, parserId: data.parser_id });
  const builds = await deps.executor.listForFunction(name);
  for (const build of builds) {
    await deps.executor.delete(build.name);
    await deps.store.delete(build.spec.contextKey);
  }
  const existed = await deps.deployer.delete(name);
  deps.log.info({ function: name, existed, builds: builds.length }, 'function deleted');
  return outgoingEvent(
    deps.settings.events,
    EventKind.ServiceDeleted,
    { third_party_id: data.third_party_id, parser_id: data.parser_id, correlation_id: correlation.correlationId, function_name: name, existed, deleted_builds: builds.length },
    correlation,
  );
}
