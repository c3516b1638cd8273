// The cluster backend on the real control plane: the builder and the job-watcher
// run as processes with the identities and Roles of config/, against the real
// kube-apiserver (RBAC on), Job controller and kwok, with sources in MinIO. No
// Knative controller runs: pretendKnativeServingMarksReady plays its part.
import { execFile } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { HTTP, type CloudEvent } from "cloudevents";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Annotations, functionName, Labels } from "../../lib/naming.ts";
import { startApiServerSourceHarness, type Harness } from "./support/apiserversource-harness.ts";
import { clusterFunctionEnv, TEST_NAMESPACE, TEST_REPOSITORY, uploadSource } from "./support/cluster-function.ts";
import { requireKubernetes, requireS3, requireTool, type TestEnv } from "./support/env.ts";
import { KNATIVE_SERVICE, pretendKnativeServingMarksReady } from "./support/knative.ts";
import { adminKubeConfig, adminKubeconfigPath, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";
import { startEventCollector, startFunction, startTraceCollector, type FunctionProcess } from "./support/platform-processes.ts";

const execFileAsync = promisify(execFile);
const NAMESPACE = TEST_NAMESPACE;
const PREFIX = "network.notifi.lambda";
const REPOSITORY = TEST_REPOSITORY;
const TRACE_ID = randomBytes(16).toString("hex");
const TRACEPARENT = `00-${TRACE_ID}-${randomBytes(8).toString("hex")}-01`;
/** Events and annotations continue the trace: same trace id, the span of whoever wrote them. */
const traceIdOf = (traceparent: unknown): string | undefined => (typeof traceparent === "string" ? traceparent.split("-")[1] : undefined);
const PUSHED_DIGEST = `sha256:${randomBytes(32).toString("hex")}`;
const KWOK = "kwok.knative-lambda.test";

let env: TestEnv;
let admin: k8s.KubeConfig;
let batch: k8s.BatchV1Api;
let custom: k8s.CustomObjectsApi;
let builderIdentity: Identity;
let watcherIdentity: Identity;
let collector: Awaited<ReturnType<typeof startEventCollector>>;
let traces: Awaited<ReturnType<typeof startTraceCollector>>;
let watcher: FunctionProcess;
let harness: Harness;
const builders: Record<"ok" | "failing" | "slow", FunctionProcess> = {} as never;
const tenant = `it${randomBytes(4).toString("hex")}`;

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

function functionEnv(role: string, identity: Identity, extra: Record<string, string> = {}): Record<string, string> {
  return clusterFunctionEnv(env, role, identity, collector.url, {
    OTEL_TRACES_EXPORTER: "otlp",
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_EXPORTER_OTLP_ENDPOINT: traces.url,
    OTEL_BSP_SCHEDULE_DELAY: "100",
    ...extra,
  });
}

function upload(parserId: string, location: string): Promise<{ key: string; hash: string }> {
  return uploadSource(env, tenant, parserId, location);
}

interface Sent {
  status: number;
  reply?: CloudEvent<Record<string, unknown>>;
  body: string;
}

async function send(target: FunctionProcess, kind: string, data: Record<string, unknown>, id: string = randomUUID(), correlationid = `corr-${randomUUID()}`): Promise<Sent> {
  const headers = { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": id, "ce-source": "integration-test", "ce-type": `${PREFIX}.${kind}`, "ce-correlationid": correlationid, "ce-traceparent": TRACEPARENT };
  const response = await target.post(headers, JSON.stringify(data));
  const reply = response.headers["ce-type"] ? (HTTP.toEvent({ headers: response.headers, body: response.body }) as CloudEvent<Record<string, unknown>>) : undefined;
  return { status: response.status, reply, body: response.body };
}

function emitted(type: string, fn: string): CloudEvent<Record<string, unknown>>[] {
  return collector.events.filter((e) => e.type === `${PREFIX}.${type}` && e.data?.function_name === fn);
}

function waitForEmitted(type: string, fn: string, timeoutMs = 60_000): Promise<CloudEvent<Record<string, unknown>>> {
  return waitFor(`${type} for ${fn}`, async () => emitted(type, fn)[0], timeoutMs);
}

async function readJob(name: string): Promise<k8s.V1Job> {
  return batch.readNamespacedJob({ name, namespace: NAMESPACE });
}

beforeAll(async () => {
  env = await requireKubernetes();
  await requireS3();
  admin = await adminKubeConfig();
  batch = admin.makeApiClient(k8s.BatchV1Api);
  custom = admin.makeApiClient(k8s.CustomObjectsApi);
  await kubectl("apply", "--server-side", "--force-conflicts", "-k", "config/");
  builderIdentity = await kubeConfigForServiceAccount(NAMESPACE, "knative-lambda-builder");
  watcherIdentity = await kubeConfigForServiceAccount(NAMESPACE, "knative-lambda-job-watcher");
  collector = await startEventCollector();
  traces = await startTraceCollector();
  watcher = await startFunction("job-watcher", functionEnv("job-watcher", watcherIdentity));
  builders.ok = await startFunction("builder", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/termination-message`]: PUSHED_DIGEST }) }));
  builders.failing = await startFunction("builder-failing", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/outcome`]: "fail", [`${KWOK}/termination-message`]: "error building image: RUN npm ci returned 1" }) }));
  builders.slow = await startFunction("builder-slow", functionEnv("builder", builderIdentity, { KL_BUILD_TIMEOUT_SECONDS: "3", KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/run-duration`]: "300s" }) }));
  harness = await startApiServerSourceHarness(admin, NAMESPACE, `${Labels.ManagedBy}=knative-lambda,${Labels.ThirdPartyId}=${tenant}`, watcher.url);
}, 180_000);

afterAll(async () => {
  harness?.stop();
  await Promise.all([watcher, ...Object.values(builders)].filter(Boolean).map((p) => p.stop()));
  await collector?.close();
  await traces?.close();
});

describe("a build that succeeds, from build.start to service.ready", () => {
  const parser = "greet";
  const fn = () => functionName({ thirdPartyId: tenant, parserId: parser });
  let started: Sent;
  let startEvent: { id: string; correlationid: string; data: Record<string, unknown> };

  it("build.start creates a Kaniko Job the apiserver accepts, with the expected spec", async () => {
    const { key, hash } = await upload(parser, "examples/faas-greet");
    startEvent = { id: randomUUID(), correlationid: `corr-${randomUUID()}`, data: { third_party_id: tenant, parser_id: parser, content_hash: hash, source: { key }, env: { GREETING: "hi" }, scaling: { min_scale: 0, max_scale: 3 } } };
    started = await send(builders.ok, "build.start", startEvent.data, startEvent.id, startEvent.correlationid);
    expect(started.status, started.body).toBe(200);
    expect(started.reply?.type).toBe(`${PREFIX}.build.started`);
    expect(started.reply?.data).toMatchObject({ duplicate: false, function_name: fn(), runtime: "nodejs" });
    expect(traceIdOf(started.reply?.traceparent)).toBe(TRACE_ID);

    const job = await readJob(String(started.reply?.data?.build_id));
    const container = job.spec!.template.spec!.containers[0]!;
    const digest = String(started.reply?.data?.content_digest);
    expect(container.args).toEqual(expect.arrayContaining([`--context=s3://${env.s3.bucket}/contexts/${tenant}/${digest}.tar.gz`, `--destination=${REPOSITORY}/${fn()}:sha256-${digest}`, "--cache=true"]));
    expect(container.env?.find((e) => e.name === "AWS_SECRET_ACCESS_KEY")?.valueFrom?.secretKeyRef?.name).toBe("knative-lambda-store");
    expect(JSON.stringify(job)).not.toContain(env.s3.secretAccessKey);
    expect(job.metadata?.labels?.[Labels.Function]).toBe(fn());
    expect(traceIdOf(job.metadata?.annotations?.[Annotations.TraceParent])).toBe(TRACE_ID);
    expect(job.metadata?.annotations?.[Annotations.CorrelationId]).toBe(startEvent.correlationid);
  });

  it("a redelivered build.start gets the same answer and touches nothing", async () => {
    const before = await readJob(String(started.reply?.data?.build_id));
    const again = await send(builders.ok, "build.start", startEvent.data, startEvent.id, startEvent.correlationid);
    expect(again.status).toBe(200);
    expect(again.reply?.type).toBe(`${PREFIX}.build.started`);
    expect(again.reply?.data).toMatchObject({ build_id: started.reply?.data?.build_id, duplicate: true });
    const after = await readJob(String(started.reply?.data?.build_id));
    expect(after.metadata?.uid).toBe(before.metadata?.uid);
    expect(after.metadata?.creationTimestamp).toEqual(before.metadata?.creationTimestamp);
  });

  it("kwok runs the pod, the Job controller completes the Job, the job-watcher deploys by digest and emits build.complete", async () => {
    const complete = await waitForEmitted("build.complete", fn());
    expect(complete.data).toMatchObject({ image: `${REPOSITORY}/${fn()}@${PUSHED_DIGEST}`, cache_hit: false, superseded: false, correlation_id: startEvent.correlationid });
    expect(complete.data?.duration_seconds).toEqual(expect.any(Number));
    expect(complete.correlationid).toBe(startEvent.correlationid);
    expect(traceIdOf(complete.traceparent)).toBe(TRACE_ID);
    const ksvc = (await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: NAMESPACE, name: fn() })) as { spec: { template: { spec: { containers: Array<{ image: string; env: unknown[] }> }; metadata: { annotations: Record<string, string> } } } };
    expect(ksvc.spec.template.spec.containers[0]?.image).toBe(`${REPOSITORY}/${fn()}@${PUSHED_DIGEST}`);
    expect(ksvc.spec.template.spec.containers[0]?.env).toEqual([{ name: "GREETING", value: "hi" }]);
    expect(ksvc.spec.template.metadata.annotations).toMatchObject({ "autoscaling.knative.dev/min-scale": "0", "autoscaling.knative.dev/max-scale": "3" });
  });

  it("when Knative reports the Service Ready, the job-watcher emits service.ready with its URL", async () => {
    await pretendKnativeServingMarksReady(admin, NAMESPACE, fn(), `http://${fn()}.${NAMESPACE}.example.com`);
    const ready = await waitForEmitted("service.ready", fn());
    expect(ready.data).toMatchObject({ url: `http://${fn()}.${NAMESPACE}.example.com`, correlation_id: startEvent.correlationid });
    expect(traceIdOf(ready.traceparent)).toBe(TRACE_ID);
  });

  it("one trace spans the builder and the job-watcher, from build.start to service.ready", async () => {
    const traceId = TRACE_ID;
    const expected: Array<[string, string]> = [
      ["knative-lambda-builder", `process ${PREFIX}.build.start`],
      ["knative-lambda-builder", "store get"],
      ["knative-lambda-builder", "kubernetes job.create"],
      ["knative-lambda-job-watcher", "reconcile build"],
      ["knative-lambda-job-watcher", "kubernetes service.apply"],
      ["knative-lambda-job-watcher", `send ${PREFIX}.build.complete`],
      ["knative-lambda-job-watcher", "reconcile service"],
      ["knative-lambda-job-watcher", `send ${PREFIX}.service.ready`],
    ];
    const inTrace = await waitFor("the spans of the build", async () => {
      const spans = traces.spans.filter((s) => s.traceId === traceId);
      return expected.every(([service, name]) => spans.some((s) => s.service === service && s.name === name)) && spans;
    }, 30_000);
    const builderSpan = inTrace.find((s) => s.name === `process ${PREFIX}.build.start` && s.service === "knative-lambda-builder")!;
    const reconcile = inTrace.find((s) => s.name === "reconcile build")!;
    expect(reconcile.parentSpanId).toBe(builderSpan.spanId);
  });

  it("redelivered and out-of-order Job events announce nothing twice", async () => {
    const jobEvents = harness.sent.filter((e) => e.object.metadata.name === started.reply?.data?.build_id);
    expect(jobEvents.length).toBeGreaterThan(1);
    for (const event of [...jobEvents].reverse()) expect(await harness.resend(event)).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1000));
    expect(emitted("build.complete", fn())).toHaveLength(1);
    expect(emitted("service.ready", fn())).toHaveLength(1);
  });

  it("unchanged source that is deployed builds nothing and answers service.ready", async () => {
    const jobsBefore = await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `${Labels.Function}=${fn()}` });
    const again = await send(builders.ok, "build.start", startEvent.data);
    expect(again.reply?.type).toBe(`${PREFIX}.service.ready`);
    const jobsAfter = await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `${Labels.Function}=${fn()}` });
    expect(jobsAfter.items.map((j) => j.metadata?.uid)).toEqual(jobsBefore.items.map((j) => j.metadata?.uid));
  });

  it("service.delete removes the Knative Service and the Jobs, and answers service.deleted", async () => {
    const deleted = await send(builders.ok, "service.delete", { third_party_id: tenant, parser_id: parser });
    expect(deleted.status, deleted.body).toBe(200);
    expect(deleted.reply?.data).toMatchObject({ existed: true, deleted_builds: 1 });
    await waitFor("the Knative Service to be gone", async () => {
      try {
        await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace: NAMESPACE, name: fn() });
        return false;
      } catch (error) {
        return (error as { code?: number }).code === 404;
      }
    });
    await waitFor("the Jobs to be gone", async () => (await batch.listNamespacedJob({ namespace: NAMESPACE, labelSelector: `${Labels.Function}=${fn()}` })).items.length === 0);
  });
});

describe("builds that fail", () => {
  it("a failing build ends with build.failed, its reason and the end of its log", async () => {
    const parser = "broken";
    const { key, hash } = await upload(parser, "examples/faas-greet");
    const started = await send(builders.failing, "build.start", { third_party_id: tenant, parser_id: parser, content_hash: hash, source: { key } });
    expect(started.status, started.body).toBe(200);
    const failed = await waitForEmitted("build.failed", functionName({ thirdPartyId: tenant, parserId: parser }));
    expect(failed.data).toMatchObject({ reason: "BuildFailed", error_category: "permanent" });
    expect(String(failed.data?.log_tail)).toContain("RUN npm ci returned 1");
    expect(traceIdOf(failed.traceparent)).toBe(TRACE_ID);
  });

  it("a build past its deadline ends with build.timeout", async () => {
    const parser = "slow";
    const { key, hash } = await upload(parser, "examples/faas-greet");
    const started = await send(builders.slow, "build.start", { third_party_id: tenant, parser_id: parser, content_hash: hash, source: { key } });
    expect(started.status, started.body).toBe(200);
    const timeout = await waitForEmitted("build.timeout", functionName({ thirdPartyId: tenant, parserId: parser }), 90_000);
    expect(timeout.data).toMatchObject({ timeout_seconds: 3 });
  });

  it("build.cancel stops a running build, announced as build.failed (Cancelled)", async () => {
    const parser = "cancelled";
    const { key, hash } = await upload(parser, "examples/lambda-hello");
    const slowForever = await send(builders.slow, "build.start", { third_party_id: tenant, parser_id: parser, content_hash: hash, source: { key } });
    expect(slowForever.status).toBe(200);
    const cancel = await send(builders.slow, "build.cancel", { third_party_id: tenant, parser_id: parser });
    expect(cancel.status, cancel.body).toBe(200);
    expect(JSON.parse(cancel.body)).toMatchObject({ cancelled: [slowForever.reply?.data?.build_id] });
    const failed = await waitForEmitted("build.failed", functionName({ thirdPartyId: tenant, parserId: parser }), 30_000);
    expect(failed.data).toMatchObject({ reason: "Cancelled" });
  });
});

describe("least privilege, enforced by the real RBAC", () => {
  it("the builder's identity cannot read Secrets, nor act in another namespace", async () => {
    const core = builderIdentity.kubeConfig.makeApiClient(k8s.CoreV1Api);
    await expect(core.listNamespacedSecret({ namespace: NAMESPACE })).rejects.toMatchObject({ code: 403 });
    const otherBatch = builderIdentity.kubeConfig.makeApiClient(k8s.BatchV1Api);
    await expect(otherBatch.listNamespacedJob({ namespace: "default" })).rejects.toMatchObject({ code: 403 });
  });

  it("the job-watcher's identity cannot create or delete Jobs, nor read Secrets", async () => {
    const watcherBatch = watcherIdentity.kubeConfig.makeApiClient(k8s.BatchV1Api);
    await expect(watcherBatch.deleteNamespacedJob({ name: "anything", namespace: NAMESPACE })).rejects.toMatchObject({ code: 403 });
    await expect(watcherIdentity.kubeConfig.makeApiClient(k8s.CoreV1Api).readNamespacedSecret({ name: "knative-lambda-store", namespace: NAMESPACE })).rejects.toMatchObject({ code: 403 });
  });
});

describe("the manifests", () => {
  it("kubectl apply --dry-run=server accepts config/ and eventing/", async () => {
    expect(await kubectl("apply", "--dry-run=server", "-k", "config/")).toContain("knative-lambda-builder");
    const eventing = await kubectl("apply", "--dry-run=server", "-k", "eventing/");
    for (const kind of ["broker.eventing.knative.dev/knative-lambda", "apiserversource.sources.knative.dev/knative-lambda-resources", "sinkbinding.sources.knative.dev/knative-lambda-job-watcher", "trigger.eventing.knative.dev/knative-lambda-build-start"]) {
      expect(eventing).toContain(kind);
    }
  });
});
