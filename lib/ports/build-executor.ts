import type { Correlation } from '../events/envelope.ts';

export type BuildPhase = 'Pending' | 'Running' | 'Succeeded' | 'Failed';

/** Why a build ended without an image. DeadlineExceeded becomes `build.timeout`, the rest `build.failed`. */
export type BuildFailureReason = 'DeadlineExceeded' | 'BuildFailed' | 'Cancelled' | 'ExecutorError';

/** What a builder needs to build one context. Everything the outcome needs later travels inside. */
export interface BuildRequest {
  name: string;
  functionName: string;
  runtime: string;
  contextKey: string;
  contentDigest: string;
  timeoutSeconds: number;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** A build as its backend reports it (a Job on a cluster, a record on disk locally). */
export interface BuildRecord {
  name: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  createdAt?: string | undefined;
  spec: Pick<BuildRequest, 'functionName' | 'runtime' | 'contextKey' | 'contentDigest' | 'timeoutSeconds'>;
  status: {
    phase: BuildPhase;
    reason?: BuildFailureReason | undefined;
    message?: string | undefined;
    startTime?: string | undefined;
    completionTime?: string | undefined;
    /** Where the built artifact is: an image reference by digest, or a local directory. */
    image?: string | undefined;
    logTail?: string | undefined;
    /** Set once the outcome event was emitted, so a replayed status emits nothing twice. */
    announced?: boolean | undefined;
  };
}

export interface BuildExecutor {
  /** Creates the build unless one of that name exists; never replaces an existing one. */
  create(request: BuildRequest): Promise<{ created: boolean; record: BuildRecord }>;
  get(name: string): Promise<BuildRecord | undefined>;
  listForFunction(functionName: string): Promise<BuildRecord[]>;
  /**
   * Every build of every function, as a listing shows it: whether a build ended and whether
   * its outcome was announced; what only its pods tell (the image, the log) is read by `get`.
   */
  list(): Promise<BuildRecord[]>;
  /** Builds pending or running, of every function. */
  listActive(): Promise<BuildRecord[]>;
  /** Stops a running build; it ends Failed with reason Cancelled. False when nothing was running. */
  cancel(name: string): Promise<boolean>;
  delete(name: string): Promise<void>;
  markAnnounced(name: string): Promise<void>;
}

export type { Correlation };
