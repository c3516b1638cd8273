import { permanent } from '../errors.ts';
import { withExtension, type LoadedSource } from '../source/load.ts';
import { goRuntime } from './go/index.ts';
import { nodeRuntime } from './node/index.ts';
import { pythonRuntime } from './python/index.ts';
import type { Runtime } from './runtime.ts';

export const RUNTIMES: readonly Runtime[] = [nodeRuntime, pythonRuntime, goRuntime];

export function runtimeNames(): string[] {
  return RUNTIMES.map((r) => r.name);
}

export function findRuntime(name: string): Runtime | undefined {
  return RUNTIMES.find((r) => r.name === name || r.aliases.includes(name));
}

function describeSource(source: LoadedSource): string {
  if (source.format.kind !== 'file') return `a ${source.format.kind} archive`;
  return source.format.extension ? `a single ${source.format.extension} file` : 'a single file without extension';
}

function recognisable(): string[] {
  return RUNTIMES.map((r) => `${r.name}: ${r.recognizedBy}`);
}

/**
 * The runtime named in the event, or the one single runtime that recognises the source;
 * with the source as that runtime sees it (an extensionless single file gets its extension).
 */
export async function selectRuntime(requested: string | undefined, loaded: LoadedSource): Promise<{ runtime: Runtime; source: LoadedSource }> {
  let runtime: Runtime;
  if (requested !== undefined) {
    const found = findRuntime(requested);
    if (!found) throw permanent('UnknownRuntime', `Runtime "${requested}" is not supported`, [`supported: ${runtimeNames().join(', ')}`]);
    runtime = found;
  } else {
    const matches: Runtime[] = [];
    for (const candidate of RUNTIMES) if (await candidate.recognizes(loaded)) matches.push(candidate);
    if (matches.length === 0) {
      throw permanent('UnknownRuntime', `No runtime recognises this source (${describeSource(loaded)}); set "runtime" in build.start`, recognisable());
    }
    if (matches.length > 1) {
      throw permanent('AmbiguousRuntime', `The source could be ${matches.map((r) => r.name).join(' or ')}; set "runtime" in build.start`, recognisable());
    }
    runtime = matches[0] as Runtime;
  }
  const [extension = ''] = runtime.fileExtensions;
  const source = await withExtension(loaded, extension);
  if (source.format.kind === 'file' && !runtime.fileExtensions.includes(source.format.extension)) {
    throw permanent('UnsupportedSource', `A single-file ${runtime.language} function is a ${runtime.fileExtensions.join(', ')} file, not ${source.format.extension}`);
  }
  await runtime.validate?.(source);
  return { runtime, source };
}
