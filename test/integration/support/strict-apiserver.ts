// The kube-apiserver of the test environment with strict field validation on every write.
// The apiserver's default (fieldValidation=Warn) drops a field the schema does not know and
// only warns; the builder and the job-watcher set no fieldValidation of their own. Handed a
// kubeconfig that points at this TLS proxy on 127.0.0.1, everything they create, patch or
// apply is validated strictly against the real schemas (the upstream CRDs among them), and a
// field the schema does not know fails the request instead of vanishing.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import type { RequestListener } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import * as k8s from "@kubernetes/client-node";
import { requireKubernetes, type TestEnv } from "./env.ts";
import type { Identity } from "./kubernetes.ts";

/** The verbs that write an object: the ones fieldValidation applies to. */
const WRITES = new Set(["POST", "PUT", "PATCH"]);

export interface StrictApiServer {
  url: string;
  /** The same identity (same token), talking to the apiserver through this proxy. */
  identityFor(identity: Identity): Identity;
  close(): Promise<void>;
}

/** A serving certificate for 127.0.0.1 signed by the test CA, which every kubeconfig of the environment trusts. */
function servingCertificate(env: TestEnv, dir: string): { key: string; cert: string } {
  const openssl = env.tools.openssl;
  const key = join(dir, "serving.key");
  const csr = join(dir, "serving.csr");
  const cert = join(dir, "serving.crt");
  const ext = join(dir, "serving.cnf");
  writeFileSync(ext, "basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n");
  execFileSync(openssl, ["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", key], { stdio: "pipe" });
  execFileSync(openssl, ["req", "-new", "-key", key, "-subj", "/CN=knative-lambda-test-strict-apiserver", "-out", csr], { stdio: "pipe" });
  execFileSync(
    openssl,
    ["x509", "-req", "-in", csr, "-CA", env.kubernetes.caFile, "-CAkey", env.kubernetes.caKeyFile,
      "-set_serial", `0x${randomBytes(16).toString("hex")}`, "-days", "2", "-sha256", "-extfile", ext, "-out", cert],
    { stdio: "pipe" },
  );
  return { key: readFileSync(key, "utf8"), cert: readFileSync(cert, "utf8") };
}

/** The request's URL on the apiserver, with fieldValidation=Strict on a write (whatever the client asked). */
function upstreamUrl(env: TestEnv, method: string, path: string): URL {
  const url = new URL(path, env.kubernetes.apiserverUrl);
  if (WRITES.has(method)) url.searchParams.set("fieldValidation", "Strict");
  return url;
}

function proxyTo(env: TestEnv, ca: string): RequestListener {
  return (request, response) => {
    const url = upstreamUrl(env, request.method ?? "GET", request.url ?? "/");
    const upstream = https.request(url, { method: request.method, headers: { ...request.headers, host: url.host }, ca }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on("error", (error) => {
      if (!response.headersSent) response.writeHead(502, { "content-type": "text/plain" });
      response.end(`the strict apiserver proxy could not reach ${env.kubernetes.apiserverUrl}: ${error.message}`);
    });
    request.pipe(upstream);
  };
}

/** A kubeconfig file like the identity's, whose cluster is the proxy. */
function kubeconfigThrough(identity: Identity, url: string): string {
  const doc = JSON.parse(readFileSync(identity.kubeconfigPath, "utf8")) as { clusters: Array<{ cluster: { server: string } }> };
  for (const entry of doc.clusters) entry.cluster.server = url;
  const path = `${identity.kubeconfigPath}.strict`;
  writeFileSync(path, JSON.stringify(doc, null, 2), { mode: 0o600 });
  return path;
}

export async function startStrictApiServer(): Promise<StrictApiServer> {
  const env = await requireKubernetes();
  const dir = join(env.stateDir, "identities", `strict-apiserver-${Date.now()}-${randomBytes(4).toString("hex")}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const server = https.createServer(servingCertificate(env, dir), proxyTo(env, readFileSync(env.kubernetes.caFile, "utf8")));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    identityFor(identity) {
      const kubeconfigPath = kubeconfigThrough(identity, url);
      const kubeConfig = new k8s.KubeConfig();
      kubeConfig.loadFromFile(kubeconfigPath);
      return { ...identity, kubeConfig, kubeconfigPath };
    },
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}
