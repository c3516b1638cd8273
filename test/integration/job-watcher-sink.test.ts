// The job-watcher before its SinkBinding: K_SINK only arrives with a new revision (the
// SinkBinding changes the Knative Service), so the first revision starts without it. It
// must start, report not ready (Knative routes it nothing), and answer 503 to what the
// ApiServerSource sends without touching the object, so that the broker delivers the event
// again; the revision with K_SINK then announces the build. The real ApiServerSource adapter
// watches the build Job; builder and job-watchers run as processes with the identities and
// Roles of config/, on the real control plane, in a namespace of their own (config/ rendered
// into it), so that no other test's job-watcher announces this build.
import { execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { HTTP, type CloudEvent } from "cloudevents";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/adapters/local/free-port.ts";
import { Annotations, functionName } from "../../lib/naming.ts";
import { showAdapterLogsOnFailure, startApiServerSourceAdapter, type RecordedRequest } from "./support/apiserversource-adapter.ts";
import { applyAsAdmin, renderConfigInto } from "./support/admission.ts";
import { clusterFunctionEnv, uploadSource } from "./support/cluster-function.ts";
import { REPO_ROOT, requireKubernetes, requireS3, requireTool, type TestEnv } from "./support/env.ts";
import { adminKubeconfigPath, createTestNamespace, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";
import { startEventCollector, startFunction, type FunctionProcess } from "./support/platform-processes.ts";

const execFileAsync = promisify(execFile);
const PREFIX = "network.notifi.lambda";
const PUSHED_DIGEST = `sha256:${randomBytes(32).toString("hex")}`;
const KWOK = "kwok.knative-lambda.test";
const PARSER = "before-sink";
const tenant = `sk${randomBytes(4).toString("hex")}`;

let env: TestEnv;
let namespace: { name: string; remove: () => Promise<void> };
let builderIdentity: Identity;
let watcherIdentity: Identity;
let collector: Awaited<ReturnType<typeof startEventCollector>>;
let builder: FunctionProcess;
const stops: Array<() => Promise<void>> = [];

async function kubectl(...args: string[]): Promise<string> {
  const { stdout } = await execFileAsync(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), ...args], { cwd: REPO_ROOT, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/** The function's environment in `role`, in this test's namespace, with the collector as K_SINK. */
function functionEnv(role: string, identity: Identity, extra: Record<string, string> = {}): Record<string, string> {
  return clusterFunctionEnv(env, role, identity, collector.url, { KL_NAMESPACE: namespace.name, ...extra });
}

/** The job-watcher's environment as its Knative Service gives it before the SinkBinding: everything but K_SINK. */
function watcherEnvWithoutSink(): Record<string, string> {
  const { K_SINK: _absent, ...rest } = functionEnv("job-watcher", watcherIdentity);
  return rest;
}

/**
 * Starts function/server.ts and waits for its liveness probe only: a job-watcher without
 * K_SINK never becomes ready. Answers its URL and log.
 */
async function startUnreadyWatcher(): Promise<{ url: string; log: () => Promise<string> }> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), "kl-unready-"));
  const logFile = path.join(dir, "function.log");
  const out = await open(logFile, "a");
  const child = spawn(process.execPath, ["function/server.ts"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", PORT: String(port), KL_DATA_DIR: path.join(dir, "data"), KL_LOG_LEVEL: "debug", ...watcherEnvWithoutSink() },
    stdio: ["ignore", out.fd, out.fd],
  });
  const log = () => readFile(logFile, "utf8");
  stops.push(async () => {
    child.kill("SIGTERM");
    if (child.exitCode === null) await new Promise((resolve) => child.once("exit", resolve));
    await out.close();
    await rm(dir, { recursive: true, force: true });
  });
  const url = `http://127.0.0.1:${port}/`;
  await waitFor("the job-watcher without K_SINK to answer its liveness probe", async () => {
    if (child.exitCode !== null) throw new Error(`it exited with ${child.exitCode}:\n${await log()}`);
    return (await fetch(`${url}health/liveness`)).ok;
  }, 30_000, 100);
  return { url, log };
}

/** Builds the example function and waits for its Job to end; answers the Job's name. */
async function finishedBuild(): Promise<string> {
  const { key, hash } = await uploadSource(env, tenant, PARSER, "examples/faas-greet");
  const headers = { "content-type": "application/json", "ce-specversion": "1.0", "ce-id": randomUUID(), "ce-source": "integration-test", "ce-type": `${PREFIX}.build.start` };
  const reply = await builder.post(headers, JSON.stringify({ third_party_id: tenant, parser_id: PARSER, content_hash: hash, source: { key } }));
  expect(reply.status, reply.body).toBe(200);
  const job = String((HTTP.toEvent({ headers: reply.headers, body: reply.body }) as CloudEvent<Record<string, unknown>>).data?.build_id);
  await waitFor(`Job ${job} to end`, async () => (await readJob(job)).status?.conditions?.some((c) => c.type === "Complete" && c.status === "True"));
  return job;
}

type Job = { metadata: { annotations?: Record<string, string> }; status?: { conditions?: Array<{ type: string; status: string }> } };

async function readJob(name: string): Promise<Job> {
  return JSON.parse(await kubectl("-n", namespace.name, "get", "job", name, "-o", "json")) as Job;
}

/** Whether a request of the adapter carries the Job after it completed. */
function carriesCompletedJob(request: RecordedRequest): boolean {
  const job = JSON.parse(request.body.toString("utf8")) as Job;
  return job.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True") === true;
}

const completions = () => collector.events.filter((e) => e.type === `${PREFIX}.build.complete` && e.data?.function_name === functionName({ thirdPartyId: tenant, parserId: PARSER }));

beforeAll(async () => {
  env = await requireKubernetes();
  await requireS3();
  namespace = await createTestNamespace("sink");
  await applyAsAdmin(await renderConfigInto(namespace.name));
  builderIdentity = await kubeConfigForServiceAccount(namespace.name, "knative-lambda-builder");
  watcherIdentity = await kubeConfigForServiceAccount(namespace.name, "knative-lambda-job-watcher");
  collector = await startEventCollector();
  builder = await startFunction("builder", functionEnv("builder", builderIdentity, { KL_BUILD_POD_ANNOTATIONS: JSON.stringify({ [`${KWOK}/termination-message`]: PUSHED_DIGEST }) }));
  stops.push(() => builder.stop());
}, 180_000);

afterEach(showAdapterLogsOnFailure);

afterAll(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
  await collector?.close();
  await namespace?.remove();
});

describe("a job-watcher started before its SinkBinding (no K_SINK)", () => {
  it("starts, reports not ready, and refuses the adapter's events about a finished build with 503, leaving the Job unannounced; redelivered to the revision with K_SINK, the build is announced", async () => {
    const unready = await startUnreadyWatcher();
    const readiness = await fetch(`${unready.url}health/readiness`);
    expect(readiness.status).toBe(503);
    expect(await readiness.text()).toContain("K_SINK");

    const adapter = await startApiServerSourceAdapter({ namespace: namespace.name, target: unready.url });
    stops.push(() => adapter.stop());
    const job = await finishedBuild();
    const refused = await waitFor(`the adapter to send Job ${job} completed`, async () => adapter.requestsFor(job).find(carriesCompletedJob));
    expect(refused.status).toBe(503);
    expect(adapter.requestsFor(job).every((request) => request.status === 503)).toBe(true);
    expect((await readJob(job)).metadata.annotations?.[Annotations.Announced]).toBeUndefined();
    expect(completions()).toEqual([]);
    // Without a sink it resyncs nothing either: that is the next revision's work.
    expect(await unready.log()).not.toContain('"msg":"resync done"');

    // The broker delivers the event again (same id); by then it reaches the revision with K_SINK.
    const watcher = await startFunction("job-watcher", functionEnv("job-watcher", watcherIdentity, { KL_RESYNC_INTERVAL_SECONDS: "0" }));
    stops.push(() => watcher.stop());
    expect((await fetch(`${watcher.url}health/readiness`)).status).toBe(200);
    expect(await adapter.redeliver(refused, watcher.url)).toBe(200);
    await waitFor(`Job ${job} marked announced`, async () => (await readJob(job)).metadata.annotations?.[Annotations.Announced] === "true");
    expect(completions()).toHaveLength(1);
    expect(completions()[0]!.data).toMatchObject({ build_id: job });
  });
});
