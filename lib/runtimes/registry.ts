import { permanent } from '../errors.ts';
import type { LoadedSource } from '../source/load.ts';
import { nodeRuntime } from './node/index.ts';
import type { Runtime } from './runtime.ts';

export const RUNTIMES: readonly Runtime[] = [nodeRuntime];

export function runtimeNames(): string[] {
  return RUNTIMES.map((r) => r.name);
}

export function findRuntime(name: string): Runtime | undefined {
  return RUNTIMES.find((r) => r.name === name || r.aliases.includes(name));
}

/** The runtime named in the event, or the one single runtime that recognises the source. */
export async function selectRuntime(requested: string | undefined, source: LoadedSource): Promise<Runtime> {
  if (requested !== undefined) {
    const runtime = findRuntime(requested);
    if (!runtime) throw permanent('UnknownRuntime', `Runtime "${requested}" is not supported`, [`supported: ${runtimeNames().join(', ')}`]);
    await runtime.validate(source);
    return runtime;
  }
  const matches: Runtime[] = [];
  for (const runtime of RUNTIMES) if (await runtime.recognizes(source)) matches.push(runtime);
  if (matches.length === 0) throw permanent('UnknownRuntime', 'No runtime recognises this source; set "runtime" in build.start', [`supported: ${runtimeNames().join(', ')}`]);
  if (matches.length > 1) throw permanent('AmbiguousRuntime', `The source could be ${matches.map((r) => r.name).join(' or ')}; set "runtime" in build.start`);
  const [only] = matches as [Runtime];
  await only.validate(source);
  return only;
}
