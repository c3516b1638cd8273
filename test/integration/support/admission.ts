// Helpers for tests of the admission policies in config/: the kustomization rendered by
// the kubectl of the environment (so kustomize's own idea of which kinds are
// cluster-scoped applies), moved into a throwaway namespace, applied with kubectl;
// and the apiserver's refusal of a request, read back as status code and message.
import { spawn } from "node:child_process";
import { join } from "node:path";
import { ApiException } from "@kubernetes/client-node";
import { parseAllDocuments, stringify } from "yaml";
import { REPO_ROOT, requireTool } from "./env.ts";
import { adminKubeconfigPath } from "./kubernetes.ts";

/** The namespace config/kustomization.yaml installs into. */
export const INSTALL_NAMESPACE = "knative-lambda";

export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; [key: string]: unknown };
  [key: string]: unknown;
}

function run(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    child.once("error", reject);
    child.once("close", (code) => (code === 0 ? resolve(stdout) : reject(new Error(`${command} ${args.join(" ")} exited with ${code}: ${stderr.trim()}`))));
    child.stdin.end(input ?? "");
  });
}

/**
 * config/ as `kubectl apply -k config/` installs it, but in `namespace`: every object
 * kustomize put in the install namespace, and every RoleBinding subject there, moves;
 * the Namespace object itself is left out (the test made its own).
 */
export async function renderConfigInto(namespace: string): Promise<Manifest[]> {
  const rendered = await run(requireTool("kubectl"), ["kustomize", join(REPO_ROOT, "config")]);
  return parseAllDocuments(rendered)
    .map((doc) => doc.toJS() as Manifest)
    .filter((doc) => doc.kind !== "Namespace")
    .map((doc) => {
      const moved = structuredClone(doc);
      if (moved.metadata.namespace === INSTALL_NAMESPACE) moved.metadata.namespace = namespace;
      const subjects = moved.subjects as Array<{ namespace?: string }> | undefined;
      for (const subject of subjects ?? []) if (subject.namespace === INSTALL_NAMESPACE) subject.namespace = namespace;
      return moved;
    });
}

/** What config/ installs that the admission policies consult: identities, Roles, the settings, the policies. */
const POLICY_INPUT_KINDS = new Set(["ServiceAccount", "Role", "RoleBinding", "ConfigMap", "ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"]);

export interface PolicyInstall {
  /** config/ as rendered into the namespace, with the settings changed. */
  rendered: Manifest[];
  /** The data of the knative-lambda-config ConfigMap as applied. */
  settings: Record<string, string>;
}

/**
 * config/ in `namespace` as far as admission is concerned: its identities, Roles and
 * settings (knative-lambda-config, with `changes` made), and the cluster-scoped policies.
 */
export async function installForAdmission(namespace: string, changes: Record<string, string> = {}): Promise<PolicyInstall> {
  const rendered = await renderConfigInto(namespace);
  const configMap = rendered.find((m) => m.kind === "ConfigMap") as unknown as { data: Record<string, string> };
  Object.assign(configMap.data, changes);
  await applyAsAdmin(rendered.filter((m) => POLICY_INPUT_KINDS.has(m.kind)));
  return { rendered, settings: configMap.data };
}

/** Server-side apply of the manifests as the admin, the way the other tests apply config/. */
export async function applyAsAdmin(manifests: Manifest[]): Promise<string> {
  const stream = manifests.map((m) => stringify(m)).join("---\n");
  return run(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), "apply", "--server-side", "--force-conflicts", "-f", "-"], stream);
}

/** The message of a Kubernetes Status body, which client-node hands over parsed or as text. */
function statusMessage(body: unknown): string | undefined {
  let status = body;
  if (typeof body === "string") {
    try {
      status = JSON.parse(body);
    } catch {
      return body || undefined;
    }
  }
  const message = (status as { message?: unknown } | null | undefined)?.message;
  return typeof message === "string" ? message : undefined;
}

export interface Refusal {
  code: number;
  message: string;
}

/** The refusal of a request, or undefined when the apiserver accepted it. Other errors propagate. */
export async function refusalOf(request: Promise<unknown>): Promise<Refusal | undefined> {
  try {
    await request;
    return undefined;
  } catch (error) {
    if (!(error instanceof ApiException)) throw error;
    return { code: error.code, message: statusMessage(error.body) ?? error.message };
  }
}
