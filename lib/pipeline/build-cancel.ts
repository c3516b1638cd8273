import type { Command } from '../events/incoming.ts';
import { EventKind } from '../events/types.ts';
import { functionName } from '../naming.ts';
import type { PipelineDeps } from './deps.ts';

type BuildCancelCommand = Extract<Command, { kind: typeof EventKind.BuildCancel }>;

/**
 * Stops the function's builds in progress (or the one named). Each cancelled build
 * ends Failed with reason Cancelled, which the outcome step announces as `build.failed`.
 */
export async function cancelBuilds(deps: PipelineDeps, command: BuildCancelCommand): Promise<{ function_name: string; cancelled: string[] }> {
  const { data } = command;
  const name = functionName({ thirdPartyId: data.third_party_id, parserId: data.parser_id });
  const builds = (await deps.executor.listForFunction(name)).filter((b) => data.build_id === undefined || b.name === data.build_id);
  const cancelled: string[] = [];
  for (const build of builds) if (await deps.executor.cancel(build.name)) cancelled.push(build.name);
  deps.log.info({ function: name, cancelled }, 'builds cancelled');
  return { function_name: name, cancelled };
}
