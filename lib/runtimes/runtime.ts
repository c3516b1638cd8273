import type { LoadedSource } from '../source/load.ts';

/** Images a runtime's Dockerfile builds from; pinned and configurable. */
export interface BaseImages {
  build: string;
  runtime: string;
}

/** What the context builder writes into `runtime/function.json` for the build step. */
export interface FunctionManifest {
  runtime: string;
  /** File named by a `file.export` handler, without extension. */
  handlerFile?: string | undefined;
  exportName?: string | undefined;
}

export interface ContextFile {
  path: string;
  content: Buffer;
  executable?: boolean;
}

/**
 * One language. The pipeline knows runtimes only through this shape: adding a
 * language is a new module here, not a change to the pipeline.
 */
export interface Runtime {
  readonly name: string;
  readonly aliases: readonly string[];
  /** True when the source looks like this language (used when `runtime` is not given). */
  recognizes(source: LoadedSource): Promise<boolean>;
  /** Throws a permanent error when the source cannot be built by this runtime. */
  validate(source: LoadedSource): Promise<void>;
  /** Dockerfile and wrapper files, the same for the host build and the image build. */
  contextFiles(images: BaseImages): Promise<ContextFile[]>;
  /** Build step, run from the context root (the Dockerfile `RUN`s the same command). */
  readonly buildCommand: readonly string[];
  /** Start command, run from the built context root with PORT set. */
  readonly startCommand: readonly string[];
  /** Host builds use the platform's own copy of the wrapper's dependencies instead of installing them. */
  linkHostDependencies(contextRoot: string): Promise<void>;
}
