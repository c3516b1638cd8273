// The real func CLI of Knative Functions (knative.dev/func, the release pinned in
// test/env/versions.env) on the project's func.yaml, against the real kube-apiserver.
// No container engine runs here, so func builds nothing: `func deploy --build=false
// --push=false --image=<ref@digest>` deploys an image by digest, as it does for an image
// built elsewhere. No Knative controller runs either: once func has written the Service
// and waits for it to be Ready, the test plays Serving (the Service's status and its
// Route), and func completes. func runs on a copy of func.yaml: it rewrites the file it
// deploys (the image and namespace it deployed to) and writes .func/ beside it.
import { spawn } from "node:child_process";
import { copyFile, mkdir, mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import * as k8s from "@kubernetes/client-node";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../lib/adapters/local/free-port.ts";
import { applyAsAdmin, renderConfigInto } from "./support/admission.ts";
import { REPO_ROOT, requireKubernetes, requireTool, TestEnvUnavailableError } from "./support/env.ts";
import { KNATIVE_SERVICE, pretendKnativeServingMarksReady } from "./support/knative.ts";
import { adminKubeConfig, adminKubeconfigPath, createTestNamespace, waitFor } from "./support/kubernetes.ts";

const ROUTE_CRD = "routes.serving.knative.dev";
const KNATIVE_ROUTE = { group: "serving.knative.dev", version: "v1", plural: "routes" } as const;
/** A field the Route CRD's schema does not know fails the request instead of being dropped. */
const STRICT = "Strict";
const STORE_SECRET = "knative-lambda-store";
const SETTINGS = "knative-lambda-config";
/** The prerequisites func checks before it writes the Service: its ServiceAccount and the ConfigMap and Secret its env names. */
const PREREQUISITE_KINDS = new Set(["ServiceAccount", "ConfigMap"]);

interface FuncYaml {
  name: string;
  namespace: string;
  run: { envs: Array<{ name?: string; value: string }>; volumes: Array<{ path: string; emptyDir: { sizeLimit: string } }> };
  deploy: {
    serviceAccountName: string;
    labels: Array<{ key: string; value: string }>;
    healthEndpoints: { liveness: string; readiness: string };
    options: { scale: { min: number; max: number }; resources: { requests: { cpu: string; memory: string }; limits: { memory: string; concurrency: number } } };
  };
}

interface Container {
  name: string;
  image: string;
  env: Array<{ name: string; value?: string; valueFrom?: unknown }>;
  envFrom: unknown[];
  readinessProbe: { httpGet: { path: string } };
  livenessProbe: { httpGet: { path: string } };
  resources: unknown;
  securityContext: Record<string, unknown>;
  volumeMounts: Array<{ name: string; mountPath: string }>;
}

interface KnativeService {
  metadata: { labels: Record<string, string>; generation: number };
  spec: {
    template: {
      metadata: { annotations: Record<string, string> };
      spec: { serviceAccountName: string; containerConcurrency: number; timeoutSeconds?: number; containers: Container[]; volumes: Array<{ name: string; emptyDir?: { sizeLimit: string } }> };
    };
  };
}

interface Run {
  code: number | null;
  stdout: string;
  /** stdout and stderr as they came: func reports progress and outcome on either. */
  output: string;
}

const func: FuncYaml = parse(await readFile(path.join(REPO_ROOT, "func.yaml"), "utf8")) as FuncYaml;
const pinnedVersion = /^FUNC_VERSION=(\S+)$/m.exec(await readFile(path.join(REPO_ROOT, "test/env/versions.env"), "utf8"))?.[1];
const workDirs: string[] = [];
const namespaces: Array<{ remove: () => Promise<void> }> = [];
let admin: k8s.KubeConfig;
let custom: k8s.CustomObjectsApi;
/** An image by digest on a loopback port nothing listens on: func's pull check stays on this machine. */
let image: string;

/** A directory holding a copy of the project's func.yaml, and a home of its own for func's settings. */
async function funcProject(): Promise<string> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "kl-func-"));
  workDirs.push(dir);
  await copyFile(path.join(REPO_ROOT, "func.yaml"), path.join(dir, "func.yaml"));
  await mkdir(path.join(dir, "home"));
  return dir;
}

/** Runs func in `dir` (the function's path), as the cluster admin; resolves when it exits. */
function runFunc(dir: string, args: string[]): Promise<Run> {
  const home = path.join(dir, "home");
  const child = spawn(requireTool("func"), args, {
    cwd: dir,
    env: { PATH: process.env.PATH ?? "", HOME: home, XDG_CONFIG_HOME: path.join(home, ".config"), KUBECONFIG: adminKubeconfigPath() },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let output = "";
  child.stdout.on("data", (chunk: Buffer) => {
    stdout += chunk.toString();
    output += chunk.toString();
  });
  child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
  return new Promise((resolve, reject) => {
    child.once("error", reject);
    child.once("close", (code) => resolve({ code, stdout, output }));
  });
}

/** A namespace holding what `func deploy` needs first: `manifests` of config/ and the store Secret of step 1. */
async function installNamespace(keep: (kind: string) => boolean): Promise<string> {
  const namespace = await createTestNamespace("func");
  namespaces.push(namespace);
  await applyAsAdmin((await renderConfigInto(namespace.name)).filter((m) => keep(m.kind)));
  await admin.makeApiClient(k8s.CoreV1Api).createNamespacedSecret({
    namespace: namespace.name,
    body: { metadata: { name: STORE_SECRET }, stringData: { AWS_ACCESS_KEY_ID: "test", AWS_SECRET_ACCESS_KEY: "test" } },
  });
  return namespace.name;
}

/**
 * Pretends to be Knative Serving's route controller: the Route named after the Service,
 * all traffic to its latest revision, with the URL in its status. func reads it once the
 * Service is Ready.
 */
async function pretendKnativeServingRoutes(namespace: string, name: string, url: string): Promise<void> {
  await custom.createNamespacedCustomObject({
    ...KNATIVE_ROUTE,
    namespace,
    fieldValidation: STRICT,
    body: { apiVersion: "serving.knative.dev/v1", kind: "Route", metadata: { name }, spec: { traffic: [{ configurationName: name, latestRevision: true, percent: 100 }] } },
  });
  await custom.patchNamespacedCustomObjectStatus({ ...KNATIVE_ROUTE, namespace, name, body: { status: { url } }, fieldValidation: STRICT }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
}

async function readService(namespace: string): Promise<KnativeService> {
  return (await custom.getNamespacedCustomObject({ ...KNATIVE_SERVICE, namespace, name: func.name })) as KnativeService;
}

/**
 * Runs `func deploy` of `image` into `namespace`; once func has written the Service at
 * `generation`, plays Serving and answers func's run and the Service as func left it.
 */
async function deploy(namespace: string, generation: number): Promise<{ run: Run; service: KnativeService; url: string; dir: string }> {
  const dir = await funcProject();
  const running = runFunc(dir, ["deploy", "--build=false", "--push=false", `--image=${image}`, "--namespace", namespace]);
  const service = await waitFor(`func to write Knative Service ${namespace}/${func.name}`, async () => {
    const current = await readService(namespace).catch(() => undefined);
    return current?.metadata.generation === generation && current;
  });
  const url = `http://${func.name}.${namespace}.svc.cluster.local`;
  // The Route first: func reads it as soon as it sees the Service Ready.
  await pretendKnativeServingRoutes(namespace, func.name, url);
  await pretendKnativeServingMarksReady(admin, namespace, func.name, url);
  return { run: await running, service, url, dir };
}

function container(service: KnativeService): Container {
  const [only] = service.spec.template.spec.containers;
  if (!only) throw new Error("the Knative Service has no container");
  return only;
}

/** What func.yaml's run.envs become on the container: values, Secret keys by reference, the ConfigMap whole. */
function expectFuncYamlEnv(created: Container): void {
  expect(created.envFrom).toEqual([{ configMapRef: { name: SETTINGS } }]);
  expect(created.env).toEqual(
    expect.arrayContaining([
      { name: "KL_ROLE", value: "builder" },
      ...["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"].map((key) => ({ name: key, valueFrom: { secretKeyRef: { name: STORE_SECRET, key } } })),
    ]),
  );
}

beforeAll(async () => {
  await requireKubernetes();
  requireTool("func");
  admin = await adminKubeConfig();
  custom = admin.makeApiClient(k8s.CustomObjectsApi);
  await admin.makeApiClient(k8s.ApiextensionsV1Api).readCustomResourceDefinition({ name: ROUTE_CRD }).catch(() => {
    throw new TestEnvUnavailableError(
      `The CRD ${ROUTE_CRD} is not installed: func deploy reads the Knative Route once the Service is Ready. ` +
        "`bash test/env/up` installs it from the knative.dev/serving module (SERVING_VERSION in test/env/versions.env): run it.",
    );
  });
  image = `127.0.0.1:${await freePort()}/knative-lambda@sha256:${"ab".repeat(32)}`;
});

afterAll(async () => {
  await Promise.all(namespaces.map((namespace) => namespace.remove()));
  await Promise.all(workDirs.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("the func CLI", () => {
  it("is the release versions.env pins", async () => {
    const run = await runFunc(await funcProject(), ["version"]);
    expect(run.stdout.trim()).toBe(pinnedVersion);
  });

  it("reads func.yaml: its environment, volumes and labels", async () => {
    const dir = await funcProject();
    const envs = await runFunc(dir, ["config", "envs", "--output", "json"]);
    expect(envs.code, envs.output).toBe(0);
    expect((JSON.parse(envs.stdout) as Array<{ Name: string | null; Value: string }>).map((e) => ({ ...(e.Name === null ? {} : { name: e.Name }), value: e.Value }))).toEqual(func.run.envs);

    const volumes = await runFunc(dir, ["config", "volumes"]);
    expect(volumes.stdout).toContain(`EmptyDir with size limit "${func.run.volumes[0]!.emptyDir.sizeLimit}" at path: "${func.run.volumes[0]!.path}"`);
    const labels = await runFunc(dir, ["config", "labels"]);
    for (const label of func.deploy.labels) expect(labels.stdout).toContain(`Label with key "${label.key}" and value "${label.value}"`);
  });
});

describe("func deploy --build=false --push=false --image=<ref@digest>", () => {
  it("refuses, writing nothing, in a namespace without config/'s ServiceAccount", async () => {
    const namespace = await createTestNamespace("func");
    namespaces.push(namespace);
    const run = await runFunc(await funcProject(), ["deploy", "--build=false", "--push=false", `--image=${image}`, "--namespace", namespace.name]);

    expect(run.code).not.toBe(0);
    expect(run.output).toContain(`referenced ServiceAccount "${func.deploy.serviceAccountName}" is not present`);
    // Only the ServiceAccount: creating a Service, func does not check the ConfigMap and Secret its env names.
    expect(run.output).not.toContain("referenced Secret");
    expect(await readService(namespace.name).catch((error: { code?: number }) => error.code)).toBe(404);
  });

  it("creates the builder's Knative Service from func.yaml in a namespace holding config/'s ServiceAccount and ConfigMap and the store Secret, and completes once it is Ready", async () => {
    const namespace = await installNamespace((kind) => PREREQUISITE_KINDS.has(kind));
    const { run, service, url, dir } = await deploy(namespace, 1);

    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain(url);
    // func.yaml names the default namespace, not a deployed one: deploying elsewhere moves nothing.
    expect(run.output).not.toContain("Undeploying");

    for (const label of func.deploy.labels) expect(service.metadata.labels[label.key]).toBe(label.value);
    const template = service.spec.template;
    expect(template.metadata.annotations).toMatchObject({
      "autoscaling.knative.dev/min-scale": String(func.deploy.options.scale.min),
      "autoscaling.knative.dev/max-scale": String(func.deploy.options.scale.max),
    });
    expect(template.spec.serviceAccountName).toBe(func.deploy.serviceAccountName);
    expect(template.spec.containerConcurrency).toBe(func.deploy.options.resources.limits.concurrency);

    const created = container(service);
    expect(created.image).toBe(image);
    expectFuncYamlEnv(created);
    expect(created.readinessProbe.httpGet.path).toBe(func.deploy.healthEndpoints.readiness);
    expect(created.livenessProbe.httpGet.path).toBe(func.deploy.healthEndpoints.liveness);
    expect(created.resources).toEqual({ requests: func.deploy.options.resources.requests, limits: { memory: func.deploy.options.resources.limits.memory } });
    expect(created.securityContext).toMatchObject({ runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } });
    const [mount] = created.volumeMounts;
    expect(mount?.mountPath).toBe(func.run.volumes[0]!.path);
    expect(template.spec.volumes.find((v) => v.name === mount?.name)?.emptyDir).toEqual(func.run.volumes[0]!.emptyDir);

    // func records where it deployed what in the func.yaml it was given.
    const written = parse(await readFile(path.join(dir, "func.yaml"), "utf8")) as { deploy: { namespace: string; image: string } };
    expect(written.deploy).toMatchObject({ namespace, image });
    const listed = await runFunc(dir, ["list", "--namespace", namespace, "--output", "json"]);
    expect(JSON.parse(listed.stdout)).toEqual([expect.objectContaining({ name: func.name, namespace, url, ready: "True" })]);
  });

  it("over the builder config/ installed, replaces its image, environment and probes and keeps config/'s hardening", async () => {
    const namespace = await installNamespace((kind) => kind !== "Namespace");
    const before = await readService(namespace);
    const installed = container(before);
    const { run, service } = await deploy(namespace, 2);

    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain("Function updated");
    const updated = container(service);
    expect(updated.image).toBe(image);
    expectFuncYamlEnv(updated);
    expect(updated.readinessProbe.httpGet.path).toBe(func.deploy.healthEndpoints.readiness);
    expect(updated.name).toBe(installed.name);
    expect(updated.securityContext).toEqual(installed.securityContext);
    expect(service.spec.template.spec.timeoutSeconds).toBe(before.spec.template.spec.timeoutSeconds);
  });
});
