import { Annotations } from '../naming.ts';
import type { ServiceSpec } from '../ports/deployer.ts';
import { functionLabels, revisionOf, specAnnotations } from '../pipeline/service-spec.ts';

export const KNATIVE_SERVICE_API_VERSION = 'serving.knative.dev/v1';
export const KNATIVE_SERVICE_KIND = 'Service';

export interface KnativeServiceObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace: string; labels: Record<string, string>; annotations: Record<string, string>; generation?: number; uid?: string; resourceVersion?: string };
  spec: Record<string, unknown>;
  status?: {
    url?: string;
    observedGeneration?: number;
    latestReadyRevisionName?: string;
    conditions?: Array<{ type: string; status: string; reason?: string; message?: string }>;
  };
}

function compact<T extends Record<string, unknown>>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && !(typeof v === 'object' && v !== null && Object.keys(v).length === 0))) as Partial<T>;
}

/** Function pods run as this identity: no API permission, no token mounted (config/service-accounts.yaml). */
export const DEFAULT_FUNCTION_SERVICE_ACCOUNT = 'knative-lambda-function';

/** Pure: the Knative Service for a spec, image by digest. Applied with server-side apply. */
export function knativeServiceManifest(spec: ServiceSpec, namespace: string, serviceAccount = DEFAULT_FUNCTION_SERVICE_ACCOUNT): KnativeServiceObject {
  const labels = functionLabels(spec, 'function');
  const scaling = compact({
    'autoscaling.knative.dev/min-scale': spec.scaling.minScale?.toString(),
    'autoscaling.knative.dev/max-scale': spec.scaling.maxScale?.toString(),
    'autoscaling.knative.dev/target': spec.scaling.target?.toString(),
  }) as Record<string, string>;
  return {
    apiVersion: KNATIVE_SERVICE_API_VERSION,
    kind: KNATIVE_SERVICE_KIND,
    metadata: {
      name: spec.name,
      namespace,
      labels,
      annotations: {
        ...specAnnotations(spec),
        [Annotations.Revision]: revisionOf(spec),
      },
    },
    spec: {
      template: {
        metadata: { labels, annotations: scaling },
        spec: compact({
          containerConcurrency: spec.scaling.containerConcurrency,
          timeoutSeconds: spec.timeoutSeconds,
          serviceAccountName: serviceAccount,
          enableServiceLinks: false,
          containers: [
            compact({
              name: 'function',
              image: spec.image,
              env: [
                ...Object.entries(spec.env).map(([name, value]) => ({ name, value })),
                ...Object.entries(spec.secretEnv ?? {}).map(([name, ref]) => ({ name, valueFrom: { secretKeyRef: { name: ref.name, key: ref.key } } })),
              ],
              resources: compact({ requests: spec.resources.requests, limits: spec.resources.limits }),
              readinessProbe: { httpGet: { path: '/health/readiness' } },
              livenessProbe: { httpGet: { path: '/health/liveness' } },
              securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } },
            }),
          ],
        }),
      },
    },
  };
}
