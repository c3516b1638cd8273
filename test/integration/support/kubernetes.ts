// Kubernetes helpers for integration tests: clients for the admin and for any
// identity (real authentication: client certificates signed by the test CA, or
// service-account tokens from the TokenRequest API), throwaway namespaces and
// polling.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { loadTestEnv, requireKubernetes, type TestEnv } from "./env.ts";

const CLUSTER_NAME = "knative-lambda-test";

/** A client configuration acting as one identity, plus a kubeconfig file for kubectl. */
export interface Identity {
  user: string;
  groups: string[];
  kubeConfig: k8s.KubeConfig;
  /** Path of a kubeconfig file for the same identity (for kubectl --kubeconfig). */
  kubeconfigPath: string;
}

function kubeconfigYaml(env: TestEnv, user: string, auth: Record<string, string>): string {
  const userName = user.replaceAll(/[^A-Za-z0-9._-]/g, "_");
  const doc = {
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: CLUSTER_NAME, cluster: { server: env.kubernetes.apiserverUrl, "certificate-authority": env.kubernetes.caFile } }],
    users: [{ name: userName, user: auth }],
    contexts: [{ name: `${userName}@${CLUSTER_NAME}`, context: { cluster: CLUSTER_NAME, user: userName, namespace: "default" } }],
    "current-context": `${userName}@${CLUSTER_NAME}`,
  };
  // JSON is valid YAML; both kubectl and client-node read it.
  return JSON.stringify(doc, null, 2);
}

function identityDir(env: TestEnv): string {
  const dir = join(env.stateDir, "identities", `${Date.now()}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function loadKubeConfig(path: string): k8s.KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(path);
  return kc;
}

/** KubeConfig of the cluster admin (user test-admin in group system:masters). */
export async function adminKubeConfig(): Promise<k8s.KubeConfig> {
  const env = await requireKubernetes();
  return loadKubeConfig(env.kubernetes.identities.admin.kubeconfig);
}

/** Path of the admin kubeconfig file (for kubectl). */
export function adminKubeconfigPath(): string {
  return loadTestEnv().kubernetes.identities.admin.kubeconfig;
}

/** Identity of the static token user `test-no-permissions`, bound to no role at all. */
export async function noPermissionsIdentity(): Promise<Identity> {
  const env = await requireKubernetes();
  const id = env.kubernetes.identities.noPermissions;
  return { user: id.user, groups: id.groups, kubeConfig: loadKubeConfig(id.kubeconfig), kubeconfigPath: id.kubeconfig };
}

function escapeSubjectValue(value: string): string {
  return value.replaceAll(/([/\\=+,])/g, "\\$1");
}

/**
 * Acts as any user (and groups) through a client certificate signed by the
 * test cluster's CA: CN = user, O = each group. The apiserver authenticates it
 * like any other client certificate; RBAC then decides. For a service account
 * pass `system:serviceaccount:<ns>:<name>` with groups
 * `["system:serviceaccounts", "system:serviceaccounts:<ns>"]`, or prefer
 * kubeConfigForServiceAccount().
 */
export async function kubeConfigForUser(user: string, groups: string[] = []): Promise<Identity> {
  const env = await requireKubernetes();
  const dir = identityDir(env);
  const key = join(dir, "client.key");
  const csr = join(dir, "client.csr");
  const crt = join(dir, "client.crt");
  const subject = [...groups.map((g) => `/O=${escapeSubjectValue(g)}`), `/CN=${escapeSubjectValue(user)}`].join("");
  const openssl = env.tools.openssl;
  execFileSync(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], { stdio: "pipe" });
  execFileSync(openssl, ["req", "-new", "-key", key, "-subj", subject, "-out", csr], { stdio: "pipe" });
  const ext = join(dir, "ext.cnf");
  writeFileSync(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=clientAuth\n");
  execFileSync(
    openssl,
    ["x509", "-req", "-in", csr, "-CA", env.kubernetes.caFile, "-CAkey", env.kubernetes.caKeyFile,
      "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-days", "2", "-sha256", "-extfile", ext, "-out", crt],
    { stdio: "pipe" },
  );
  const kubeconfigPath = join(dir, "kubeconfig");
  writeFileSync(kubeconfigPath, kubeconfigYaml(env, user, { "client-certificate": crt, "client-key": key }), { mode: 0o600 });
  return { user, groups, kubeConfig: loadKubeConfig(kubeconfigPath), kubeconfigPath };
}

/** An identity that authenticates with the given bearer token. */
export async function kubeConfigForToken(user: string, token: string, groups: string[] = []): Promise<Identity> {
  const env = await requireKubernetes();
  const kubeconfigPath = join(identityDir(env), "kubeconfig");
  writeFileSync(kubeconfigPath, kubeconfigYaml(env, user, { token }), { mode: 0o600 });
  return { user, groups, kubeConfig: loadKubeConfig(kubeconfigPath), kubeconfigPath };
}

/**
 * Acts as ServiceAccount <namespace>/<name> with a real token from the
 * TokenRequest API (signed by the apiserver's service-account key), exactly
 * as a pod running under that ServiceAccount would. The ServiceAccount must
 * exist.
 */
export async function kubeConfigForServiceAccount(namespace: string, name: string, expirationSeconds = 3600): Promise<Identity> {
  const admin = await adminKubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const tr = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { apiVersion: "authentication.k8s.io/v1", kind: "TokenRequest", spec: { audiences: [], expirationSeconds } },
  });
  const token = tr.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${namespace}/${name} returned no token`);
  return kubeConfigForToken(`system:serviceaccount:${namespace}:${name}`, token, [
    "system:serviceaccounts",
    `system:serviceaccounts:${namespace}`,
    "system:authenticated",
  ]);
}

/** Creates a namespace with a unique name; call the returned function to delete it. */
export async function createTestNamespace(prefix = "it"): Promise<{ name: string; remove: () => Promise<void> }> {
  const admin = await adminKubeConfig();
  const core = admin.makeApiClient(k8s.CoreV1Api);
  const name = `${prefix}-${randomBytes(4).toString("hex")}`.toLowerCase().slice(0, 63);
  await core.createNamespace({ body: { metadata: { name, labels: { "knative-lambda.test/integration": "true" } } } });
  return {
    name,
    remove: async () => {
      try {
        await core.deleteNamespace({ name });
      } catch (err) {
        if ((err as { code?: number }).code !== 404) throw err;
      }
    },
  };
}

/** Polls fn until it returns a value other than undefined/false, or fails after timeoutMs. */
export async function waitFor<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 60_000, intervalMs = 250): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await fn();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const detail = lastError ? ` (last error: ${(lastError as Error).message})` : "";
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${detail}; see .test-env/logs/ for component logs`);
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Reads a kubeconfig file's text (for tests that hand it to a child process). */
export function readKubeconfig(path: string): string {
  return readFileSync(path, "utf8");
}
