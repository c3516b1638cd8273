// The real ApiServerSource receive adapter (knative.dev/eventing cmd/apiserver_receive_adapter,
// built by test/env/build), run as a process the way the eventing controller runs it for
// eventing/apiserversource.yaml: the same K_SOURCE_CONFIG, derived from the manifest the
// way the controller derives it, and the token of the ServiceAccount the manifest names.
// Between the adapter and its sink sits a recorder on 127.0.0.1 that forwards every request
// untouched and keeps it, so a test can see what the adapter sent and deliver it again.
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, statSync, writeSync } from "node:fs";
import { open, readFile } from "node:fs/promises";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseAllDocuments } from "yaml";
import { freePort } from "../../../lib/adapters/local/free-port.ts";
import { loadTestEnv, REPO_ROOT, requireTool, TestEnvUnavailableError } from "./env.ts";
import { kubeConfigForServiceAccount } from "./kubernetes.ts";

const APISERVERSOURCE_MANIFEST = join(REPO_ROOT, "eventing", "apiserversource.yaml");
/**
 * The adapter's probe server port. knative.dev/pkg fixes it (injection.HealthCheckDefaultPort)
 * and no setting moves it, so one adapter at a time can run on a machine. (Its profiling
 * port, 8008 by default, is moved with PROFILING_PORT.)
 */
const ADAPTER_PROBE_PORT = 8080;
/** What the eventing controller passes as SYSTEM_NAMESPACE and METRICS_DOMAIN (its own namespace and metrics domain). */
const SYSTEM_NAMESPACE = "knative-eventing";
const METRICS_DOMAIN = "knative.dev/eventing";
/**
 * At klog level 2 client-go's reflector logs "Caches populated" once its initial list is
 * done: from then on the adapter sends every change (what existed before, it never sends).
 * The controller passes the operator's klog level the same way (config-logging).
 */
const KLOG_VERBOSITY = "2";
/** client-go's line, naming the reflector (one per resource and namespace watched). */
const CACHES_POPULATED = /"Caches populated" .*reflector="([^"]+)"/;
const START_TIMEOUT_MS = 30_000;
/** How long a start waits for the probe port to be let go of (another run's adapter stopping). */
const PORT_WAIT_MS = 60_000;
const PORT_POLL_MS = 500;
const STOP_TIMEOUT_MS = 10_000;
const LOG_TAIL_LINES = 60;
/** One file for every adapter a run starts (one at a time), each start marked by a banner. */
const LOG_NAME = "apiserver-receive-adapter.log";
/** Headers that describe one HTTP connection, not the request: never forwarded. */
const HOP_BY_HOP = new Set(["host", "connection", "content-length", "transfer-encoding", "keep-alive"]);

/** apiserver.ResourceWatch of knative.dev/eventing, spelt as the controller marshals it. */
interface ResourceWatch {
  gvr: { Group: string; Version: string; Resource: string };
  selector?: string;
}

/** apiserver.Config of knative.dev/eventing (K_SOURCE_CONFIG), in the controller's field order. */
export interface SourceConfig {
  namespaces: string[];
  allNamespaces: boolean;
  resources: ResourceWatch[];
  mode?: string;
}

export interface ApiServerSourceDeployment {
  name: string;
  serviceAccountName: string;
  config: SourceConfig;
}

interface ApiServerSourceManifest {
  kind?: string;
  metadata: { name: string };
  spec: {
    mode?: string;
    serviceAccountName: string;
    namespaceSelector?: unknown;
    resources: Array<{ apiVersion: string; kind: string; selector?: { matchLabels?: Record<string, string>; matchExpressions?: unknown[] } }>;
  };
}

/** k8s.io/apimachinery meta.UnsafeGuessKindToResource: the plural the controller guesses from a kind. */
function guessPlural(kind: string): string {
  const singular = kind.toLowerCase();
  if (singular.endsWith("endpoints")) return singular;
  if (singular.endsWith("s")) return `${singular}es`;
  if (singular.endsWith("y")) return `${singular.slice(0, -1)}ies`;
  return `${singular}s`;
}

/** metav1.LabelSelectorAsSelector(...).String() for matchLabels: key=value, sorted by key. */
function selectorString(matchLabels: Record<string, string>): string {
  return Object.keys(matchLabels)
    .sort()
    .map((key) => `${key}=${matchLabels[key]}`)
    .join(",");
}

function resourceWatch(resource: ApiServerSourceManifest["spec"]["resources"][number], extraLabels: Record<string, string>): ResourceWatch {
  if (resource.selector?.matchExpressions?.length) throw new Error(`${APISERVERSOURCE_MANIFEST}: matchExpressions are not supported by this test support`);
  const [group, version] = resource.apiVersion.includes("/") ? resource.apiVersion.split("/") : ["", resource.apiVersion];
  const labels = { ...resource.selector?.matchLabels, ...extraLabels };
  const watch: ResourceWatch = { gvr: { Group: group!, Version: version!, Resource: guessPlural(resource.kind) } };
  if (Object.keys(labels).length > 0) watch.selector = selectorString(labels);
  return watch;
}

/**
 * What the eventing controller makes of eventing/apiserversource.yaml in `namespace`: the
 * source's name, its ServiceAccount and the adapter's K_SOURCE_CONFIG. `extraLabels` are
 * added to every resource's selector (the caller says why it narrows the source).
 */
export async function apiServerSourceFromManifest(namespace: string, extraLabels: Record<string, string> = {}): Promise<ApiServerSourceDeployment> {
  const documents = parseAllDocuments(await readFile(APISERVERSOURCE_MANIFEST, "utf8")).map((d) => d.toJSON() as ApiServerSourceManifest);
  const source = documents.find((d) => d?.kind === "ApiServerSource");
  if (!source) throw new Error(`${APISERVERSOURCE_MANIFEST} holds no ApiServerSource`);
  // Without a namespaceSelector the controller watches the source's own namespace only.
  if (source.spec.namespaceSelector !== undefined) throw new Error(`${APISERVERSOURCE_MANIFEST}: a namespaceSelector is not supported by this test support`);
  const config: SourceConfig = {
    namespaces: [namespace],
    allNamespaces: false,
    resources: source.spec.resources.map((r) => resourceWatch(r, extraLabels)),
  };
  if (source.spec.mode) config.mode = source.spec.mode;
  return { name: source.metadata.name, serviceAccountName: source.spec.serviceAccountName, config };
}

/** One request the adapter sent, as it sent it, and the status its sink answered. */
export interface RecordedRequest {
  headers: Record<string, string>;
  body: Buffer;
  status: number;
}

/** The object a recorded request carries (Resource mode: the whole object). */
export function objectOf(request: RecordedRequest): { kind: string; metadata: { name: string; uid: string; resourceVersion: string; annotations?: Record<string, string> } } {
  return JSON.parse(request.body.toString("utf8")) as never;
}

function forwardable(headers: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.has(name)));
}

async function post(target: string, headers: Record<string, string>, body: Buffer): Promise<{ status: number; text: string; contentType: string }> {
  try {
    const response = await fetch(target, { method: "POST", headers: forwardable(headers), body: new Uint8Array(body) });
    return { status: response.status, text: await response.text(), contentType: response.headers.get("content-type") ?? "text/plain" };
  } catch (error) {
    // The sink is down: the adapter sees what it would see from an unreachable sink behind a proxy.
    return { status: 502, text: (error as Error).message, contentType: "text/plain" };
  }
}

interface Recorder {
  url: string;
  requests: RecordedRequest[];
  close(): Promise<void>;
}

async function startRecorder(target: string): Promise<Recorder> {
  const requests: RecordedRequest[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", async () => {
      const headers = Object.fromEntries(Object.entries(request.headers).map(([name, value]) => [name, String(value)]));
      const body = Buffer.concat(chunks);
      const answer = await post(target, headers, body);
      requests.push({ headers, body, status: answer.status });
      response.writeHead(answer.status, { "content-type": answer.contentType }).end(answer.text);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function bindError(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", resolve);
    server.listen({ port }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Waits a while for the port the adapter binds on every interface (as ":8080") to be free,
 * since another run on the machine may hold it for a moment, then fails naming it.
 */
async function requirePortFree(port: number): Promise<void> {
  const deadline = Date.now() + PORT_WAIT_MS;
  let error = await bindError(port);
  while (error && Date.now() < deadline) {
    await sleep(PORT_POLL_MS);
    error = await bindError(port);
  }
  if (error) {
    throw new TestEnvUnavailableError(
      `port ${port} is taken (${error.code ?? error.message}, for ${PORT_WAIT_MS / 1000} s): the ApiServerSource receive adapter serves its probes on :${port}, ` +
        "a port knative.dev/pkg fixes. Stop the process that holds it (`ss -ltnp sport = :" + port + "` names it); " +
        "one adapter at a time is all the integration tests need (their files run one after the other).",
    );
  }
}

export interface RunningAdapter {
  /** Every request the adapter sent, in order, with its sink's answer (retries included: same ce-id). */
  requests: RecordedRequest[];
  /** The recorded requests about one object (the ce-name extension the adapter sets). */
  requestsFor(name: string): RecordedRequest[];
  /** The file the adapter logs to (klog and zap output), shown when a test fails. */
  logFile: string;
  /** This adapter's part of the log file. */
  log(): Promise<string>;
  /**
   * Delivers a recorded request again, byte for byte, same ce-id, to the sink or to `target`:
   * what a broker's redelivery is (eventing-rabbitmq keeps the id the adapter gave, and so do
   * the adapter's own retries). Answers the status.
   */
  redeliver(request: RecordedRequest, target?: string): Promise<number>;
  /** Stops the adapter (its whole process group) and the recorder. */
  stop(): Promise<void>;
}

/** Adapters whose log a failed test shows: those running, and those stopped during the test. */
const running = new Set<RunningAdapter>();
let stoppedDuringTest: RunningAdapter[] = [];

function adapterEnv(deployment: ApiServerSourceDeployment, namespace: string, sink: string, kubeconfig: string, profilingPort: number): Record<string, string> {
  return {
    PATH: process.env.PATH ?? "",
    HOME: process.env.HOME ?? "/root",
    // The Deployment's env (knative.dev/eventing pkg/reconciler/apiserversource/resources).
    K_SINK: sink,
    K_SOURCE_CONFIG: JSON.stringify(deployment.config),
    SYSTEM_NAMESPACE,
    NAMESPACE: namespace,
    NAME: deployment.name,
    METRICS_DOMAIN,
    K_KLOG_VERBOSITY: KLOG_VERBOSITY,
    // What a pod gets from its ServiceAccount: here a kubeconfig with its token.
    KUBECONFIG: kubeconfig,
    PROFILING_PORT: String(profilingPort),
  };
}

async function waitUntilWatching(child: ChildProcess, log: () => Promise<string>, reflectors: number): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    const text = await log();
    const populated = new Set(text.split("\n").flatMap((line) => CACHES_POPULATED.exec(line)?.[1] ?? []));
    if (populated.size >= reflectors) return;
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`the ApiServerSource adapter exited (${child.exitCode ?? child.signalCode}):\n${tail(text)}`);
    if (Date.now() > deadline) throw new Error(`the ApiServerSource adapter did not start watching within ${START_TIMEOUT_MS} ms:\n${tail(text)}`);
    await sleep(100);
  }
}

async function readFrom(path: string, offset: number): Promise<string> {
  const file = await open(path, "r");
  try {
    const { size } = await file.stat();
    const buffer = Buffer.alloc(Math.max(0, size - offset));
    await file.read(buffer, 0, buffer.length, offset);
    return buffer.toString("utf8");
  } finally {
    await file.close();
  }
}

function tail(text: string): string {
  return text.split("\n").slice(-LOG_TAIL_LINES).join("\n");
}

function signalGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, signal);
  } catch (error) {
    // Gone already (ESRCH): nothing left to stop.
    if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error;
  }
}

async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  signalGroup(child, "SIGTERM");
  const timer = setTimeout(() => signalGroup(child, "SIGKILL"), STOP_TIMEOUT_MS);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts the real adapter for eventing/apiserversource.yaml in `namespace`, delivering to
 * `target` through a recorder, and resolves once its watches are established: from then on
 * every change of a selected object is sent (and none of what existed before).
 */
export async function startApiServerSourceAdapter(options: { namespace: string; target: string; extraLabels?: Record<string, string> }): Promise<RunningAdapter> {
  const binary = requireTool("apiserverReceiveAdapter");
  await requirePortFree(ADAPTER_PROBE_PORT);
  const deployment = await apiServerSourceFromManifest(options.namespace, options.extraLabels);
  const identity = await kubeConfigForServiceAccount(options.namespace, deployment.serviceAccountName);
  const recorder = await startRecorder(options.target);
  const logFile = join(loadTestEnv().logsDir, LOG_NAME);
  const out = openSync(logFile, "a", 0o600);
  writeSync(out, `\n=== ${new Date().toISOString()} ApiServerSource ${deployment.name} in ${options.namespace}, K_SOURCE_CONFIG=${JSON.stringify(deployment.config)}\n`);
  const offset = statSync(logFile).size;
  const child = spawn(binary, [], {
    env: adapterEnv(deployment, options.namespace, recorder.url, identity.kubeconfigPath, await freePort()),
    stdio: ["ignore", out, out],
    // Its own process group, so that stopping it stops all it started.
    detached: true,
  });
  closeSync(out);
  const log = () => readFrom(logFile, offset);
  const adapter: RunningAdapter = {
    requests: recorder.requests,
    requestsFor: (name) => recorder.requests.filter((r) => r.headers["ce-name"] === name),
    logFile,
    log,
    redeliver: async (request, target = options.target) => (await post(target, request.headers, request.body)).status,
    stop: async () => {
      await stopProcessGroup(child);
      await recorder.close();
      if (running.delete(adapter)) stoppedDuringTest.push(adapter);
    },
  };
  running.add(adapter);
  try {
    await waitUntilWatching(child, log, deployment.config.resources.length * deployment.config.namespaces.length);
  } catch (error) {
    await adapter.stop();
    throw error;
  }
  return adapter;
}

/**
 * For afterEach: when the test failed, prints the end of the log of every adapter running,
 * or stopped during the test, with the log file's path.
 */
export async function showAdapterLogsOnFailure(context: { task: { result?: { state?: string } } }): Promise<void> {
  const adapters = [...stoppedDuringTest, ...running];
  stoppedDuringTest = [];
  if (context.task.result?.state !== "fail") return;
  for (const adapter of adapters) {
    process.stderr.write(`\n--- ApiServerSource adapter log (${adapter.logFile}), last ${LOG_TAIL_LINES} lines ---\n${tail(await adapter.log())}\n`);
  }
}
