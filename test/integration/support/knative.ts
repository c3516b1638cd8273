// No Knative Serving controller runs in the test environment (the Go module proxy does
// not serve it): only the upstream CRDs are installed (../shared/reference/crds). The
// functions here play the controller's part through the real /status subresource, validated
// strictly by the real schema, and their names say so, so a test never mistakes them for
// the real thing.
import * as k8s from "@kubernetes/client-node";

export const KNATIVE_SERVICE = { group: "serving.knative.dev", version: "v1", plural: "services" } as const;
/** A status field the real schema does not know fails the patch instead of being dropped. */
const STRICT = "Strict";

/**
 * Pretends to be Knative Serving: marks Knative Service <namespace>/<name>
 * Ready through its /status subresource, with `status.url`, the conditions
 * Knative sets (ConfigurationsReady, RoutesReady, Ready) and
 * observedGeneration = metadata.generation. Returns the updated object.
 */
export async function pretendKnativeServingMarksReady(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  url = `http://${name}.${namespace}.svc.cluster.local`,
): Promise<Record<string, unknown>> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const current = (await api.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace, name })) as {
    metadata: { generation?: number };
  };
  const now = new Date().toISOString();
  const revision = `${name}-00001`;
  const status = {
    observedGeneration: current.metadata.generation ?? 1,
    url,
    address: { url: `http://${name}.${namespace}.svc.cluster.local` },
    latestCreatedRevisionName: revision,
    latestReadyRevisionName: revision,
    traffic: [{ revisionName: revision, latestRevision: true, percent: 100 }],
    conditions: ["ConfigurationsReady", "RoutesReady", "Ready"].map((type) => ({ type, status: "True", lastTransitionTime: now })),
  };
  return (await api.patchNamespacedCustomObjectStatus(
    { ...KNATIVE_SERVICE, namespace, name, body: { status }, fieldValidation: STRICT },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  )) as Record<string, unknown>;
}

/** Pretends to be Knative Serving: marks the Knative Service not Ready with a reason and message. */
export async function pretendKnativeServingMarksFailed(
  kc: k8s.KubeConfig,
  namespace: string,
  name: string,
  reason = "RevisionFailed",
  message = "Revision failed (pretended by the test)",
): Promise<Record<string, unknown>> {
  const api = kc.makeApiClient(k8s.CustomObjectsApi);
  const now = new Date().toISOString();
  const status = {
    conditions: ["ConfigurationsReady", "Ready"].map((type) => ({ type, status: "False", reason, message, lastTransitionTime: now })),
  };
  return (await api.patchNamespacedCustomObjectStatus(
    { ...KNATIVE_SERVICE, namespace, name, body: { status }, fieldValidation: STRICT },
    k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch),
  )) as Record<string, unknown>;
}
