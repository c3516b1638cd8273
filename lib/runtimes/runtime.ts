import type { Config } from '../config/schema.ts';
import type { LoadedSource } from '../source/load.ts';

/** Images a runtime's Dockerfile builds from; pinned and configurable. */
export interface BaseImages {
  build: string;
  runtime: string;
}

/** A configuration variable holding a base image (`KL_<LANGUAGE>_<STAGE>_IMAGE`). */
export type ImageVariable = Extract<keyof Config, `KL_${string}_IMAGE`>;

/** What the context builder writes into `runtime/function.json` for the build step. */
export interface FunctionManifest {
  runtime: string;
  /** File (or module) named by a `file.export` handler, without extension. */
  handlerFile?: string | undefined;
  exportName?: string | undefined;
}

export interface ContextFile {
  path: string;
  content: Buffer;
  executable?: boolean;
}

/**
 * One language. The pipeline and the backends know runtimes only through this shape:
 * adding a language is a new module registered in `registry.ts`, plus its image
 * variables in the configuration schema, never a change to the pipeline.
 */
export interface Runtime {
  readonly name: string;
  /** The language as people name it, for messages. */
  readonly language: string;
  readonly aliases: readonly string[];
  /** Extensions of a single-file source in this language; an extensionless file it is given becomes the first. */
  readonly fileExtensions: readonly string[];
  /** The configuration variables of its base images; their defaults are the pinned images. */
  readonly images: { build: ImageVariable; runtime: ImageVariable };
  /** What `recognizes` looks for, for people: it explains a source no runtime recognised. */
  readonly recognizedBy: string;
  /** True when the source looks like this language (used when `runtime` is not given). */
  recognizes(source: LoadedSource): Promise<boolean>;
  /** Throws a permanent error when the source cannot be built by this runtime (a single file's extension is checked for it). */
  validate?(source: LoadedSource): Promise<void>;
  /** Reads `handler` of build.start the way this language names functions; throws a permanent error when it cannot. */
  manifest(source: LoadedSource, handler: string | undefined): FunctionManifest;
  /** Dockerfile, wrapper and generated files, the same for the host build and the image build. */
  contextFiles(images: BaseImages, source: LoadedSource): Promise<ContextFile[]>;
  /**
   * Readies an unpacked context for a build on this host (toolchain, shared wrapper
   * dependencies) and returns the build step to run from the context root, the same step
   * the Dockerfile `RUN`s. Throws when this host cannot build the language.
   */
  prepareHostBuild(contextRoot: string, config: Config): Promise<readonly string[]>;
  /** Start command, run from the built context root with PORT set. */
  readonly startCommand: readonly string[];
}
