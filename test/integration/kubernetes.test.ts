// Smoke tests of the Kubernetes part of the test environment: a real
// kube-apiserver (RBAC on) with the real Job controller, scheduler and kwok
// playing the kubelet of one fake node.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { loadTestEnv, requireKubernetes, requireReference, requireTool } from "./support/env.ts";
import {
  adminKubeConfig,
  createTestNamespace,
  kubeConfigForServiceAccount,
  kubeConfigForUser,
  noPermissionsIdentity,
  waitFor,
} from "./support/kubernetes.ts";
import { KNATIVE_SERVICE, pretendKnativeServingMarksReady } from "./support/knative.ts";

const execFileAsync = promisify(execFile);
/** Writes fail on a field the schema does not know (the apiserver's default only warns and drops it). */
const STRICT = "Strict";
/** Every kind the project's manifests and code create, by its CRD's name. */
const UPSTREAM_CRDS = [
  "services.serving.knative.dev",
  "brokers.eventing.knative.dev",
  "triggers.eventing.knative.dev",
  "apiserversources.sources.knative.dev",
  "sinkbindings.sources.knative.dev",
  "rabbitmqbrokerconfigs.eventing.knative.dev",
  "prometheusrules.monitoring.coreos.com",
];

interface CrdDocument {
  kind: string;
  metadata: { name: string };
  spec: { versions: Array<{ name: string; served: boolean; schema?: unknown; subresources?: unknown }> };
}

/** The CustomResourceDefinitions of ../shared/reference/crds, read in place. */
function readReferenceCrds(): CrdDocument[] {
  const dir = requireReference("crds");
  return readdirSync(dir)
    .filter((file) => file.endsWith(".yaml"))
    .flatMap((file) => parseAllDocuments(readFileSync(join(dir, file), "utf8")).map((d) => d.toJSON() as CrdDocument | null))
    .filter((doc): doc is CrdDocument => doc?.kind === "CustomResourceDefinition");
}

function jobManifest(name: string, annotations: Record<string, string> = {}): k8s.V1Job {
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: { name, labels: { "app.kubernetes.io/part-of": "integration-smoke", smoke: name } },
    spec: {
      backoffLimit: 0,
      template: {
        metadata: { annotations },
        spec: {
          restartPolicy: "Never",
          containers: [{ name: "build", image: "registry.invalid/never-pulled:1", command: ["/bin/true"] }],
        },
      },
    },
  };
}

function condition(job: k8s.V1Job, type: string): k8s.V1JobCondition | undefined {
  return job.status?.conditions?.find((c) => c.type === type && c.status === "True");
}

function statusCode(err: unknown): number | undefined {
  return (err as { code?: number }).code;
}

describe("Kubernetes control plane", () => {
  let kc: k8s.KubeConfig;
  let batch: k8s.BatchV1Api;
  let core: k8s.CoreV1Api;
  let ns: { name: string; remove: () => Promise<void> };

  beforeAll(async () => {
    await requireKubernetes();
    kc = await adminKubeConfig();
    batch = kc.makeApiClient(k8s.BatchV1Api);
    core = kc.makeApiClient(k8s.CoreV1Api);
    ns = await createTestNamespace("smoke-k8s");
  });

  afterAll(async () => {
    await ns?.remove();
  });

  it("serves the pinned Kubernetes release, and kubectl comes from the same release", async () => {
    const env = loadTestEnv();
    const version = await kc.makeApiClient(k8s.VersionApi).getCode();
    expect(version.gitVersion).toBe(env.versions.kubernetes);
    const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", env.kubernetes.kubeconfig, "version", "-o", "json"]);
    const kubectlVersion = JSON.parse(stdout) as { clientVersion: { gitVersion: string }; serverVersion: { gitVersion: string } };
    expect(kubectlVersion.clientVersion.gitVersion).toBe(env.versions.kubernetes);
    expect(kubectlVersion.serverVersion.gitVersion).toBe(env.versions.kubernetes);
  });

  it("creates, gets, lists and watches a Job that kwok runs to Complete, with its termination message", async () => {
    const name = `ok-${randomBytes(3).toString("hex")}`;
    const env = loadTestEnv();
    const digest = `sha256:${randomBytes(32).toString("hex")}`;
    const seen: Array<{ phase: string; complete: boolean }> = [];
    const watchDone: { err?: unknown } = {};
    const abort = await new k8s.Watch(kc).watch(
      `/apis/batch/v1/namespaces/${ns.name}/jobs`,
      { labelSelector: `smoke=${name}` },
      (phase, obj: k8s.V1Job) => {
        seen.push({ phase, complete: condition(obj, "Complete") !== undefined });
      },
      (err) => {
        watchDone.err = err;
      },
    );
    try {
      const created = await batch.createNamespacedJob({
        namespace: ns.name,
        fieldValidation: STRICT,
        body: jobManifest(name, { [env.kubernetes.kwok.annotations.terminationMessage]: digest }),
      });
      expect(created.metadata?.uid).toBeTruthy();

      const got = await batch.readNamespacedJob({ namespace: ns.name, name });
      expect(got.metadata?.uid).toBe(created.metadata?.uid);

      const list = await batch.listNamespacedJob({ namespace: ns.name, labelSelector: `smoke=${name}` });
      expect(list.items.map((j) => j.metadata?.name)).toEqual([name]);

      const done = await waitFor(`Job ${name} Complete`, async () => {
        const job = await batch.readNamespacedJob({ namespace: ns.name, name });
        return condition(job, "Complete") ? job : undefined;
      });
      expect(done.status?.succeeded).toBe(1);
      expect(condition(done, "Failed")).toBeUndefined();

      await waitFor("the watch to deliver the Complete Job", async () => seen.some((e) => e.complete));
      expect(seen[0]?.phase).toBe("ADDED");
      expect(seen.some((e) => e.phase === "MODIFIED" && e.complete)).toBe(true);
      expect(watchDone.err).toBeUndefined();

      // The pod really went through the scheduler (bound to the kwok node) and
      // kwok's stages (Running, then terminated with exit code 0).
      const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `batch.kubernetes.io/job-name=${name}` });
      expect(pods.items).toHaveLength(1);
      const pod = pods.items[0]!;
      expect(pod.spec?.nodeName).toBe(env.kubernetes.kwok.nodeName);
      expect(pod.status?.phase).toBe("Succeeded");
      const terminated = pod.status?.containerStatuses?.[0]?.state?.terminated;
      expect(terminated?.exitCode).toBe(0);
      expect(terminated?.message).toBe(digest);
    } finally {
      abort.abort();
    }
  });

  it("a Job whose pod kwok is told to fail becomes Failed", async () => {
    const env = loadTestEnv();
    const name = `fail-${randomBytes(3).toString("hex")}`;
    const a = env.kubernetes.kwok.annotations;
    await batch.createNamespacedJob({
      namespace: ns.name,
      fieldValidation: STRICT,
      body: jobManifest(name, { [a.outcome]: "fail", [a.exitCode]: "3", [a.terminationMessage]: "kaniko: push failed" }),
    });
    const failed = await waitFor(`Job ${name} Failed`, async () => {
      const job = await batch.readNamespacedJob({ namespace: ns.name, name });
      return condition(job, "Failed") ? job : undefined;
    });
    expect(condition(failed, "Failed")?.reason).toBe("BackoffLimitExceeded");
    expect(condition(failed, "Complete")).toBeUndefined();
    expect(failed.status?.failed).toBe(1);
    const pods = await core.listNamespacedPod({ namespace: ns.name, labelSelector: `batch.kubernetes.io/job-name=${name}` });
    const terminated = pods.items[0]?.status?.containerStatuses?.[0]?.state?.terminated;
    expect(pods.items[0]?.status?.phase).toBe("Failed");
    expect(terminated?.exitCode).toBe(3);
    expect(terminated?.message).toBe("kaniko: push failed");
  });

  it("denies an identity without permission with 403 (RBAC is on)", async () => {
    const nobody = await noPermissionsIdentity();
    const api = nobody.kubeConfig.makeApiClient(k8s.BatchV1Api);
    const err = await api.listNamespacedJob({ namespace: ns.name }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusCode(err)).toBe(403);
    expect(String((err as Error).message)).toContain("test-no-permissions");
  });

  it("acts as a ServiceAccount (TokenRequest token) with exactly what its Role grants", async () => {
    const rbac = kc.makeApiClient(k8s.RbacAuthorizationV1Api);
    await core.createNamespacedServiceAccount({ namespace: ns.name, fieldValidation: STRICT, body: { metadata: { name: "job-reader" } } });
    await rbac.createNamespacedRole({
      namespace: ns.name,
      fieldValidation: STRICT,
      body: {
        metadata: { name: "job-reader" },
        rules: [{ apiGroups: ["batch"], resources: ["jobs"], verbs: ["get", "list", "watch"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns.name,
      fieldValidation: STRICT,
      body: {
        metadata: { name: "job-reader" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "job-reader" },
        subjects: [{ kind: "ServiceAccount", name: "job-reader", namespace: ns.name }],
      },
    });
    const sa = await kubeConfigForServiceAccount(ns.name, "job-reader");
    const saBatch = sa.kubeConfig.makeApiClient(k8s.BatchV1Api);

    // Allowed by the Role (RBAC caches refresh quickly; poll briefly).
    const listed = await waitFor("the Role to take effect", async () => saBatch.listNamespacedJob({ namespace: ns.name }), 15_000);
    expect(Array.isArray(listed.items)).toBe(true);

    // Not granted: create in the namespace, list in another namespace.
    const createErr = await saBatch.createNamespacedJob({ namespace: ns.name, body: jobManifest("denied") }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusCode(createErr)).toBe(403);
    expect(String((createErr as Error).message)).toContain(`system:serviceaccount:${ns.name}:job-reader`);
    const otherErr = await saBatch.listNamespacedJob({ namespace: "default" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusCode(otherErr)).toBe(403);
  });

  it("acts as an arbitrary user through a client certificate signed by the test CA", async () => {
    const user = `alice-${randomBytes(3).toString("hex")}`;
    const alice = await kubeConfigForUser(user, ["test:developers"]);
    const review = await alice.kubeConfig.makeApiClient(k8s.AuthenticationV1Api).createSelfSubjectReview({
      body: { apiVersion: "authentication.k8s.io/v1", kind: "SelfSubjectReview" },
    });
    expect(review.status?.userInfo?.username).toBe(user);
    expect(review.status?.userInfo?.groups).toEqual(expect.arrayContaining(["test:developers", "system:authenticated"]));
    const err = await alice.kubeConfig.makeApiClient(k8s.CoreV1Api).listNamespacedSecret({ namespace: ns.name }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusCode(err)).toBe(403);
  });

  it("serves the upstream CRDs of ../shared/reference/crds, schema for schema", async () => {
    const env = loadTestEnv();
    const crds = readReferenceCrds();
    expect(crds.map((c) => c.metadata.name).sort()).toEqual([...UPSTREAM_CRDS].sort());
    for (const reference of crds) {
      const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", env.kubernetes.kubeconfig, "get", "crd", reference.metadata.name, "-o", "json"], { maxBuffer: 16 * 1024 * 1024 });
      const served = JSON.parse(stdout) as CrdDocument;
      for (const version of reference.spec.versions) {
        const live = served.spec.versions.find((v) => v.name === version.name);
        expect(live?.served, `${reference.metadata.name} ${version.name} served`).toBe(true);
        expect(live?.schema, `${reference.metadata.name} ${version.name} schema`).toEqual(version.schema);
        expect(live?.subresources, `${reference.metadata.name} ${version.name} subresources`).toEqual(version.subresources);
      }
    }
  });

  it("refuses, under strict field validation, a Knative Service field the real schema does not know", async () => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const body = {
      apiVersion: "serving.knative.dev/v1",
      kind: "Service",
      metadata: { name: "unknown-field" },
      spec: { template: { spec: { containers: [{ image: "registry.invalid/fn:1", notAContainerField: true }] } } },
    };
    const err = await custom.createNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, body, fieldValidation: STRICT, dryRun: "All" }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(statusCode(err)).toBe(400);
    expect(String((err as Error).message)).toContain("notAContainerField");
  });

  it("keeps a Knative Service's status for the /status subresource, where the stand-in for Serving writes it", async () => {
    const custom = kc.makeApiClient(k8s.CustomObjectsApi);
    const name = "hello";
    await custom.createNamespacedCustomObject({
      ...KNATIVE_SERVICE,
      namespace: ns.name,
      fieldValidation: STRICT,
      body: {
        apiVersion: "serving.knative.dev/v1",
        kind: "Service",
        metadata: { name },
        spec: { template: { spec: { containers: [{ image: "registry.invalid/fn@sha256:" + "0".repeat(64) }] } } },
        // Ignored: status is only written through the /status subresource.
        status: { url: "http://wrong.example" },
      },
    });
    const fresh = (await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, name })) as { status?: unknown };
    expect(fresh.status).toBeUndefined();

    await pretendKnativeServingMarksReady(kc, ns.name, name, `http://${name}.${ns.name}.example.test`);
    const ready = (await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: ns.name, name })) as {
      status: { url: string; conditions: Array<{ type: string; status: string }> };
    };
    expect(ready.status.url).toBe(`http://${name}.${ns.name}.example.test`);
    expect(ready.status.conditions).toContainEqual(expect.objectContaining({ type: "Ready", status: "True" }));
  });
});
