// The job-watcher's resync on the real control plane. The ApiServerSource adapter sends
// nothing for objects that exist when it starts, nothing for changes made while it was
// down, and drops an event after 5 failed sends: here builds end while no adapter runs,
// or while the real one (eventing/apiserversource.yaml) is stopped, and the resync alone
// must finish them. The builder and the job-watcher run as processes with the identities
// and Roles of config/ (RBAC on), writing through strict field validation.
import { randomBytes, randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { HTTP, type CloudEvent } from "cloudevents";
import { parseAllDocuments } from "yaml";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { Annotations, functionName, Labels } from "../../lib/naming.ts";
import { objectOf, showAdapterLogsOnFailure, startApiServerSourceAdapter, type RecordedRequest, type RunningAdapter } from "./support/apiserversource-adapter.ts";
import { REPO_ROOT, requireKubernetes, requireS3, requireTool, type TestEnv } from "./support/env.ts";
import { KNATIVE_SERVICE, pretendKnativeServingMarksReady } from "./support/knative.ts";
import { adminKubeConfig, adminKubeconfigPath, createTestNamespace, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";
import { clusterFunctionEnv, TEST_NAMESPACE, TEST_REPOSITORY, uploadSource } from "./support/cluster-function.ts";
import { startFunction, type FunctionProcess } from "./support/platform-processes.ts";
import { startStrictApiServer, type StrictApiServer } from "./support/strict-apiserver.ts";

const execFileAsync = promisify(execFile);
const NAMESPACE = TEST_NAMESPACE;
const WATCHER = "knative-lambda-job-watcher";
const PREFIX = "network.notifi.lambda";
const REPOSITORY = TEST_REPOSITORY;
const PUSHED_DIGEST = `sha256:${randomBytes(32).toString("hex")}`;
const KWOK = "kwok.knative-lambda.test";
/** A finalizer only this test sets: it keeps a build pod from going away, as an unkillable pod would. */
const HOLD = "knative-lambda.test/hold";
const STUCK_TIMEOUT_SECONDS = 4;
/** Long enough for another run of the same step to have emitted, were it not waiting its turn. */
const HOLD_MS = 5000;
const PERIOD_SECONDS = 2;
/** An annotation only this test sets: a change to a Job, which the adapter sends as an update. */
const TOUCHED = "knative-lambda.test/touched";
const STRICT = "Strict";

let env: TestEnv;
let admin: k8s.KubeConfig;
let batch: k8s.BatchV1Api;
let core: k8s.CoreV1Api;
let custom: k8s.CustomObjectsApi;
let builderIdentity: Identity;
let watcherIdentity: Identity;
let sink: GatedCollector;
let strict: StrictApiServer;
const builders: Record<"ok" | "stuck", FunctionProcess> = {} as never;
const tenant = `rs${randomBytes(4).toString("hex")}`;
const fn = (parser: string) => functionName({ thirdPartyId: tenant, parserId: parser });

/** The broker for K_SINK: keeps every CloudEvent as it arrives, and can hold back its answer. */
interface GatedCollector {
  url: string;
  events: CloudEvent<Record<string, unknown>>[];
  /** Answers no event that matches until the returned function is called. */
  hold(matches: (event: CloudEvent<Record<string, unknown>>) => boolean): () => void;
  close(): Promise<void>;
}

async function startGatedCollector(): Promise<GatedCollector> {
  const events: CloudEvent<Record<string, unknown>>[] = [];
  const holds = new Set<{ matches: (event: CloudEvent<Record<string, unknown>>) => boolean; released: Promise<void> }>();
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const event = HTTP.toEvent({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") }) as CloudEvent<Record<string, unknown>>;
      events.push(event);
      await Promise.all([...holds].filter((h) => h.matches(event)).map((h) => h.released));
      response.writeHead(202).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    events,
    hold(matches) {
      const { promise, resolve } = Promise.withResolvers<void>();
      const entry = { matches, released: promise };
      holds.add(entry);
      return () => {
        holds.delete(entry);
        resolve();
      };
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

function functionEnv(role: string, identity: Identity, extra: Record<string, string> = {}): Record<string, string> {
  return clusterFunctionEnv(env, role, identity, sink.url, extra);
}

const watchers: FunctionProcess[] = [];
const adapters: RunningAdapter[] = [];

/** A job-watcher, stopped after the test (with any adapter feeding it), so that each test knows who reconciles. */
async function startWatcher(resyncIntervalSeconds: number, identity = watcherIdentity, extra: Record<string, string> = {}): Promise<FunctionProcess> {
  const watcher = await startFunction("job-watcher", functionEnv("job-watcher", identity, { KL_RESYNC_INTERVAL_SECONDS: String(resyncIntervalSeconds), ...extra }));
  watchers.push(watcher);
  return watcher;
}

/** The real ApiServerSource adapter feeding `watcher`, stopped after the test (or before, by the test). */
async function startAdapter(watcher: FunctionProcess): Promise<RunningAdapter> {
  // The namespace is shared with the other test files' runs and with earlier runs: this
  // run's tenant label keeps their objects' changes from reaching this run's job-watchers.
  const adapter = await startApiServerSourceAdapter({ namespace: NAMESPACE, target: watcher.url, extraLabels: { [Labels.ThirdPartyId]: tenant } });
  adapters.push(adapter);
  return adapter;
}

/** A function's identity, talking to the apiserver with strict field validation. */
async function strictServiceAccount(namespace: string, name: string): Promise<Identity> {
  return strict.identityFor(await kubeConfigForServiceAccount(namespace, name));
}

/** Changes a Job the way any client could: the adapter sends it as an update. */
async function touchJob(name: string): Promise<void> {
  await batch.patchNamespacedJob({ name, namespace: NAMESPACE, body: { metadata: { annotations: { [TOUCHED]: new Date().toISOString() } } }, fieldValidation: STRICT }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
}

/** Puts a function source in MinIO and asks the builder to build it; answers the build (Job) name. */
async function startBuild(builder: FunctionProcess, parser: string): Promise<string> {
  const { key, hash } = await uploadSource(env, tenant, parser, "examples/faas-greet");
  const headers = { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": randomUUID(), "ce-source": "integration-test", "ce-type": `${PREFIX}.build.start` };
  const response = await builder.post(headers, JSON.stringify({ third_party_id: tenant, parser_id: parser, content_hash: hash, source: { key } }));
  expect(response.status, response.body).toBe(200);
  return String((HTTP.toEvent({ headers: response.headers, body: response.body }) as CloudEvent<Record<string, unknown>>).data?.build_id);
}

function emitted(type: string, parser: string): CloudEvent<Record<string, unknown>>[] {
  return sink.events.filter((e) => e.type === `${PREFIX}.${type}` && e.data?.function_name === fn(parser));
}

function waitForEmitted(type: string, parser: string, timeoutMs = 60_000): Promise<CloudEvent<Record<string, unknown>>> {
  return waitFor(`${type} for ${fn(parser)}`, async () => emitted(type, parser)[0], timeoutMs);
}

function readJob(name: string): Promise<k8s.V1Job> {
  return batch.readNamespacedJob({ name, namespace: NAMESPACE });
}

function waitForJobEnd(name: string): Promise<k8s.V1Job> {
  return waitFor(`Job ${name} to end`, async () => {
    const job = await readJob(name);
    return job.status?.conditions?.some((c) => (c.type === "Complete" || c.type === "Failed") && c.status === "True") && job;
  });
}

function waitForAnnounced(name: string): Promise<k8s.V1Job> {
  return waitFor(`Job ${name} marked announced`, async () => {
    const job = await readJob(name);
    return job.metadata?.annotations?.[Annotations.Announced] === "true" && job;
  });
}

async function deployedImage(parser: string): Promise<string | undefined> {
  const service = (await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: NAMESPACE, name: fn(parser) })) as { spec: { template: { spec: { containers: Array<{ image: string }> } } } };
  return service.spec.template.spec.containers[0]?.image;
}

/** The value of one series of a Prometheus text exposition, undefined when it is not there. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const line of text.split("\n")) {
    const match = /^([A-Za-z_:][\w:]*)(?:\{(.*)\})? (\S+)/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = Object.fromEntries([...(match[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((m) => [m[1], m[2]]));
    if (Object.entries(labels).every(([key, value]) => present[key] === value)) return Number(match[3]);
  }
  return undefined;
}

async function scrape(watcher: FunctionProcess): Promise<string> {
  const response = await fetch(`${watcher.url}metrics`);
  expect(response.status).toBe(200);
  return response.text();
}

/** The resync passes a job-watcher has finished, from its log. */
async function resyncPasses(watcher: FunctionProcess): Promise<Array<{ due: number; failures: number }>> {
  return (await watcher.log())
    .split("\n")
    .filter((line) => line.includes('"msg":"resync done"'))
    .map((line) => JSON.parse(line) as { due: number; failures: number });
}

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), ...args], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

afterEach(showAdapterLogsOnFailure);

afterEach(async () => {
  for (const adapter of adapters.splice(0)) await adapter.stop();
  await Promise.all(watchers.splice(0).map((w) => w.stop()));
});

beforeAll(async () => {
  env = await requireKubernetes();
  await requireS3();
  admin = await adminKubeConfig();
  batch = admin.makeApiClient(k8s.BatchV1Api);
  core = admin.makeApiClient(k8s.CoreV1Api);
  custom = admin.makeApiClient(k8s.CustomObjectsApi);
  await kubectl("apply", "--server-side", "--force-conflicts", "--validate=strict", "-k", "config/");
  strict = await startStrictApiServer();
  builderIdentity = await strictServiceAccount(NAMESPACE, "knative-lambda-builder");
  watcherIdentity = await strictServiceAccount(NAMESPACE, WATCHER);
  sink = await startGatedCollector();
  builders.ok = await startFunction("builder", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/termination-message`]: PUSHED_DIGEST }) }));
  builders.stuck = await startFunction(
    "builder-stuck",
    functionEnv("builder", builderIdentity, { KL_BUILD_TIMEOUT_SECONDS: String(STUCK_TIMEOUT_SECONDS), KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/run-duration`]: "600s" }) }),
  );
}, 180_000);

afterAll(async () => {
  const pods = await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `${Labels.ThirdPartyId}=${tenant}` }).catch(() => ({ items: [] as k8s.V1Pod[] }));
  for (const pod of pods.items.filter((p) => p.metadata?.finalizers?.includes(HOLD))) await releasePod(pod.metadata!.name!);
  await Promise.all(Object.values(builders).filter(Boolean).map((p) => p.stop()));
  await sink?.close();
  await strict?.close();
  await removeTenantObjects();
});

/** What this run made in the shared namespace goes with it: every resync after it would list it again. */
async function removeTenantObjects(): Promise<void> {
  const labelSelector = `${Labels.ThirdPartyId}=${tenant}`;
  await custom?.deleteCollectionNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: NAMESPACE, labelSelector });
  await batch?.deleteCollectionNamespacedJob({ namespace: NAMESPACE, labelSelector, propagationPolicy: "Background" });
}

async function holdPod(name: string): Promise<void> {
  await core.patchNamespacedPod({ name, namespace: NAMESPACE, body: [{ op: "add", path: "/metadata/finalizers/-", value: HOLD }], fieldValidation: STRICT }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch));
}

async function releasePod(name: string): Promise<void> {
  const pod = await core.readNamespacedPod({ name, namespace: NAMESPACE });
  const index = pod.metadata?.finalizers?.indexOf(HOLD) ?? -1;
  if (index < 0) return;
  await core.patchNamespacedPod({ name, namespace: NAMESPACE, body: [{ op: "remove", path: `/metadata/finalizers/${index}` }], fieldValidation: STRICT }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.JsonPatch));
}

describe("builds that end while no watch event reaches the job-watcher", () => {
  it("are announced by the resync at start: build.complete, the Knative Service by digest, the Job marked announced", async () => {
    const job = await startBuild(builders.ok, "before-start");
    await waitForJobEnd(job);
    expect((await readJob(job)).metadata?.annotations?.[Annotations.Announced]).toBeUndefined();

    await startWatcher(0);
    const complete = await waitForEmitted("build.complete", "before-start");
    expect(complete.data).toMatchObject({ build_id: job, image: `${REPOSITORY}/${fn("before-start")}@${PUSHED_DIGEST}`, superseded: false });
    expect(await deployedImage("before-start")).toBe(`${REPOSITORY}/${fn("before-start")}@${PUSHED_DIGEST}`);
    await waitForAnnounced(job);
  });

  it("are announced by the periodic resync, and so is the service's readiness", async () => {
    const watcher = await startWatcher(PERIOD_SECONDS);
    await waitFor("the resync at start", async () => (await resyncPasses(watcher)).length > 0);

    const job = await startBuild(builders.ok, "while-running");
    await waitForJobEnd(job);
    await waitForEmitted("build.complete", "while-running", PERIOD_SECONDS * 5000);
    await waitForAnnounced(job);

    await pretendKnativeServingMarksReady(admin, NAMESPACE, fn("while-running"), `http://${fn("while-running")}.example.com`);
    const ready = await waitForEmitted("service.ready", "while-running", PERIOD_SECONDS * 5000);
    expect(ready.data).toMatchObject({ url: `http://${fn("while-running")}.example.com`, build_id: job });

    await sleep(PERIOD_SECONDS * 1500);
    expect(emitted("build.complete", "while-running")).toHaveLength(1);
    expect(emitted("service.ready", "while-running")).toHaveLength(1);
  });

  it("are announced by the resync while the real adapter is down, and started again it sends nothing for them", async () => {
    const watcher = await startWatcher(PERIOD_SECONDS);
    const before = await startAdapter(watcher);
    await waitFor("the resync at start", async () => (await resyncPasses(watcher)).length > 0);
    await before.stop();
    // Held, the announcement leaves the Job as the build left it (no announced mark yet): any
    // event about it until the release would be the adapter sending what ended while it was down.
    const release = sink.hold((e) => e.data?.function_name === fn("adapter-down"));

    const job = await startBuild(builders.ok, "adapter-down");
    await waitForJobEnd(job);
    const after = await startAdapter(watcher);
    const complete = await waitForEmitted("build.complete", "adapter-down", PERIOD_SECONDS * 5000);
    expect(complete.data).toMatchObject({ build_id: job, image: `${REPOSITORY}/${fn("adapter-down")}@${PUSHED_DIGEST}`, superseded: false });
    // The adapter started after the Job ended and its watches are established (its initial list done): nothing came of it.
    expect(before.requestsFor(job).map((r) => r.headers["ce-type"])).toEqual([]);
    expect(after.requestsFor(job).map((r) => r.headers["ce-type"])).toEqual([]);
    release();

    // The first it sends about the Job is the resync's announced mark, which announces nothing again.
    const marked = await waitFor("the adapter's event for the announced mark", async () => after.requestsFor(job).find((r) => objectOf(r).metadata.annotations?.[Annotations.Announced] === "true"));
    expect(marked.headers["ce-type"]).toBe("dev.knative.apiserver.resource.update");
    expect(after.requestsFor(job).every((r) => r.status === 200)).toBe(true);
    expect(emitted("build.complete", "adapter-down")).toHaveLength(1);
  });
});

describe("a resync and a watch event for the same Job at the same time", () => {
  it("announce once when the resync is first", async () => {
    const job = await startBuild(builders.ok, "resync-first");
    await waitForJobEnd(job);
    const release = sink.hold((e) => e.data?.function_name === fn("resync-first"));
    const watcher = await startWatcher(PERIOD_SECONDS);
    await waitForEmitted("build.complete", "resync-first");

    // The adapter sends nothing for the Job as it is: a change to it, made now, is the watch
    // event that comes while the resync's announcement is in flight.
    const adapter = await startAdapter(watcher);
    await touchJob(job);
    const touched = (request: RecordedRequest) => objectOf(request).metadata.annotations?.[TOUCHED] !== undefined;
    await sleep(HOLD_MS);
    expect(emitted("build.complete", "resync-first")).toHaveLength(1);
    release();

    await waitFor("the watch event for the touched Job to be answered", async () => adapter.requestsFor(job).find(touched));
    expect(adapter.requestsFor(job).every((r) => r.status === 200)).toBe(true);
    await waitForAnnounced(job);
    expect(emitted("build.complete", "resync-first")).toHaveLength(1);
  });

  it("announce once when the watch event is first", async () => {
    const watcher = await startWatcher(PERIOD_SECONDS);
    await startAdapter(watcher);
    await waitFor("the resync at start", async () => (await resyncPasses(watcher)).length > 0);
    const release = sink.hold((e) => e.data?.function_name === fn("event-first"));

    const job = await startBuild(builders.ok, "event-first");
    await waitForEmitted("build.complete", "event-first");
    const passesBefore = (await resyncPasses(watcher)).length;
    await sleep(HOLD_MS);
    expect(emitted("build.complete", "event-first")).toHaveLength(1);
    release();

    await waitForAnnounced(job);
    const passes = await waitFor("the resync that waited for the Job", async () => {
      const later = (await resyncPasses(watcher)).slice(passesBefore);
      return later.some((pass) => pass.due > 0) && later;
    });
    expect(passes.every((pass) => pass.failures === 0)).toBe(true);
    await sleep(PERIOD_SECONDS * 1500);
    expect(emitted("build.complete", "event-first")).toHaveLength(1);
  });
});

describe("the build gauges, reported by the job-watcher", () => {
  it("show a build kept running past its deadline, and it is announced once it ends", async () => {
    const watcher = await startWatcher(PERIOD_SECONDS);
    const job = await startBuild(builders.stuck, "stuck");
    const pod = await waitFor(`the pod of ${job}`, async () => (await core.listNamespacedPod({ namespace: NAMESPACE, labelSelector: `batch.kubernetes.io/job-name=${job}` })).items[0], 3000, 50);
    await holdPod(pod.metadata!.name!);

    const text = await waitFor(
      "the gauges to show the build overdue",
      async () => {
        const scraped = await scrape(watcher);
        return (sample(scraped, "knative_lambda_oldest_build_overdue_seconds") ?? 0) > 0 && scraped;
      },
      30_000,
      500,
    );
    expect(sample(text, "knative_lambda_builds_running")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "knative_lambda_oldest_running_build_age_seconds")).toBeGreaterThan(STUCK_TIMEOUT_SECONDS);
    expect((await readJob(job)).status?.conditions?.find((c) => c.type === "Failed")).toBeUndefined();

    await releasePod(pod.metadata!.name!);
    const timeout = await waitForEmitted("build.timeout", "stuck", 30_000);
    expect(timeout.data).toMatchObject({ build_id: job, timeout_seconds: STUCK_TIMEOUT_SECONDS });
  });
});

describe("the job-watcher's Role", () => {
  const watcherUser = `system:serviceaccount:${NAMESPACE}:${WATCHER}`;

  async function allowed(verb: string, group: string, resource: string, namespace = NAMESPACE): Promise<boolean> {
    const review = await admin.makeApiClient(k8s.AuthorizationV1Api).createSubjectAccessReview({
      body: { apiVersion: "authorization.k8s.io/v1", kind: "SubjectAccessReview", spec: { user: watcherUser, groups: ["system:serviceaccounts", `system:serviceaccounts:${NAMESPACE}`, "system:authenticated"], resourceAttributes: { namespace, verb, group, resource } } },
    });
    return review.status?.allowed === true;
  }

  it("grants listing Jobs and Knative Services, and no more than the job-watcher uses", async () => {
    expect(await allowed("list", "batch", "jobs")).toBe(true);
    expect(await allowed("list", "serving.knative.dev", "services")).toBe(true);
    for (const [verb, group, resource] of [["watch", "batch", "jobs"], ["watch", "serving.knative.dev", "services"], ["create", "batch", "jobs"], ["delete", "batch", "jobs"], ["delete", "serving.knative.dev", "services"], ["list", "", "secrets"]] as const) {
      expect(await allowed(verb, group, resource), `${verb} ${resource}`).toBe(false);
    }
    expect(await allowed("list", "batch", "jobs", "default")).toBe(false);
  });

  it("lets the resync and the gauges list: no 403, every listing counted a success", async () => {
    const watcher = await startWatcher(PERIOD_SECONDS);
    await waitFor("two resync passes", async () => (await resyncPasses(watcher)).length >= 2);
    const text = await scrape(watcher);
    const calls = (operation: string, outcome: string) => sample(text, "knative_lambda_dependency_requests_total", { dependency: "kubernetes", operation, outcome });
    expect(calls("job.list", "success")).toBeGreaterThanOrEqual(2);
    expect(calls("service.list", "success")).toBeGreaterThanOrEqual(2);
    expect(calls("job.list", "error") ?? 0).toBe(0);
    expect(calls("service.list", "error") ?? 0).toBe(0);
    expect((await resyncPasses(watcher)).every((pass) => pass.failures === 0)).toBe(true);
    expect(await watcher.log()).not.toContain("(403)");
  });

  it("without list (the Role before the resync), every refused listing is logged with its status and counted", async () => {
    const namespace = await createTestNamespace("rs-rbac");
    try {
      const rbac = admin.makeApiClient(k8s.RbacAuthorizationV1Api);
      const role = parseAllDocuments(readFileSync(`${REPO_ROOT}/config/rbac-job-watcher.yaml`, "utf8")).map((d) => d.toJSON() as k8s.V1Role).find((d) => d.kind === "Role")!;
      const listed = new Set(["jobs", "services"]);
      const withoutList = role.rules!.map((rule) => (rule.resources!.some((r) => listed.has(r)) ? { ...rule, verbs: rule.verbs.filter((verb) => verb !== "list") } : rule));
      await core.createNamespacedServiceAccount({ namespace: namespace.name, fieldValidation: STRICT, body: { metadata: { name: WATCHER } } });
      await rbac.createNamespacedRole({ namespace: namespace.name, fieldValidation: STRICT, body: { metadata: { name: WATCHER }, rules: withoutList } });
      await rbac.createNamespacedRoleBinding({ namespace: namespace.name, fieldValidation: STRICT, body: { metadata: { name: WATCHER }, roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: WATCHER }, subjects: [{ kind: "ServiceAccount", name: WATCHER, namespace: namespace.name }] } });
      const identity = await strictServiceAccount(namespace.name, WATCHER);

      const watcher = await startWatcher(0, identity, { KL_NAMESPACE: namespace.name });
      const [pass] = await waitFor("the resync at start", async () => {
        const passes = await resyncPasses(watcher);
        return passes.length > 0 && passes;
      });
      expect(pass).toMatchObject({ due: 0, failures: 2 });
      const text = await scrape(watcher);
      const errors = (operation: string) => sample(text, "knative_lambda_dependency_requests_total", { dependency: "kubernetes", operation, outcome: "error" });
      expect(errors("job.list")).toBeGreaterThanOrEqual(1);
      expect(errors("service.list")).toBe(1);
      const log = await waitFor("the gauges' failed listing in the log", async () => {
        const text = await watcher.log();
        return text.includes("listing builds for the build gauges failed") && text;
      });
      expect(log).toMatch(/resync could not list builds: Kubernetes refused to list build Jobs \(403\)/);
      expect(log).toMatch(/resync could not list services: Kubernetes refused to list Knative Services \(403\)/);
      expect(log).toMatch(/listing builds for the build gauges failed, they keep their last values: Kubernetes refused to list build Jobs \(403\)/);
    } finally {
      await namespace.remove();
    }
  });
});
