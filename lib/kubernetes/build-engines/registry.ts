import { buildkit } from './buildkit.ts';
import { BUILD_ENGINE_LABEL, type BuildEngine } from './engine.ts';
import { kaniko } from './kaniko.ts';

/** Every build engine, by its KL_BUILD_ENGINE name. The first is the default. */
const ENGINES: readonly [BuildEngine, ...BuildEngine[]] = [kaniko, buildkit];

export const buildEngineNames = ENGINES.map((engine) => engine.name) as [string, ...string[]];

/** The default, and the engine of the Jobs made before a label recorded it: they were all Kaniko's. */
export const DEFAULT_BUILD_ENGINE = ENGINES[0];

/** The engine named `name` (a value of KL_BUILD_ENGINE, checked by the configuration schema). */
export function buildEngine(name: string): BuildEngine {
  return ENGINES.find((engine) => engine.name === name) ?? DEFAULT_BUILD_ENGINE;
}

/** The engine that built a Job, from its label: a Job outlives a change of KL_BUILD_ENGINE. */
export function engineOfJob(labels: Record<string, string> | undefined): BuildEngine {
  return buildEngine(labels?.[BUILD_ENGINE_LABEL] ?? DEFAULT_BUILD_ENGINE.name);
}
