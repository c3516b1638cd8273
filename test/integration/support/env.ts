// Connection settings of the integration test environment (written by
// `bash test/env/up` to .test-env/env.json) and checks that each component is
// really reachable. A test that needs a component calls the matching
// require*() function; when the component is down it throws an error that
// names the command that starts it. Nothing here skips a test.
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, accessSync, constants as fsConstants } from "node:fs";
import { connect } from "node:net";
import { dirname, isAbsolute, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

export const START_COMMAND = "bash test/env/up";

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
export const ENV_FILE = join(REPO_ROOT, ".test-env", "env.json");
/**
 * What was taken from the real systems, kept beside the repository and read in place:
 * the upstream CRDs the environment installs (`crds/`) and CloudEvents captured from the
 * real ApiServerSource adapter and broker (`events/`). Found where test/env/up finds it:
 * KL_REFERENCE_DIR, else `../shared/reference` beside this checkout, else beside the
 * repository this checkout was cloned from (a fresh clone elsewhere).
 */
function referenceDirCandidates(): string[] {
  const candidates = [process.env.KL_REFERENCE_DIR, resolve(REPO_ROOT, "..", "shared", "reference")];
  try {
    const origin = execFileSync("git", ["-C", REPO_ROOT, "remote", "get-url", "origin"], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
    if (isAbsolute(origin)) candidates.push(resolve(origin, "..", "shared", "reference"));
  } catch {
    // Not a git checkout, or no origin: the other candidates stand.
  }
  return candidates.filter((c): c is string => Boolean(c));
}

export interface KwokAnnotations {
  /** "fail" makes the pod's containers terminate with a non-zero exit code; anything else succeeds. */
  outcome: string;
  /** Exit code of failing containers (default 1). */
  exitCode: string;
  /** terminated.reason of the containers (default Completed / Error). */
  reason: string;
  /** terminated.message of every container (what it would write to /dev/termination-log). */
  terminationMessage: string;
  /** How long the pod stays Running before it finishes (Go duration, default 200ms). */
  runDuration: string;
}

export interface TestEnv {
  schemaVersion: 1;
  createdAt: string;
  repoRoot: string;
  stateDir: string;
  logsDir: string;
  startCommand: string;
  versions: Record<"kubernetes" | "etcd" | "kwok" | "minio" | "eventing" | "rabbitmq" | "prometheus", string>;
  kubernetes: {
    apiserverUrl: string;
    /** Admin kubeconfig (user test-admin, group system:masters). */
    kubeconfig: string;
    caFile: string;
    /** Key of the cluster CA: lets tests mint client certificates for any user (see identity.ts). */
    caKeyFile: string;
    serviceAccountIssuer: string;
    etcdUrl: string;
    identities: {
      admin: {
        user: string;
        groups: string[];
        kubeconfig: string;
        clientCertificateFile: string;
        clientKeyFile: string;
      };
      noPermissions: { user: string; groups: string[]; kubeconfig: string; token: string };
    };
    kwok: { nodeName: string; annotations: KwokAnnotations };
  };
  s3: {
    endpoint: string;
    region: string;
    accessKeyId: string;
    secretAccessKey: string;
    bucket: string;
    forcePathStyle: boolean;
  };
  amqp: { url: string; host: string; port: number; username: string; password: string; vhost: string };
  tools: {
    kubectl: string;
    kubeApiserver: string;
    kubeControllerManager: string;
    kubeScheduler: string;
    kwok: string;
    etcd: string;
    minio: string;
    /** The ApiServerSource receive adapter of Knative Eventing (cmd/apiserver_receive_adapter). */
    apiserverReceiveAdapter: string;
    /** The func CLI of Knative Functions (knative.dev/func). */
    func: string;
    promtool: string;
    rabbitmqctl: string;
    openssl: string;
  };
}

/** Error thrown when the environment (or one component of it) is not available. */
export class TestEnvUnavailableError extends Error {
  override name = "TestEnvUnavailableError";
}

function unavailable(what: string, logName?: string): TestEnvUnavailableError {
  const log = logName ? ` Its log: .test-env/logs/${logName}.log.` : "";
  return new TestEnvUnavailableError(
    `${what}. The integration tests need the local test environment: start it with \`${START_COMMAND}\` ` +
      `(stop it with \`bash test/env/down\`; see docs/TESTING.md).${log}`,
  );
}

let cached: TestEnv | undefined;

/** Reads .test-env/env.json; throws naming `bash test/env/up` when it is missing. */
export function loadTestEnv(): TestEnv {
  if (cached) return cached;
  if (!existsSync(ENV_FILE)) {
    throw unavailable(`The test environment is not running: ${ENV_FILE} does not exist`);
  }
  let parsed: TestEnv;
  try {
    parsed = JSON.parse(readFileSync(ENV_FILE, "utf8")) as TestEnv;
  } catch (err) {
    throw unavailable(`${ENV_FILE} is not valid JSON (${(err as Error).message})`);
  }
  if (parsed.schemaVersion !== 1) {
    throw unavailable(`${ENV_FILE} has schemaVersion ${String(parsed.schemaVersion)}, expected 1 (re-run the start command)`);
  }
  cached = parsed;
  return parsed;
}

/** Resolves when a TCP connection to host:port succeeds within timeoutMs. */
export function tcpReachable(host: string, port: number, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const socket = connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolvePromise(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once("connect", () => done(true));
    socket.once("error", () => done(false));
  });
}

function hostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = u.port ? Number(u.port) : u.protocol === "https:" ? 443 : 80;
  return { host: u.hostname, port };
}

/** The Kubernetes apiserver of the environment, checked reachable. */
export async function requireKubernetes(): Promise<TestEnv> {
  const env = loadTestEnv();
  const { host, port } = hostPort(env.kubernetes.apiserverUrl);
  if (!(await tcpReachable(host, port))) {
    throw unavailable(`kube-apiserver is not reachable at ${env.kubernetes.apiserverUrl}`, "kube-apiserver");
  }
  return env;
}

/** MinIO (S3) of the environment, checked ready. */
export async function requireS3(): Promise<TestEnv> {
  const env = loadTestEnv();
  let ready = false;
  try {
    const res = await fetch(new URL("/minio/health/ready", env.s3.endpoint), { signal: AbortSignal.timeout(3000) });
    ready = res.ok;
  } catch {
    ready = false;
  }
  if (!ready) throw unavailable(`MinIO (S3) is not reachable at ${env.s3.endpoint}`, "minio");
  return env;
}

/** RabbitMQ (AMQP) of the environment, checked reachable. */
export async function requireAmqp(): Promise<TestEnv> {
  const env = loadTestEnv();
  if (!(await tcpReachable(env.amqp.host, env.amqp.port))) {
    throw unavailable(`RabbitMQ is not reachable at amqp://${env.amqp.host}:${env.amqp.port}`, "rabbitmq");
  }
  return env;
}

/** Path of a directory of the reference data (`crds` or `events`), checked present. */
export function requireReference(name: "crds" | "events"): string {
  const candidates = referenceDirCandidates().map((dir) => join(dir, name));
  const found = candidates.find((dir) => existsSync(dir));
  if (!found) {
    throw new TestEnvUnavailableError(
      `None of ${candidates.join(", ")} exists: the integration tests read the real ${name === "crds" ? "upstream CRDs" : "captured CloudEvents"} there, ` +
        "beside the repository, or where KL_REFERENCE_DIR points (see docs/TESTING.md); they are not part of the project.",
    );
  }
  return found;
}

/** Path of an executable tool listed in env.json (kubectl, promtool, ...), checked executable. */
export function requireTool(name: keyof TestEnv["tools"]): string {
  const env = loadTestEnv();
  const path = env.tools[name];
  try {
    accessSync(path, fsConstants.X_OK);
  } catch {
    throw unavailable(`${name} is not executable at ${String(path)}`);
  }
  return path;
}
