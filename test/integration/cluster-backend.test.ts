// The cluster backend on the real control plane: the builder and the job-watcher
// run as processes with the identities and Roles of config/, against the real
// kube-apiserver (RBAC on, the upstream CRDs, strict field validation on what they
// write), Job controller and kwok, with sources in MinIO. The real ApiServerSource
// receive adapter, run for eventing/apiserversource.yaml, feeds the job-watcher. No
// Knative Serving controller runs: pretendKnativeServingMarksReady plays its part.
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import * as k8s from "@kubernetes/client-node";
import { HTTP, type CloudEvent } from "cloudevents";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { admitCloudEvent } from "../../lib/events/admission.ts";
import { toEnvelope } from "../../lib/events/envelope.ts";
import { Annotations, functionName, Labels } from "../../lib/naming.ts";
import { decideWatchEvent } from "../../lib/pipeline/watch-event.ts";
import { objectOf, showAdapterLogsOnFailure, startApiServerSourceAdapter, type RecordedRequest, type RunningAdapter } from "./support/apiserversource-adapter.ts";
import { clusterFunctionEnv, TEST_NAMESPACE, TEST_REPOSITORY, uploadSource } from "./support/cluster-function.ts";
import { requireKubernetes, requireReference, requireS3, requireTool, type TestEnv } from "./support/env.ts";
import { KNATIVE_SERVICE, pretendKnativeServingMarksReady } from "./support/knative.ts";
import { adminKubeConfig, adminKubeconfigPath, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";
import { startEventCollector, startFunction, startTraceCollector, type FunctionProcess } from "./support/platform-processes.ts";
import { startStrictApiServer, type StrictApiServer } from "./support/strict-apiserver.ts";

const execFileAsync = promisify(execFile);
/** Headers of one HTTP connection, not of the event: left out when a captured request is sent again. */
const CONNECTION_HEADERS = new Set(["host", "content-length", "accept-encoding", "user-agent"]);
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
let strict: StrictApiServer;
let adapter: RunningAdapter;
const builders: Record<"ok" | "failing" | "slow", FunctionProcess> = {} as never;
const tenant = `it${randomBytes(4).toString("hex")}`;

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), ...args], { maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** kubectl as `identity`, reading `input`; never throws (the strict proxy answering it runs in this process, so no sync call). */
function kubectlWithInput(identity: Identity, input: string, ...args: string[]): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(requireTool("kubectl"), ["--kubeconfig", identity.kubeconfigPath, ...args], { stdio: ["pipe", "ignore", "pipe"] });
  const stderr: Buffer[] = [];
  child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
  child.stdin.end(input);
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stderr: Buffer.concat(stderr).toString("utf8") })));
}

/** A function's identity from config/, talking to the apiserver with strict field validation. */
async function strictServiceAccount(name: string): Promise<Identity> {
  return strict.identityFor(await kubeConfigForServiceAccount(NAMESPACE, name));
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

interface CapturedEvent {
  file: string;
  /** Lower-cased, as a Node.js server receives them. */
  headers: Record<string, string>;
  body: string;
}

/** The requests the real ApiServerSource adapter sent (directly, and through a RabbitMQ broker), captured in ../shared/reference/events. */
function referenceEvents(): CapturedEvent[] {
  const dir = requireReference("events");
  return readdirSync(dir)
    .filter((file) => file.startsWith("apiserversource-") && file.endsWith(".real.json"))
    .map((file) => {
      const captured = JSON.parse(readFileSync(join(dir, file), "utf8")) as { headers: Record<string, string>; body: unknown };
      const headers = Object.fromEntries(Object.entries(captured.headers).map(([name, value]) => [name.toLowerCase(), value]));
      return { file, headers, body: JSON.stringify(captured.body) };
    });
}

function forwardableHeaders(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !CONNECTION_HEADERS.has(name)));
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
  await kubectl("apply", "--server-side", "--force-conflicts", "--validate=strict", "-k", "config/");
  strict = await startStrictApiServer();
  builderIdentity = await strictServiceAccount("knative-lambda-builder");
  watcherIdentity = await strictServiceAccount("knative-lambda-job-watcher");
  collector = await startEventCollector();
  traces = await startTraceCollector();
  watcher = await startFunction("job-watcher", functionEnv("job-watcher", watcherIdentity));
  builders.ok = await startFunction("builder", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/termination-message`]: PUSHED_DIGEST }) }));
  builders.failing = await startFunction("builder-failing", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/outcome`]: "fail", [`${KWOK}/termination-message`]: "error building image: RUN npm ci returned 1" }) }));
  builders.slow = await startFunction("builder-slow", functionEnv("builder", builderIdentity, { KL_BUILD_TIMEOUT_SECONDS: "3", KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/run-duration`]: "300s" }) }));
  // The namespace is shared with the other test files' runs and with earlier runs: this
  // run's tenant label keeps their objects' changes from reaching this run's job-watcher.
  adapter = await startApiServerSourceAdapter({ namespace: NAMESPACE, target: watcher.url, extraLabels: { [Labels.ThirdPartyId]: tenant } });
}, 180_000);

afterEach(showAdapterLogsOnFailure);

afterAll(async () => {
  await adapter?.stop();
  await Promise.all([watcher, ...Object.values(builders)].filter(Boolean).map((p) => p.stop()));
  await collector?.close();
  await traces?.close();
  await strict?.close();
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

  it("the adapter sent the Job's and the Service's changes, and the job-watcher took every one", async () => {
    const buildId = String(started.reply?.data?.build_id);
    const jobEvents = adapter.requestsFor(buildId);
    expect(jobEvents[0]?.headers["ce-type"]).toBe("dev.knative.apiserver.resource.add");
    expect(jobEvents.some((r) => objectOf(r).metadata.annotations?.[Annotations.Announced] === "true")).toBe(true);
    expect(adapter.requestsFor(fn()).map((r) => r.headers["ce-type"])).toContain("dev.knative.apiserver.resource.update");
    expect(adapter.requests.filter((r) => r.status !== 200).map((r) => `${r.headers["ce-type"]} ${r.headers["ce-name"]}: ${r.status}`)).toEqual([]);
  });

  it("redelivered and out-of-order Job and Service events announce nothing twice, even to a job-watcher that just started", async () => {
    const names = new Set([String(started.reply?.data?.build_id), fn()]);
    const events = adapter.requests.filter((r) => names.has(r.headers["ce-name"]!));
    expect(events.length).toBeGreaterThan(2);
    // A broker redelivers what the adapter sent as it was, id included; here newest first.
    const newestFirst: RecordedRequest[] = [...events].reverse();
    for (const request of newestFirst) expect(await adapter.redeliver(request)).toBe(200);
    // A new job-watcher remembers no event it handled: only the announced marks on the objects keep it quiet.
    const fresh = await startFunction("job-watcher-fresh", functionEnv("job-watcher", watcherIdentity));
    try {
      for (const request of newestFirst) expect(await adapter.redeliver(request, fresh.url)).toBe(200);
    } finally {
      await fresh.stop();
    }
    // Each answer came after its reconcile ran: anything announced again would be here.
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
    const deletions = (name: string) => adapter.requestsFor(name).filter((r) => r.headers["ce-type"] === "dev.knative.apiserver.resource.delete");
    const [jobDeleted, serviceDeleted] = await waitFor("the adapter's delete events", async () => {
      const found = [deletions(String(started.reply?.data?.build_id))[0], deletions(fn())[0]];
      return found.every(Boolean) && (found as [RecordedRequest, RecordedRequest]);
    });
    expect([jobDeleted.status, serviceDeleted.status]).toEqual([200, 200]);
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

describe("what the real adapter sends, and what the reference events captured from it hold", () => {
  const namesOf = (headers: Record<string, string>) => Object.keys(headers).filter((name) => name.startsWith("ce-") || name === "content-type").sort();

  it("the adapter run here spells every attribute as the captured adapter did: time, kind, apiversion, name, namespace", async () => {
    const direct = referenceEvents().find((e) => e.file === "apiserversource-job-delete.real.json")!;
    const live = adapter.requests.find((r) => r.headers["ce-kind"] === "Job")!;
    expect(namesOf(live.headers)).toEqual(namesOf(direct.headers));
    expect(namesOf(live.headers)).toEqual(expect.arrayContaining(["ce-time", "ce-kind", "ce-apiversion", "ce-name", "ce-namespace"]));
    expect(live.headers["kn-namespace"]).toBe(NAMESPACE);
  });

  it("the captured events pass the job-watcher's door and parse into what the live ones do", async () => {
    for (const { file, headers, body } of referenceEvents()) {
      expect(() => admitCloudEvent(headers, Buffer.from(body)), file).not.toThrow();
      const decision = decideWatchEvent(toEnvelope(HTTP.toEvent({ headers, body }) as never), String(headers["ce-namespace"]));
      const object = JSON.parse(body) as { metadata: { name: string; uid: string; resourceVersion: string } };
      if (headers["ce-type"] === "dev.knative.apiserver.resource.delete") expect(decision, file).toMatchObject({ action: "ignore" });
      else expect(decision, file).toEqual({ action: "reconcile", target: "build", name: headers["ce-name"], namespace: headers["ce-namespace"], dedupeKey: `${object.metadata.uid}/${object.metadata.resourceVersion}` });
      const answer = await watcher.post(forwardableHeaders(headers), body);
      expect(answer.status, `${file}: ${answer.body}`).toBe(200);
    }
  });

  it("what the builder and the job-watcher write is validated strictly: a field the schema does not know fails", async () => {
    const job = { apiVersion: "batch/v1", kind: "Job", metadata: { name: "strict-validation", namespace: NAMESPACE }, spec: { notAJobField: true, template: { spec: { restartPolicy: "Never", containers: [{ name: "c", image: "registry.invalid/x:1" }] } } } };
    // kubectl asks for no validation at all; the proxy in front of the apiserver makes it strict.
    const refused = await kubectlWithInput(builderIdentity, JSON.stringify(job), "create", "--dry-run=server", "--validate=false", "-f", "-");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain('unknown field "spec.notAJobField"');
  });
});

describe("the manifests", () => {
  it("a strict server-side apply of config/ and eventing/ passes the upstream CRDs (dry run)", async () => {
    expect(await kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "--validate=strict", "-k", "config/")).toContain("knative-lambda-builder");
    const eventing = await kubectl("apply", "--server-side", "--force-conflicts", "--dry-run=server", "--validate=strict", "-k", "eventing/");
    for (const kind of ["broker.eventing.knative.dev/knative-lambda", "apiserversource.sources.knative.dev/knative-lambda-resources", "sinkbinding.sources.knative.dev/knative-lambda-job-watcher", "trigger.eventing.knative.dev/knative-lambda-build-start"]) {
      expect(eventing).toContain(kind);
    }
  });
});
