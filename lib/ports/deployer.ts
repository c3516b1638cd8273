import type { Correlation } from '../events/envelope.ts';
import type { FunctionIdentity } from '../naming.ts';

export interface ScalingSpec {
  minScale?: number | undefined;
  maxScale?: number | undefined;
  target?: number | undefined;
  containerConcurrency?: number | undefined;
}

export interface ResourceSpec {
  requests?: { cpu?: string | undefined; memory?: string | undefined } | undefined;
  limits?: { cpu?: string | undefined; memory?: string | undefined } | undefined;
}

/** One key of a tenant's secret (a Kubernetes Secret, or a directory of files locally). */
export interface SecretRef {
  /** The full secret name, `<third_party_id>.<secret>`. */
  name: string;
  key: string;
}

/** The desired state of one running function. */
export interface ServiceSpec {
  name: string;
  identity: FunctionIdentity;
  runtime: string;
  image: string;
  buildName: string;
  contentDigest: string;
  env: Record<string, string>;
  /** Variables whose values come from secrets, by reference: the value never travels. Absent in records made before. */
  secretEnv?: Record<string, SecretRef> | undefined;
  scaling: ScalingSpec;
  resources: ResourceSpec;
  timeoutSeconds?: number | undefined;
  /** Time of the `build.start` that asked for this spec: an older request never replaces a newer one. */
  requestedAt: string;
  correlation: Correlation;
}

export type ServicePhase = 'Deploying' | 'Ready' | 'Failed';

export interface ServiceRecord {
  spec: ServiceSpec;
  /** Identifies what runs: changes when the image or the configuration changes. */
  revision: string;
  status: {
    phase: ServicePhase;
    url?: string | undefined;
    reason?: string | undefined;
    message?: string | undefined;
    logTail?: string | undefined;
    /** The revision whose readiness or failure was already announced. */
    announcedRevision?: string | undefined;
  };
}

export interface Deployer {
  /** Creates or updates the service; idempotent for the same spec. */
  apply(spec: ServiceSpec): Promise<ServiceRecord>;
  get(name: string): Promise<ServiceRecord | undefined>;
  list(): Promise<ServiceRecord[]>;
  /** False when there was nothing to delete. */
  delete(name: string): Promise<boolean>;
  markAnnounced(name: string, revision: string): Promise<void>;
}

export type { Correlation };
