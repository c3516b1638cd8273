// The admission policy of config/ (config/admission-policy.yaml) on the real
// kube-apiserver: the builder and the job-watcher, authenticated with real
// ServiceAccount tokens and allowed by the real Roles of config/, may create the
// Kaniko Job and the Knative Service the platform makes, and nothing that would
// run as another identity or reach another Secret. Requests are server-side dry
// runs: admission runs in full, nothing is stored.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/load.ts";
import type { Config } from "../../lib/config/schema.ts";
import { buildJobSettings } from "../../lib/backends/kubernetes.ts";
import { buildJobManifest } from "../../lib/kubernetes/build-job.ts";
import { knativeServiceManifest, type KnativeServiceObject } from "../../lib/kubernetes/knative-service.ts";
import { buildName, functionName, tenantSecretName } from "../../lib/naming.ts";
import { functionLabels, specAnnotations } from "../../lib/pipeline/service-spec.ts";
import type { BuildRequest } from "../../lib/ports/build-executor.ts";
import type { ServiceSpec } from "../../lib/ports/deployer.ts";
import { contextKey } from "../../lib/source/keys.ts";
import { applyAsAdmin, INSTALL_NAMESPACE, refusalOf, renderConfigInto, type Manifest, type Refusal } from "./support/admission.ts";
import { requireKubernetes } from "./support/env.ts";
import { KNATIVE_SERVICE } from "./support/knative.ts";
import { adminKubeConfig, createTestNamespace, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";

const POLICY = "knative-lambda-workloads";
const TENANT = "acme";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const IDENTITY_KINDS = new Set(["ServiceAccount", "Role", "RoleBinding"]);
const POLICY_KINDS = new Set(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);

type Container = k8s.V1Container;
type PodSpec = k8s.V1PodSpec;

let ns: { name: string; remove: () => Promise<void> };
let admin: k8s.KubeConfig;
let builder: Identity;
let watcher: Identity;
let config: Config;
let rendered: Manifest[];

/** The Job the builder creates for one build, from the settings config/ deploys. */
function platformJob(): k8s.V1Job {
  const desired = desiredService();
  const request: BuildRequest = {
    name: desired.buildName,
    functionName: desired.name,
    runtime: "nodejs",
    contextKey: contextKey(TENANT, DIGEST),
    contentDigest: DIGEST,
    timeoutSeconds: config.KL_BUILD_TIMEOUT_SECONDS,
    labels: functionLabels(desired, "build"),
    annotations: specAnnotations(desired),
  };
  return buildJobManifest(request, `s3://${config.KL_STORE_BUCKET}/${request.contextKey}`, buildJobSettings(config, ns.name));
}

/** What a build.start of tenant acme asks for, with one variable from the tenant's Secret acme.db. */
function desiredService(): Omit<ServiceSpec, "image"> {
  const identity = { thirdPartyId: TENANT, parserId: "hello" };
  return {
    name: functionName(identity),
    identity,
    runtime: "nodejs",
    buildName: buildName(identity, DIGEST),
    contentDigest: DIGEST,
    env: { GREETING: "hi" },
    secretEnv: { DB_PASSWORD: { name: tenantSecretName(TENANT, "db"), key: "password" } },
    scaling: { minScale: 0, maxScale: 3 },
    resources: {},
    requestedAt: "2026-01-01T00:00:00.000Z",
    correlation: { correlationId: "corr-admission" },
  };
}

/** The Knative Service the job-watcher applies for a built function, with a tenant secret reference. */
function platformService(): KnativeServiceObject {
  const spec: ServiceSpec = { ...desiredService(), image: `registry.invalid/functions/fn@sha256:${"cd".repeat(32)}` };
  return knativeServiceManifest(spec, ns.name, config.KL_FUNCTION_SERVICE_ACCOUNT);
}

function jobPod(job: k8s.V1Job): PodSpec {
  return job.spec!.template.spec!;
}

function servicePod(service: KnativeServiceObject): PodSpec {
  return (service.spec as { template: { spec: PodSpec } }).template.spec;
}

function dryRunJob(identity: Identity | k8s.KubeConfig, job: k8s.V1Job): Promise<Refusal | undefined> {
  const kc = identity instanceof k8s.KubeConfig ? identity : identity.kubeConfig;
  return refusalOf(kc.makeApiClient(k8s.BatchV1Api).createNamespacedJob({ namespace: ns.name, body: job, dryRun: "All" }));
}

function dryRunService(identity: Identity | k8s.KubeConfig, service: KnativeServiceObject): Promise<Refusal | undefined> {
  const kc = identity instanceof k8s.KubeConfig ? identity : identity.kubeConfig;
  return refusalOf(kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, body: service, dryRun: "All" }));
}

/** A refusal by this policy (not by RBAC nor by the object's own validation), naming the rule. */
function expectRefusedBy(refusal: Refusal | undefined, rule: string): void {
  expect(refusal, "the request was accepted").toBeDefined();
  expect([403, 422]).toContain(refusal!.code);
  expect(refusal!.message).toContain(`ValidatingAdmissionPolicy '${POLICY}'`);
  expect(refusal!.message).toContain(rule);
}

function withJob(change: (job: k8s.V1Job, pod: PodSpec, kaniko: Container) => void): k8s.V1Job {
  const job = platformJob();
  change(job, jobPod(job), jobPod(job).containers[0]!);
  return job;
}

function withService(change: (service: KnativeServiceObject, pod: PodSpec, fn: Container) => void): KnativeServiceObject {
  const service = platformService();
  change(service, servicePod(service), servicePod(service).containers[0]!);
  return service;
}

beforeAll(async () => {
  await requireKubernetes();
  admin = await adminKubeConfig();
  ns = await createTestNamespace("admission");
  rendered = await renderConfigInto(ns.name);
  const configMap = rendered.find((m) => m.kind === "ConfigMap") as unknown as { data: Record<string, string> };
  config = loadConfig(configMap.data);
  // The identities and Roles of config/ in the test namespace, and the policy as config/ installs it.
  await applyAsAdmin(rendered.filter((m) => IDENTITY_KINDS.has(m.kind) || POLICY_KINDS.has(m.kind)));
  builder = await kubeConfigForServiceAccount(ns.name, "knative-lambda-builder");
  watcher = await kubeConfigForServiceAccount(ns.name, "knative-lambda-job-watcher");
  // A policy takes effect once the apiserver has compiled it, and the Roles once RBAC has
  // seen them: wait until the builder's known-forbidden Job is refused by the policy.
  const forbidden = withJob((_, pod) => (pod.serviceAccountName = "default"));
  await waitFor("the admission policy to refuse the builder a Job running as ServiceAccount default", async () => {
    const refusal = await dryRunJob(builder, forbidden);
    return refusal?.message.includes(`ValidatingAdmissionPolicy '${POLICY}'`) ?? false;
  }, 60_000, 500);
});

afterAll(async () => {
  // The policy stays: it is part of what config/ installs, cluster-wide, and the other
  // tests that apply config/ expect it; everything namespaced goes with the namespace.
  await ns?.remove();
});

describe("config/admission-policy.yaml as kustomize renders it", () => {
  it("names no namespace in its rules, and the apiserver keeps it cluster-scoped", async () => {
    const policy = rendered.filter((m) => POLICY_KINDS.has(m.kind));
    expect(policy.map((m) => m.kind).sort()).toEqual(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);
    // The identities are matched through request.namespace, never a namespace written down.
    for (const m of policy) expect(JSON.stringify(m.spec)).not.toContain(`serviceaccount:${INSTALL_NAMESPACE}:`);
    // kustomize does not know these kinds are cluster-scoped and gives them the install
    // namespace; the apiserver drops it, so the same objects serve every install.
    const api = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    expect((await api.readValidatingAdmissionPolicy({ name: POLICY })).metadata?.namespace).toBeUndefined();
    expect((await api.readValidatingAdmissionPolicyBinding({ name: POLICY })).metadata?.namespace).toBeUndefined();
  });

  it("is accepted by the apiserver, type-checked, and enforced (Deny)", async () => {
    const api = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const policy = await waitFor("the policy's type checking", async () => {
      const p = await api.readValidatingAdmissionPolicy({ name: POLICY });
      return p.status?.typeChecking ? p : undefined;
    });
    // Jobs are type-checked against their schema (custom resources are not): no expression misnames a field.
    expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    expect(policy.status?.conditions ?? []).not.toContainEqual(expect.objectContaining({ status: "False" }));
    const binding = await api.readValidatingAdmissionPolicyBinding({ name: POLICY });
    expect(binding.spec?.validationActions).toEqual(["Deny"]);
  });
});

describe("what the platform really creates is accepted", () => {
  it("the build Job from buildJobManifest(), created by the builder", async () => {
    const job = platformJob();
    expect(jobPod(job).serviceAccountName).toBe("knative-lambda-build");
    expect(await dryRunJob(builder, job)).toBeUndefined();
  });

  it("the Knative Service from knativeServiceManifest(), with a tenant secret reference, created by the job-watcher and by the builder", async () => {
    const service = platformService();
    expect(servicePod(service).serviceAccountName).toBe("knative-lambda-function");
    expect(servicePod(service).containers[0]!.env).toContainEqual({ name: "DB_PASSWORD", valueFrom: { secretKeyRef: { name: "acme.db", key: "password" } } });
    expect(await dryRunService(watcher, service)).toBeUndefined();
    expect(await dryRunService(builder, service)).toBeUndefined();
  });

  it("the same Service applied the way the deployer applies it (server-side apply)", async () => {
    const objects = k8s.KubernetesObjectApi.makeApiClient(watcher.kubeConfig);
    const applied = objects.patch(platformService() as unknown as k8s.KubernetesObject, undefined, "All", "knative-lambda", true, k8s.PatchStrategy.ServerSideApply);
    expect(await refusalOf(applied)).toBeUndefined();
  });
});

describe("a build Job that reaches beyond the build is refused", () => {
  const cases: Array<[string, (job: k8s.V1Job, pod: PodSpec, kaniko: Container) => void, string]> = [
    ["running as another ServiceAccount", (_, pod) => (pod.serviceAccountName = "knative-lambda-builder"), "must run as ServiceAccount knative-lambda-build, not knative-lambda-builder"],
    ["mounting its ServiceAccount token", (_, pod) => (pod.automountServiceAccountToken = true), "must set automountServiceAccountToken: false"],
    ["mounting a hostPath volume", (_, pod) => pod.volumes!.push({ name: "host", hostPath: { path: "/" } }), "may mount only the Secret knative-lambda-registry"],
    ["mounting another Secret", (_, pod) => pod.volumes!.push({ name: "tenant", secret: { secretName: "acme.db" } }), "may mount only the Secret knative-lambda-registry"],
    ["mounting a projected ServiceAccount token", (_, pod) => pod.volumes!.push({ name: "token", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } }), "may mount only the Secret knative-lambda-registry"],
    ["with an env secretKeyRef to another Secret", (_, __, kaniko) => kaniko.env!.push({ name: "DB", valueFrom: { secretKeyRef: { name: "acme.db", key: "password" } } }), "secretKeyRef may name only the Secret knative-lambda-store"],
    ["with an init container reading another Secret", (_, pod, kaniko) => (pod.initContainers = [{ ...structuredClone(kaniko), name: "init", env: [{ name: "DB", valueFrom: { secretKeyRef: { name: "acme.db", key: "password" } } }] }]), "secretKeyRef may name only the Secret knative-lambda-store"],
    ["with envFrom a Secret", (_, __, kaniko) => (kaniko.envFrom = [{ secretRef: { name: "knative-lambda-store" } }]), "envFrom secretRef is not allowed"],
    // Kubernetes itself refuses privileged with allowPrivilegeEscalation false: a privileged container comes without it.
    ["with a privileged container", (_, __, kaniko) => { kaniko.securityContext!.privileged = true; delete kaniko.securityContext!.allowPrivilegeEscalation; }, "privileged containers are not allowed"],
    ["allowing privilege escalation", (_, __, kaniko) => (kaniko.securityContext!.allowPrivilegeEscalation = true), "must set allowPrivilegeEscalation: false"],
    ["adding the capability SYS_ADMIN", (_, __, kaniko) => kaniko.securityContext!.capabilities!.add!.push("SYS_ADMIN"), "may add only the capabilities CHOWN, DAC_OVERRIDE, FOWNER, SETGID and SETUID"],
    ["on the host network", (_, pod) => (pod.hostNetwork = true), "hostNetwork, hostPID and hostIPC are not allowed"],
    ["in the host PID namespace", (_, pod) => (pod.hostPID = true), "hostNetwork, hostPID and hostIPC are not allowed"],
  ];
  it.each(cases)("a Job %s", async (_, change, rule) => {
    expectRefusedBy(await dryRunJob(builder, withJob(change)), rule);
  });
});

describe("a function Service that reaches beyond its tenant is refused", () => {
  const secretKeyRef = (name: string) => ({ name: "LEAK", valueFrom: { secretKeyRef: { name, key: "value" } } });
  const cases: Array<[string, (service: KnativeServiceObject, pod: PodSpec, fn: Container) => void, string]> = [
    ["running as the default ServiceAccount", (_, pod) => delete pod.serviceAccountName, "must run as ServiceAccount knative-lambda-function, not default"],
    ["running as another ServiceAccount", (_, pod) => (pod.serviceAccountName = "knative-lambda-builder"), "must run as ServiceAccount knative-lambda-function, not knative-lambda-builder"],
    ["mounting a ServiceAccount token", (_, pod) => (pod.automountServiceAccountToken = true), "must not mount a ServiceAccount token"],
    ["mounting a Secret volume", (_, pod, fn) => { pod.volumes = [{ name: "s", secret: { secretName: "acme.db" } }]; fn.volumeMounts = [{ name: "s", mountPath: "/s" }]; }, "may mount only emptyDir and configMap volumes"],
    ["mounting a projected ServiceAccount token", (_, pod) => (pod.volumes = [{ name: "t", projected: { sources: [{ serviceAccountToken: { path: "token" } }] } }]), "may mount only emptyDir and configMap volumes"],
    ["with a secretKeyRef to the platform's store credentials", (_, __, fn) => fn.env!.push(secretKeyRef("knative-lambda-store")), "of tenant acme may reference in env secretKeyRef only its own Secrets, named acme.<name>"],
    ["with a secretKeyRef to the registry credentials", (_, __, fn) => fn.env!.push(secretKeyRef("knative-lambda-registry")), "of tenant acme may reference"],
    ["labelled acme, with a secretKeyRef to globex.db", (_, __, fn) => fn.env!.push(secretKeyRef("globex.db")), "of tenant acme may reference"],
    ["labelled acme, with a secretKeyRef to acme.corp.db (tenant acme.corp's)", (_, __, fn) => fn.env!.push(secretKeyRef("acme.corp.db")), "of tenant acme may reference"],
    ["without a tenant label, with any secretKeyRef", (service) => delete service.metadata.labels["knative-lambda.io/third-party-id"], "without the label knative-lambda.io/third-party-id may not reference Secrets"],
    ["with envFrom a Secret", (_, __, fn) => (fn.envFrom = [{ secretRef: { name: "acme.db" } }]), "envFrom secretRef is not allowed"],
    ["with a privileged container", (_, __, fn) => (fn.securityContext!.privileged = true), "privileged containers are not allowed"],
    ["allowing privilege escalation", (_, __, fn) => (fn.securityContext!.allowPrivilegeEscalation = true), "must not allow privilege escalation"],
    ["adding a capability", (_, __, fn) => (fn.securityContext!.capabilities = { add: ["NET_ADMIN"] }), "may not add capabilities"],
    ["running as root", (_, __, fn) => (fn.securityContext!.runAsNonRoot = false), "may not set runAsNonRoot: false"],
    ["on the host network", (_, pod) => (pod.hostNetwork = true), "hostNetwork, hostPID and hostIPC are not allowed"],
  ];
  it.each(cases)("a Service %s", async (_, change, rule) => {
    expectRefusedBy(await dryRunService(watcher, withService(change)), rule);
  });

  it("the builder is held to the same rules", async () => {
    expectRefusedBy(await dryRunService(builder, withService((_, __, fn) => fn.env!.push(secretKeyRef("knative-lambda-store")))), "of tenant acme may reference");
  });
});

describe("what the policy leaves alone", () => {
  it("another identity (the admin) may create what the platform's identities may not", async () => {
    const job = withJob((_, pod, kaniko) => {
      pod.serviceAccountName = "default";
      pod.volumes!.push({ name: "host", hostPath: { path: "/" } });
      kaniko.env!.push({ name: "DB", valueFrom: { secretKeyRef: { name: "acme.db", key: "password" } } });
    });
    expect(await dryRunJob(admin, job)).toBeUndefined();
    const service = withService((_, pod, fn) => {
      delete pod.serviceAccountName;
      fn.env!.push({ name: "LEAK", valueFrom: { secretKeyRef: { name: "knative-lambda-store", key: "value" } } });
    });
    expect(await dryRunService(admin, service)).toBeUndefined();
  });

  it("an update that leaves the spec as it was (a Service made before the policy, marked announced) is not held to it; one that changes the spec is", async () => {
    const before = withService((service, pod) => {
      service.metadata.name = `${service.metadata.name.slice(0, 40)}-old`;
      delete pod.serviceAccountName;
    });
    const custom = admin.makeApiClient(k8s.CustomObjectsApi);
    await custom.createNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, body: before });
    const watcherCustom = watcher.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    const mergePatch = k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch);
    const name = before.metadata.name;
    const announce = watcherCustom.patchNamespacedCustomObject(
      { ...KNATIVE_SERVICE, namespace: ns.name, name, dryRun: "All", body: { metadata: { annotations: { "knative-lambda.io/announced": "r1:Ready" } } } },
      mergePatch,
    );
    expect(await refusalOf(announce)).toBeUndefined();
    const redeploy = watcherCustom.patchNamespacedCustomObject(
      { ...KNATIVE_SERVICE, namespace: ns.name, name, dryRun: "All", body: { spec: { template: { metadata: { annotations: { "autoscaling.knative.dev/max-scale": "5" } } } } } },
      mergePatch,
    );
    expectRefusedBy(await refusalOf(redeploy), "must run as ServiceAccount knative-lambda-function, not default");
  });
});
