// Both build engines on the real control plane. For each, config/ is installed in a
// namespace of its own with KL_BUILD_ENGINE naming the engine: the builder's
// ServiceAccount (real token, real Roles) creates the engine's Job through the
// JobBuildExecutor under the admission policies and Pod Security; kwok runs its pod and
// gives its containers the termination message the engine writes (kwok plays the
// kubelet, so no image runs); the executor reads the pushed digest back through the
// engine. BuildKit's init container program runs here as a process against MinIO, with
// the command and environment of the Job it belongs to.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import * as k8s from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { JobBuildExecutor } from "../../lib/adapters/kubernetes/job-build-executor.ts";
import { createStore } from "../../lib/adapters/store/create-store.ts";
import { buildJobSettings } from "../../lib/backends/kubernetes.ts";
import { loadConfig } from "../../lib/config/load.ts";
import type { Config } from "../../lib/config/schema.ts";
import { packDeterministic } from "../../lib/context/deterministic-tar.ts";
import { buildkit } from "../../lib/kubernetes/build-engines/buildkit.ts";
import type { BuildEngine } from "../../lib/kubernetes/build-engines/engine.ts";
import { kaniko } from "../../lib/kubernetes/build-engines/kaniko.ts";
import { buildJobManifest } from "../../lib/kubernetes/build-job.ts";
import { Labels, MANAGED_BY } from "../../lib/naming.ts";
import type { BuildRecord, BuildRequest } from "../../lib/ports/build-executor.ts";
import { contextKey } from "../../lib/source/keys.ts";
import { installForAdmission, refusalOf } from "./support/admission.ts";
import { REPO_ROOT, requireKubernetes, requireS3, type TestEnv } from "./support/env.ts";
import { adminKubeConfig, createTestNamespace, kubeConfigForServiceAccount, waitFor, type Identity } from "./support/kubernetes.ts";

const execFileAsync = promisify(execFile);
const REPOSITORY = "registry.test.local/functions";
const TENANT = "acme";
/** The namespace label of the Pod Security level enforced on its pods. */
const ENFORCE = "pod-security.kubernetes.io/enforce";

/** The termination message each engine's reporting container writes for a pushed digest. */
const REPORTS: Record<string, (digest: string) => string> = {
  kaniko: (digest) => digest,
  buildkit: (digest) => JSON.stringify({ "containerimage.config.digest": `sha256:${"c".repeat(64)}`, "containerimage.digest": digest, "image.name": `${REPOSITORY}/fn:tag` }, null, 2),
};

interface Install {
  ns: { name: string; remove: () => Promise<void> };
  builder: Identity;
  settings: Record<string, string>;
}

let env: TestEnv;
let admin: k8s.KubeConfig;
let core: k8s.CoreV1Api;
const installs: Record<string, Install> = {};
const scratch: string[] = [];

/** The namespace labels config/namespace.yaml sets: the Pod Security levels build pods meet. */
async function namespaceLabels(): Promise<Record<string, string>> {
  const namespace = parse(await readFile(path.join(REPO_ROOT, "config/namespace.yaml"), "utf8")) as { metadata: { labels: Record<string, string> } };
  return namespace.metadata.labels;
}

async function labelNamespace(name: string, labels: Record<string, string>): Promise<void> {
  await core.patchNamespace({ name, body: { metadata: { labels } } }, k8s.setHeaderOptions("Content-Type", k8s.PatchStrategy.MergePatch));
}

/** config/ installed for `engine` in a namespace of its own, labelled as config/namespace.yaml labels it. */
async function install(engine: BuildEngine): Promise<Install> {
  const ns = await createTestNamespace(`engine-${engine.name}`);
  await labelNamespace(ns.name, await namespaceLabels());
  const { settings } = await installForAdmission(ns.name, { KL_BUILD_ENGINE: engine.name });
  return { ns, settings, builder: await kubeConfigForServiceAccount(ns.name, "knative-lambda-builder") };
}

/** The builder's configuration for `engine`: config/'s settings, the test's store and registry, and what kwok makes its pods report. */
function builderConfig(engine: BuildEngine, podAnnotations: Record<string, string>): Config {
  return loadConfig({
    ...installs[engine.name]!.settings,
    KL_IMAGE_REPOSITORY: REPOSITORY,
    KL_STORE_BUCKET: env.s3.bucket,
    KL_S3_ENDPOINT: env.s3.endpoint,
    KL_S3_REGION: env.s3.region,
    KL_BUILD_POD_ANNOTATIONS: JSON.stringify(podAnnotations),
  });
}

async function executorFor(engine: BuildEngine, podAnnotations: Record<string, string>): Promise<JobBuildExecutor> {
  const config = builderConfig(engine, podAnnotations);
  const { ns, builder } = installs[engine.name]!;
  return new JobBuildExecutor(builder.kubeConfig, buildJobSettings(config, ns.name), await createStore(config), engine);
}

function buildRequest(engine: BuildEngine, digest: string): BuildRequest {
  const functionName = `fn-${engine.name}-${randomBytes(4).toString("hex")}`;
  return {
    name: `build-${functionName}`,
    functionName,
    runtime: "nodejs",
    contextKey: contextKey(TENANT, digest.slice("sha256:".length)),
    contentDigest: digest.slice("sha256:".length),
    timeoutSeconds: 120,
    labels: { [Labels.ManagedBy]: MANAGED_BY, [Labels.Function]: functionName, [Labels.ThirdPartyId]: TENANT },
    annotations: {},
  };
}

function randomDigest(): string {
  return `sha256:${randomBytes(32).toString("hex")}`;
}

async function waitForEnd(executor: JobBuildExecutor, name: string): Promise<BuildRecord> {
  return waitFor(`build ${name} to end`, async () => {
    const record = await executor.get(name);
    return record && (record.status.phase === "Succeeded" || record.status.phase === "Failed") ? record : undefined;
  }, 60_000, 250);
}

/** The Job the builder makes for a build of `engine` in its namespace. */
function jobOf(engine: BuildEngine, digest: string): k8s.V1Job {
  return buildJobManifest(buildRequest(engine, digest), "s3://bucket/key", buildJobSettings(builderConfig(engine, {}), installs[engine.name]!.ns.name), engine);
}

/** A server-side dry run of the Job's pod, as the Job controller would create it: Pod Security admission in full. */
function dryRunPodOf(job: k8s.V1Job): Promise<{ code: number; message: string } | undefined> {
  const pod: k8s.V1Pod = { metadata: { name: `${job.metadata!.name}-dry-run`, labels: job.spec!.template.metadata?.labels }, spec: job.spec!.template.spec! };
  return refusalOf(core.createNamespacedPod({ namespace: job.metadata!.namespace!, body: pod, dryRun: "All" }));
}

beforeAll(async () => {
  env = await requireKubernetes();
  await requireS3();
  admin = await adminKubeConfig();
  core = admin.makeApiClient(k8s.CoreV1Api);
  installs.kaniko = await install(kaniko);
  installs.buildkit = await install(buildkit);
  // The builder's Roles and the images policy's view of each namespace's settings take
  // effect once the apiserver has seen them: wait until the builder may create its Job.
  for (const engine of [kaniko, buildkit]) {
    const job = jobOf(engine, randomDigest());
    const batch = installs[engine.name]!.builder.kubeConfig.makeApiClient(k8s.BatchV1Api);
    await waitFor(`the builder to be allowed its ${engine.name} Job`, async () => (await refusalOf(batch.createNamespacedJob({ namespace: job.metadata!.namespace!, body: job, dryRun: "All" }))) === undefined, 60_000, 500);
  }
}, 120_000);

afterAll(async () => {
  await Promise.all(Object.values(installs).map((i) => i.ns.remove()));
  await Promise.all(scratch.map((dir) => rm(dir, { recursive: true, force: true })));
});

describe("Kaniko, at the Pod Security level config/ sets", () => {
  it("fits the baseline level of config/namespace.yaml", async () => {
    expect((await namespaceLabels())[ENFORCE]).toBe("baseline");
    expect(await dryRunPodOf(jobOf(kaniko, randomDigest()))).toBeUndefined();
  });

  it("the builder creates the Job, kwok runs it, and the executor reads the digest Kaniko wrote", async () => {
    const digest = randomDigest();
    const executor = await executorFor(kaniko, { [env.kubernetes.kwok.annotations.terminationMessage]: REPORTS.kaniko!(digest) });
    const request = buildRequest(kaniko, digest);
    const { created, record } = await executor.create(request);
    expect(created).toBe(true);
    expect(record.status.phase).toBe("Pending");
    const ended = await waitForEnd(executor, request.name);
    expect(ended.status).toMatchObject({ phase: "Succeeded", image: `${REPOSITORY}/${request.functionName}@${digest}` });
  });
});

describe("BuildKit", () => {
  it("is refused by the baseline level of config/namespace.yaml: seccomp and AppArmor Unconfined", async () => {
    const refusal = await dryRunPodOf(jobOf(buildkit, randomDigest()));
    expect(refusal?.code).toBe(403);
    expect(refusal?.message).toContain('violates PodSecurity "baseline:latest"');
    expect(refusal?.message).toMatch(/seccompProfile/);
    expect(refusal?.message).toMatch(/AppArmor profile/);
  });

  describe("in a namespace at the privileged level, as docs/DEPLOYMENT.md tells the operator to set", () => {
    beforeAll(() => labelNamespace(installs.buildkit!.ns.name, { [ENFORCE]: "privileged" }));

    it("its pod is admitted", async () => {
      expect(await dryRunPodOf(jobOf(buildkit, randomDigest()))).toBeUndefined();
    });

    it("the builder creates the Job, kwok runs it, and the executor reads the digest from buildctl's metadata", async () => {
      const digest = randomDigest();
      const executor = await executorFor(buildkit, { [env.kubernetes.kwok.annotations.terminationMessage]: REPORTS.buildkit!(digest) });
      const request = buildRequest(buildkit, digest);
      expect((await executor.create(request)).created).toBe(true);
      const ended = await waitForEnd(executor, request.name);
      expect(ended.status).toMatchObject({ phase: "Succeeded", image: `${REPOSITORY}/${request.functionName}@${digest}` });
    });

    it("a build whose BuildKit container fails is a failed build with its message", async () => {
      const a = env.kubernetes.kwok.annotations;
      const executor = await executorFor(buildkit, { [a.outcome]: "fail", [a.terminationMessage]: 'ERROR: failed to solve: process "/bin/sh -c npm ci" did not complete successfully: exit code: 1' });
      const request = buildRequest(buildkit, randomDigest());
      await executor.create(request);
      const ended = await waitForEnd(executor, request.name);
      expect(ended.status).toMatchObject({ phase: "Failed", reason: "BuildFailed" });
      expect(ended.status.logTail).toContain("failed to solve");
    });
  });
});

describe("BuildKit's init container program, against the store", () => {
  /** The init container of the BuildKit Job for `key`, run here: its command and environment, the credentials its Secret references resolved, the context directory moved to `dir`. */
  async function runInitContainer(key: string, dir: string): Promise<{ code: number; stderr: string }> {
    const config = builderConfig(buildkit, {});
    const request = { ...buildRequest(buildkit, randomDigest()), contextKey: key };
    const store = await createStore(config);
    const job = buildJobManifest(request, store.url(key), buildJobSettings(config, installs.buildkit!.ns.name), buildkit);
    const init = job.spec!.template.spec!.initContainers![0]!;
    const secrets: Record<string, string> = { AWS_ACCESS_KEY_ID: env.s3.accessKeyId, AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey };
    const containerEnv = Object.fromEntries((init.env ?? []).map((e) => [e.name, e.value ?? secrets[e.valueFrom!.secretKeyRef!.key]!]));
    const [program, ...args] = init.command!;
    expect(program).toBe("node");
    try {
      await execFileAsync(process.execPath, [...args.slice(0, -1), dir], { cwd: REPO_ROOT, env: { PATH: process.env.PATH ?? "", HOME: os.tmpdir(), ...containerEnv } });
      return { code: 0, stderr: "" };
    } catch (error) {
      const failed = error as { code: number; stderr: string };
      return { code: failed.code, stderr: failed.stderr };
    }
  }

  it("fetches the context from the store and unpacks it where BuildKit reads it", async () => {
    const source = await mkdtemp(path.join(os.tmpdir(), "kl-context-"));
    scratch.push(source);
    await mkdir(path.join(source, "function"), { recursive: true });
    await writeFile(path.join(source, "Dockerfile"), "FROM scratch\nCOPY function/ /function/\n");
    await writeFile(path.join(source, "function", "index.js"), "export const handler = async () => ({ ok: true });\n");
    const key = contextKey(TENANT, randomBytes(32).toString("hex"));
    const s3 = new S3Client({ region: env.s3.region, endpoint: env.s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey } });
    await s3.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: await packDeterministic(source) }));

    const destination = path.join(await mkdtemp(path.join(os.tmpdir(), "kl-workspace-")), "context");
    scratch.push(path.dirname(destination));
    expect(await runInitContainer(key, destination)).toEqual({ code: 0, stderr: "" });
    expect(await readFile(path.join(destination, "Dockerfile"), "utf8")).toBe("FROM scratch\nCOPY function/ /function/\n");
    expect(await readFile(path.join(destination, "function", "index.js"), "utf8")).toContain("handler");
  });

  it("ends with an error naming the context when the store has none", async () => {
    const destination = path.join(await mkdtemp(path.join(os.tmpdir(), "kl-workspace-")), "context");
    scratch.push(path.dirname(destination));
    const key = contextKey(TENANT, randomBytes(32).toString("hex"));
    const result = await runInitContainer(key, destination);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`could not fetch the build context s3://${env.s3.bucket}/${key}`);
  });
});
