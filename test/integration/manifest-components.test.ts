// The optional kustomize components of config/ and eventing/, rendered by the kubectl
// (kustomize) of the environment from overlays written the way docs/DEPLOYMENT.md tells
// an operator to write them, and sent to the real apiserver as strict server-side dry
// runs: schemas (the upstream CRDs included) and admission run in full, nothing is stored.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { configSchema } from "../../lib/config/schema.ts";
import { CONSUMED_KINDS, eventType } from "../../lib/events/types.ts";
import { REPO_ROOT, requireKubernetes, requireTool } from "./support/env.ts";
import { adminKubeconfigPath, createTestNamespace } from "./support/kubernetes.ts";

const execFileAsync = promisify(execFile);
/** The namespace config/ and eventing/ install into. */
const INSTALL_NAMESPACE = "knative-lambda";
const DEFAULT_PREFIX = "network.notifi.lambda";
const PREFIX = "com.example.functions";
const PREFIX_SOURCE = "knative-lambda-event-prefix";
const PLATFORM_CONFIG = "knative-lambda-config";
const REGISTRY_SECRET = "knative-lambda-registry";

interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; annotations?: Record<string, string> };
  [field: string]: unknown;
}

/** The source of the prefix, as the operator's overlay holds it (local-config: never applied). */
const PREFIX_SOURCE_YAML = stringify({
  apiVersion: "v1",
  kind: "ConfigMap",
  metadata: { name: PREFIX_SOURCE, annotations: { "config.kubernetes.io/local-config": "true" } },
  data: { prefix: PREFIX },
});

const overlays: string[] = [];
let namespace: { name: string; remove: () => Promise<void> };

/** Writes an overlay in a directory of its own; kustomize takes the project's directories only as relative paths. */
async function overlay(resources: string[], components: string[], files: Record<string, string> = {}): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kl-overlay-"));
  overlays.push(dir);
  const relative = (entry: string) => (entry in files ? entry : path.relative(dir, path.join(REPO_ROOT, entry)));
  await writeFile(path.join(dir, "kustomization.yaml"), stringify({ resources: resources.map(relative), components: components.map(relative) }));
  for (const [name, text] of Object.entries(files)) await writeFile(path.join(dir, name), text);
  return dir;
}

async function kustomize(dir: string): Promise<Manifest[]> {
  const { stdout } = await execFileAsync(requireTool("kubectl"), ["kustomize", dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((doc) => doc.toJS() as Manifest);
}

/** The one manifest of that kind and name, read as T (each test names the fields it checks). */
function one<T = Manifest>(manifests: Manifest[], kind: string, name: string): T {
  const found = manifests.filter((m) => m.kind === kind && m.metadata.name === name);
  expect(found, `${kind} ${name}`).toHaveLength(1);
  return found[0] as T;
}

/**
 * A strict server-side dry run of the manifests, moved out of the install namespace into
 * the test's own (the Namespace object itself left out). Answers kubectl's warnings.
 */
async function dryRun(manifests: Manifest[]): Promise<string> {
  const moved = manifests
    .filter((m) => m.kind !== "Namespace")
    .map((m) => {
      const copy = structuredClone(m) as Manifest & { subjects?: Array<{ namespace?: string }> };
      if (copy.metadata.namespace === INSTALL_NAMESPACE) copy.metadata.namespace = namespace.name;
      for (const subject of copy.subjects ?? []) if (subject.namespace === INSTALL_NAMESPACE) subject.namespace = namespace.name;
      return copy;
    });
  const args = ["--kubeconfig", adminKubeconfigPath(), "apply", "--server-side", "--dry-run=server", "--validate=strict", "-f", "-"];
  return new Promise((resolve, reject) => {
    const child = execFile(requireTool("kubectl"), args, { maxBuffer: 16 * 1024 * 1024 }, (error, _stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stderr)));
    child.stdin?.end(moved.map((m) => stringify(m)).join("---\n"));
  });
}

beforeAll(async () => {
  await requireKubernetes();
  namespace = await createTestNamespace("components");
  // The pod-security level config/namespace.yaml enforces, and the stricter one it warns about.
  await execFileAsync(requireTool("kubectl"), ["--kubeconfig", adminKubeconfigPath(), "label", "namespace", namespace.name, "pod-security.kubernetes.io/enforce=baseline", "pod-security.kubernetes.io/warn=restricted"]);
});

afterAll(async () => {
  await namespace?.remove();
  await Promise.all(overlays.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("eventing/components/event-prefix", () => {
  const triggerTypes = (manifests: Manifest[]) =>
    manifests.filter((m) => m.kind === "Trigger").map((t) => (t as unknown as { spec: { filter: { attributes: { type: string } } } }).spec.filter.attributes.type);

  it("puts the overlay's prefix in every consumed type's Trigger filter and in the platform's KL_EVENT_TYPE_PREFIX, and the apiserver accepts the result", async () => {
    const dir = await overlay(["config", "eventing", "event-prefix.yaml"], ["eventing/components/event-prefix"], { "event-prefix.yaml": PREFIX_SOURCE_YAML });
    const rendered = await kustomize(dir);

    for (const kind of CONSUMED_KINDS) expect(triggerTypes(rendered)).toContain(eventType(PREFIX, kind));
    const settings = one<{ data: Record<string, string> }>(rendered, "ConfigMap", PLATFORM_CONFIG).data;
    expect(settings.KL_EVENT_TYPE_PREFIX).toBe(PREFIX);
    expect(configSchema.safeParse(settings).success).toBe(true);
    expect(rendered.map((m) => stringify(m)).join("")).not.toContain(DEFAULT_PREFIX);
    expect(rendered.filter((m) => m.metadata.name === PREFIX_SOURCE)).toEqual([]);

    await dryRun(rendered);
  });

  it("leaves the types of the ApiServerSource's events alone", async () => {
    const dir = await overlay(["eventing", "event-prefix.yaml"], ["eventing/components/event-prefix"], { "event-prefix.yaml": PREFIX_SOURCE_YAML });
    const plain = triggerTypes(await kustomize(path.join(REPO_ROOT, "eventing")));
    const prefixed = triggerTypes(await kustomize(dir));

    expect(prefixed.filter((type) => type.startsWith("dev.knative.apiserver."))).toEqual(plain.filter((type) => type.startsWith("dev.knative.apiserver.")));
    expect(prefixed.filter((type) => type.startsWith(`${PREFIX}.`))).toHaveLength(CONSUMED_KINDS.length);
  });

  it("refuses to render without the prefix's source, naming it", async () => {
    const dir = await overlay(["eventing"], ["eventing/components/event-prefix"]);
    await expect(kustomize(dir)).rejects.toThrow(PREFIX_SOURCE);
  });
});

describe("config/components/in-cluster-registry", () => {
  it("points KL_IMAGE_REPOSITORY at the registry's Service, over plain HTTP, with credentials build pods can mount", async () => {
    const rendered = await kustomize(await overlay(["config"], ["config/components/in-cluster-registry"]));
    const settings = configSchema.parse(one<{ data: Record<string, string> }>(rendered, "ConfigMap", PLATFORM_CONFIG).data);
    const service = one<{ metadata: { name: string; namespace: string }; spec: { ports: Array<{ port: number }> } }>(rendered, "Service", "registry");

    expect(settings.KL_IMAGE_REPOSITORY?.split("/")[0]).toBe(`${service.metadata.name}.${service.metadata.namespace}.svc.cluster.local:${service.spec.ports[0]!.port}`);
    expect(service.metadata.namespace).toBe(INSTALL_NAMESPACE);
    expect(settings.KL_REGISTRY_INSECURE).toBe(true);
    expect(settings.KL_REGISTRY_SECRET).toBe(REGISTRY_SECRET);
    const secret = one<{ type: string; data: Record<string, string> }>(rendered, "Secret", REGISTRY_SECRET);
    expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
    expect(JSON.parse(Buffer.from(secret.data[".dockerconfigjson"] ?? "", "base64").toString("utf8"))).toEqual({ auths: {} });
  });

  it("runs a pinned registry on a persistent volume, and the apiserver accepts it, its pods at the restricted pod-security level", async () => {
    const rendered = await kustomize(await overlay(["config"], ["config/components/in-cluster-registry"]));
    type PodSpec = { containers: Array<{ image: string }>; volumes: Array<{ persistentVolumeClaim?: { claimName: string } }> };
    const pod = one<{ spec: { template: { spec: PodSpec } } }>(rendered, "Deployment", "registry").spec.template.spec;

    expect(pod.containers[0]!.image).toMatch(/^docker\.io\/library\/registry:\d+\.\d+\.\d+$/);
    const claim = pod.volumes.find((v) => v.persistentVolumeClaim)?.persistentVolumeClaim?.claimName;
    expect(one(rendered, "PersistentVolumeClaim", claim ?? "").metadata.name).toBe(claim);

    const warnings = await dryRun(rendered);
    expect(warnings).not.toContain("PodSecurity");
  });
});
