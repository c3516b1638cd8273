// Runs the platform's function (function/server.ts) as a real process, the way a
// Knative Service runs it, and collects the CloudEvents it sends to its sink.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, open, readFile, rm } from "node:fs/promises";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { HTTP, type CloudEvent } from "cloudevents";
import { freePort } from "../../../lib/adapters/local/free-port.ts";
import { REPO_ROOT } from "./env.ts";

export interface FunctionProcess {
  url: string;
  log: () => Promise<string>;
  post(headers: Record<string, string>, body: string): Promise<{ status: number; headers: Record<string, string>; body: string }>;
  stop(): Promise<void>;
}

/** Starts function/server.ts with the given environment and waits until it answers its readiness probe. */
export async function startFunction(name: string, env: Record<string, string>): Promise<FunctionProcess> {
  const port = await freePort();
  const dir = await mkdtemp(path.join(os.tmpdir(), `kl-${name}-`));
  const logFile = path.join(dir, "function.log");
  const out = await open(logFile, "a");
  const child: ChildProcess = spawn(process.execPath, ["function/server.ts"], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/root", PORT: String(port), KL_DATA_DIR: path.join(dir, "data"), KL_LOG_LEVEL: "debug", FUNC_LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", out.fd, out.fd],
  });
  const url = `http://127.0.0.1:${port}/`;
  const log = () => readFile(logFile, "utf8");
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`${name} exited with ${child.exitCode}:\n${await log()}`);
    try {
      if ((await fetch(`${url}health/readiness`)).ok) break;
    } catch {
      if (Date.now() > deadline) throw new Error(`${name} did not start:\n${await log()}`);
    }
    await sleep(100);
  }
  return {
    url,
    log,
    async post(headers, body) {
      const response = await fetch(url, { method: "POST", headers, body });
      return { status: response.status, headers: Object.fromEntries(response.headers.entries()), body: await response.text() };
    },
    async stop() {
      child.kill("SIGTERM");
      if (child.exitCode === null) await new Promise((resolve) => child.once("exit", resolve));
      await out.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** An HTTP endpoint that plays the broker for K_SINK: accepts CloudEvents and keeps them. */
export async function startEventCollector(): Promise<{ url: string; events: CloudEvent<Record<string, unknown>>[]; close: () => Promise<void> }> {
  const events: CloudEvent<Record<string, unknown>>[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      try {
        events.push(HTTP.toEvent({ headers: request.headers as Record<string, string>, body: Buffer.concat(chunks).toString("utf8") }) as CloudEvent<Record<string, unknown>>);
        response.writeHead(202).end();
      } catch (error) {
        response.writeHead(400).end((error as Error).message);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    events,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

export interface ReceivedSpan {
  service: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
}

/** An OTLP/HTTP (JSON) endpoint that plays the trace collector and keeps the spans it receives. */
export async function startTraceCollector(): Promise<{ url: string; spans: ReceivedSpan[]; close: () => Promise<void> }> {
  const spans: ReceivedSpan[] = [];
  const server = http.createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      if (request.url !== "/v1/traces") return void response.writeHead(404).end();
      const body = JSON.parse(Buffer.concat(chunks).toString("utf8")) as {
        resourceSpans?: Array<{ resource?: { attributes?: Array<{ key: string; value: { stringValue?: string } }> }; scopeSpans?: Array<{ spans?: Array<{ traceId: string; spanId: string; parentSpanId?: string; name: string }> }> }>;
      };
      for (const resource of body.resourceSpans ?? []) {
        const service = resource.resource?.attributes?.find((a) => a.key === "service.name")?.value.stringValue ?? "";
        for (const scope of resource.scopeSpans ?? []) {
          for (const span of scope.spans ?? []) spans.push({ service, traceId: span.traceId, spanId: span.spanId, parentSpanId: span.parentSpanId ?? "", name: span.name });
        }
      }
      response.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, close: () => new Promise((resolve) => server.close(() => resolve())) };
}
