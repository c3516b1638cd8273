// The admission policies of config/ (config/admission-policy.yaml) on the real
// kube-apiserver: the builder and the job-watcher, authenticated with real
// ServiceAccount tokens and allowed by the real Roles of config/, may create the
// build Job of the configured engine (Kaniko, BuildKit) and the Knative Service the
// platform makes, and nothing that would run as another identity, reach another
// Secret, leave the runtime's confinement beyond what the engine needs, or run an
// image other than the engine's. Each engine has a namespace of its own, with the
// settings of config/ naming it. Requests are server-side dry runs: admission runs
// in full, nothing is stored.
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadConfig } from "../../lib/config/load.ts";
import type { Config } from "../../lib/config/schema.ts";
import { buildJobSettings } from "../../lib/backends/kubernetes.ts";
import { buildkit } from "../../lib/kubernetes/build-engines/buildkit.ts";
import type { BuildEngine } from "../../lib/kubernetes/build-engines/engine.ts";
import { kaniko } from "../../lib/kubernetes/build-engines/kaniko.ts";
import { buildJobManifest } from "../../lib/kubernetes/build-job.ts";
import { knativeServiceManifest, type KnativeServiceObject } from "../../lib/kubernetes/knative-service.ts";
import { buildName, functionName, tenantSecretName } from "../../lib/naming.ts";
import { functionLabels, specAnnotations } from "../../lib/pipeline/service-spec.ts";
import type { BuildRequest } from "../../lib/ports/build-executor.ts";
import type { ServiceSpec } from "../../lib/ports/deployer.ts";
import { contextKey } from "../../lib/source/keys.ts";
import { INSTALL_NAMESPACE, installForAdmission, refusalOf, type Manifest, type Refusal } from "./support/admission.ts";
import { requireKubernetes } from "./support/env.ts";
import { KNATIVE_SERVICE } from "./support/knative.ts";
import { adminKubeConfig, createTestNamespace, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";

const POLICY = "knative-lambda-workloads";
const IMAGES_POLICY = "knative-lambda-build-images";
/** What an operator sets in place of the placeholder of config/configmap.yaml. */
const REPOSITORY = "registry.test.local/functions";
const TENANT = "acme";
const DIGEST = `sha256:${"ab".repeat(32)}`;
const POLICY_KINDS = new Set(["ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);

type Container = k8s.V1Container;
type PodSpec = k8s.V1PodSpec;

interface Install {
  ns: { name: string; remove: () => Promise<void> };
  rendered: Manifest[];
  config: Config;
  builder: Identity;
}

let admin: k8s.KubeConfig;
/** config/ as installed, for Kaniko (its default engine), and with KL_BUILD_ENGINE=buildkit. */
const installs = {} as Record<"kaniko" | "buildkit", Install>;
let ns: Install["ns"];
let rendered: Manifest[];
let builder: Identity;
let watcher: Identity;
let config: Config;

/**
 * config/ in a namespace of its own with KL_BUILD_ENGINE set to `engine`: the identities,
 * Roles and settings of that namespace, and the policies as config/ installs them.
 */
async function install(engine: BuildEngine): Promise<Install> {
  const namespace = await createTestNamespace(`admission-${engine.name}`);
  const { rendered: manifests, settings } = await installForAdmission(namespace.name, { KL_BUILD_ENGINE: engine.name });
  const config = loadConfig({ ...settings, KL_IMAGE_REPOSITORY: REPOSITORY });
  return { ns: namespace, rendered: manifests, config, builder: await kubeConfigForServiceAccount(namespace.name, "knative-lambda-builder") };
}

/** The Job the builder creates for one build with `engine`, from the settings config/ deploys. */
function platformJob(engine: BuildEngine = kaniko): k8s.V1Job {
  const { ns: namespace, config: settings } = installs[engine.name as keyof typeof installs];
  const desired = desiredService();
  const request: BuildRequest = {
    name: desired.buildName,
    functionName: desired.name,
    runtime: "nodejs",
    contextKey: contextKey(TENANT, DIGEST),
    contentDigest: DIGEST,
    timeoutSeconds: settings.KL_BUILD_TIMEOUT_SECONDS,
    labels: functionLabels(desired, "build"),
    annotations: specAnnotations(desired),
  };
  return buildJobManifest(request, `s3://${settings.KL_STORE_BUCKET}/${request.contextKey}`, buildJobSettings(settings, namespace.name), engine);
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
  return refusalOf(kc.makeApiClient(k8s.BatchV1Api).createNamespacedJob({ namespace: job.metadata!.namespace!, body: job, dryRun: "All" }));
}

function dryRunService(identity: Identity | k8s.KubeConfig, service: KnativeServiceObject): Promise<Refusal | undefined> {
  const kc = identity instanceof k8s.KubeConfig ? identity : identity.kubeConfig;
  return refusalOf(kc.makeApiClient(k8s.CustomObjectsApi).createNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, body: service, dryRun: "All" }));
}

/** A refusal by this policy (not by RBAC nor by the object's own validation), naming the rule. */
function expectRefusedBy(refusal: Refusal | undefined, rule: string, policy = POLICY): void {
  expect(refusal, "the request was accepted").toBeDefined();
  expect([403, 422]).toContain(refusal!.code);
  expect(refusal!.message).toContain(`ValidatingAdmissionPolicy '${policy}'`);
  expect(refusal!.message).toContain(rule);
}

function withJob(change: (job: k8s.V1Job, pod: PodSpec, kaniko: Container) => void): k8s.V1Job {
  const job = platformJob();
  change(job, jobPod(job), jobPod(job).containers[0]!);
  return job;
}

/** BuildKit's Job, changed: its pod, the init container that fetches the context, the BuildKit container. */
function withBuildkitJob(change: (job: k8s.V1Job, pod: PodSpec, context: Container, buildkit: Container) => void): k8s.V1Job {
  const job = platformJob(buildkit);
  change(job, jobPod(job), jobPod(job).initContainers![0]!, jobPod(job).containers[0]!);
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
  installs.kaniko = await install(kaniko);
  installs.buildkit = await install(buildkit);
  ({ ns, rendered, config, builder } = installs.kaniko);
  watcher = await kubeConfigForServiceAccount(ns.name, "knative-lambda-job-watcher");
  // A policy takes effect once the apiserver has compiled it, the Roles once RBAC has seen
  // them, and the settings once the policy's informer has: wait until the builder's
  // known-forbidden Jobs are refused by each policy, in each namespace.
  const forbidden = withJob((_, pod) => (pod.serviceAccountName = "default"));
  await waitFor("the admission policy to refuse the builder a Job running as ServiceAccount default", async () => {
    const refusal = await dryRunJob(builder, forbidden);
    return refusal?.message.includes(`ValidatingAdmissionPolicy '${POLICY}'`) ?? false;
  }, 60_000, 500);
  const kanikoInBuildkitNamespace = { ...platformJob(kaniko), metadata: { ...platformJob(kaniko).metadata, namespace: installs.buildkit.ns.name } };
  await waitFor("the images policy to read the settings of the BuildKit namespace", async () => {
    const refusal = await dryRunJob(installs.buildkit.builder, kanikoInBuildkitNamespace);
    return refusal?.message.includes(`ValidatingAdmissionPolicy '${IMAGES_POLICY}'`) ?? false;
  }, 60_000, 500);
});

afterAll(async () => {
  // The policies stay: they are part of what config/ installs, cluster-wide, and the other
  // tests that apply config/ expect them; everything namespaced goes with the namespaces.
  await Promise.all(Object.values(installs).map((i) => i.ns.remove()));
});

describe("config/admission-policy.yaml as kustomize renders it", () => {
  it("names no namespace in its rules, and the apiserver keeps it cluster-scoped", async () => {
    const policy = rendered.filter((m) => POLICY_KINDS.has(m.kind));
    expect(policy.map((m) => `${m.kind}/${m.metadata.name}`).sort()).toEqual([
      `ValidatingAdmissionPolicy/${IMAGES_POLICY}`,
      `ValidatingAdmissionPolicy/${POLICY}`,
      `ValidatingAdmissionPolicyBinding/${IMAGES_POLICY}`,
      `ValidatingAdmissionPolicyBinding/${POLICY}`,
    ]);
    // The identities are matched through request.namespace, never a namespace written down;
    // the settings are those of the request's namespace (no namespace in paramRef).
    for (const m of policy) expect(JSON.stringify(m.spec)).not.toContain(`serviceaccount:${INSTALL_NAMESPACE}:`);
    const images = policy.find((m) => m.kind === "ValidatingAdmissionPolicyBinding" && m.metadata.name === IMAGES_POLICY) as unknown as { spec: { paramRef: Record<string, string> } };
    expect(images.spec.paramRef).toEqual({ name: "knative-lambda-config", parameterNotFoundAction: "Allow" });
    // kustomize does not know these kinds are cluster-scoped and gives them the install
    // namespace; the apiserver drops it, so the same objects serve every install.
    const api = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    for (const name of [POLICY, IMAGES_POLICY]) {
      expect((await api.readValidatingAdmissionPolicy({ name })).metadata?.namespace).toBeUndefined();
      expect((await api.readValidatingAdmissionPolicyBinding({ name })).metadata?.namespace).toBeUndefined();
    }
  });

  it.each([POLICY, IMAGES_POLICY])("%s is accepted by the apiserver, type-checked, and enforced (Deny)", async (name) => {
    const api = admin.makeApiClient(k8s.AdmissionregistrationV1Api);
    const policy = await waitFor("the policy's type checking", async () => {
      const p = await api.readValidatingAdmissionPolicy({ name });
      return p.status?.typeChecking ? p : undefined;
    });
    // Jobs (and the ConfigMap of the settings) are type-checked against their schema
    // (custom resources are not): no expression misnames a field.
    expect(policy.status?.typeChecking?.expressionWarnings ?? []).toEqual([]);
    expect(policy.status?.conditions ?? []).not.toContainEqual(expect.objectContaining({ status: "False" }));
    const binding = await api.readValidatingAdmissionPolicyBinding({ name });
    expect(binding.spec?.validationActions).toEqual(["Deny"]);
  });
});

describe("what the platform really creates is accepted", () => {
  it.each([kaniko, buildkit])("the $name build Job from buildJobManifest(), created by the builder where $name is configured", async (engine) => {
    const job = platformJob(engine);
    expect(jobPod(job).serviceAccountName).toBe("knative-lambda-build");
    expect(await dryRunJob(installs[engine.name as keyof typeof installs].builder, job)).toBeUndefined();
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
    ["adding the capability SYS_ADMIN", (_, __, kaniko) => kaniko.securityContext!.capabilities!.add!.push("SYS_ADMIN"), "may add only the capabilities CHOWN, DAC_OVERRIDE, FOWNER, SETFCAP, SETGID and SETUID"],
    ["running Kaniko seccomp Unconfined", (_, __, kaniko) => (kaniko.securityContext!.seccompProfile = { type: "Unconfined" }), "may run as root must set allowPrivilegeEscalation: false and may not set seccomp or AppArmor Unconfined"],
    ["running Kaniko AppArmor Unconfined", (_, __, kaniko) => (kaniko.securityContext!.appArmorProfile = { type: "Unconfined" }), "may not set seccomp or AppArmor Unconfined"],
    ["running the whole pod seccomp Unconfined", (_, pod) => (pod.securityContext = { seccompProfile: { type: "Unconfined" } }), "Unconfined is not allowed for a whole pod"],
    ["unconfined by the AppArmor annotation", (job) => (job.spec!.template.metadata!.annotations = { "container.apparmor.security.beta.kubernetes.io/kaniko": "unconfined" }), "nor through an AppArmor annotation"],
    // The apiserver itself allows an unmasked /proc only in a pod with a user namespace of its own.
    ["with an unmasked /proc", (_, pod, kaniko) => { pod.hostUsers = false; kaniko.securityContext!.procMount = "Unmasked"; }, "procMount other than Default is not allowed"],
    ["on the host network", (_, pod) => (pod.hostNetwork = true), "hostNetwork, hostPID and hostIPC are not allowed"],
    ["in the host PID namespace", (_, pod) => (pod.hostPID = true), "hostNetwork, hostPID and hostIPC are not allowed"],
  ];
  it.each(cases)("a Job %s", async (_, change, rule) => {
    expectRefusedBy(await dryRunJob(builder, withJob(change)), rule);
  });
});

describe("a BuildKit Job that takes more than rootless BuildKit needs is refused", () => {
  const storeRef = { name: "AWS_SECRET_ACCESS_KEY", valueFrom: { secretKeyRef: { name: "knative-lambda-store", key: "AWS_SECRET_ACCESS_KEY" } } };
  const cases: Array<[string, (job: k8s.V1Job, pod: PodSpec, context: Container, buildkit: Container) => void, string]> = [
    ["running BuildKit as root", (_, __, ___, bk) => (bk.securityContext!.runAsUser = 0), "may run as root must set allowPrivilegeEscalation: false"],
    ["dropping runAsNonRoot from the pod", (_, pod) => delete pod.securityContext!.runAsNonRoot, "may run as root must set allowPrivilegeEscalation: false"],
    ["adding the capability SYS_ADMIN to BuildKit", (_, __, ___, bk) => bk.securityContext!.capabilities!.add!.push("SYS_ADMIN"), "non-root containers may add only the capabilities SETGID and SETUID"],
    ["adding the capability CHOWN to the context fetcher", (_, __, context) => (context.securityContext!.capabilities = { drop: ["ALL"], add: ["CHOWN"] }), "non-root containers may add only the capabilities SETGID and SETUID"],
    ["handing the store credentials to BuildKit", (_, __, ___, bk) => bk.env!.push(storeRef), "allows privilege escalation or runs Unconfined may not reference a Secret in env"],
    ["letting the context fetcher escalate", (_, __, context) => (context.securityContext!.allowPrivilegeEscalation = true), "allows privilege escalation or runs Unconfined may not reference a Secret in env"],
    ["running the whole pod AppArmor Unconfined", (_, pod) => (pod.securityContext!.appArmorProfile = { type: "Unconfined" }), "Unconfined is not allowed for a whole pod"],
    ["with a privileged BuildKit", (_, __, ___, bk) => { bk.securityContext!.privileged = true; delete bk.securityContext!.allowPrivilegeEscalation; }, "privileged containers are not allowed"],
    ["mounting another Secret", (_, pod) => pod.volumes!.push({ name: "tenant", secret: { secretName: "acme.db" } }), "may mount only the Secret knative-lambda-registry"],
  ];
  it.each(cases)("a Job %s", async (_, change, rule) => {
    expectRefusedBy(await dryRunJob(installs.buildkit.builder, withBuildkitJob(change)), rule);
  });
});

describe("a build Job runs only the images of the configured engine", () => {
  const moved = (job: k8s.V1Job, engine: keyof typeof installs): k8s.V1Job => ({ ...job, metadata: { ...job.metadata, namespace: installs[engine].ns.name } });

  it("another image in Kaniko's place is refused, naming the images allowed", async () => {
    const refusal = await dryRunJob(builder, withJob((_, __, k) => (k.image = "docker.io/library/alpine:3")));
    expectRefusedBy(refusal, `may run only the images of the configured build engine kaniko (${config.KL_KANIKO_IMAGE}), not docker.io/library/alpine:3`, IMAGES_POLICY);
  });

  it("another image in the context fetcher's place is refused", async () => {
    const refusal = await dryRunJob(installs.buildkit.builder, withBuildkitJob((_, __, context) => (context.image = "docker.io/amazon/aws-cli:2")));
    expectRefusedBy(refusal, "configured build engine buildkit", IMAGES_POLICY);
  });

  it("the other engine's Job is refused where it is not configured", async () => {
    expectRefusedBy(await dryRunJob(installs.kaniko.builder, moved(platformJob(buildkit), "kaniko")), `configured build engine kaniko (${config.KL_KANIKO_IMAGE}), not ${config.KL_BUILDKIT_IMAGE}`, IMAGES_POLICY);
    expectRefusedBy(await dryRunJob(installs.buildkit.builder, moved(platformJob(kaniko), "buildkit")), "configured build engine buildkit", IMAGES_POLICY);
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
    ["running seccomp Unconfined", (_, __, fn) => (fn.securityContext!.seccompProfile = { type: "Unconfined" }), "may not set seccomp or AppArmor Unconfined"],
    ["running the whole pod AppArmor Unconfined", (_, pod) => (pod.securityContext = { appArmorProfile: { type: "Unconfined" } }), "Unconfined is not allowed for a whole pod"],
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
