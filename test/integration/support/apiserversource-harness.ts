// Plays the ApiServerSource adapter in Resource mode: turns real watch events on
// build Jobs and Knative Services into the CloudEvents the adapter sends
// (dev.knative.apiserver.resource.add|update|delete, the whole object as data,
// subject /apis/<apiVersion>/namespaces/<ns>/<plural>/<name>, a new id on every
// send) and delivers them, in binary mode, to a subscriber.
import { randomUUID } from "node:crypto";
import * as k8s from "@kubernetes/client-node";

const TYPES: Record<string, string> = {
  ADDED: "dev.knative.apiserver.resource.add",
  MODIFIED: "dev.knative.apiserver.resource.update",
  DELETED: "dev.knative.apiserver.resource.delete",
};

export interface SentEvent {
  type: string;
  object: Record<string, unknown> & { metadata: { name: string; resourceVersion: string } };
  status: number;
}

export interface Harness {
  sent: SentEvent[];
  /** Sends an earlier event again, exactly as the adapter would on a redelivery (with a new id). */
  resend(event: SentEvent): Promise<number>;
  stop(): void;
}

function subjectOf(object: { apiVersion: string; kind: string; metadata: { namespace: string; name: string } }): string {
  const plural = `${object.kind.toLowerCase()}s`;
  const prefix = object.apiVersion.includes("/") ? `/apis/${object.apiVersion}` : `/api/${object.apiVersion}`;
  return `${prefix}/namespaces/${object.metadata.namespace}/${plural}/${object.metadata.name}`;
}

async function deliver(target: string, source: string, type: string, object: SentEvent["object"]): Promise<number> {
  const response = await fetch(target, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      "ce-specversion": "1.0",
      "ce-id": randomUUID(),
      "ce-source": source,
      "ce-type": type,
      "ce-subject": subjectOf(object as never),
    },
    body: JSON.stringify(object),
  });
  await response.arrayBuffer();
  return response.status;
}

export async function startApiServerSourceHarness(kc: k8s.KubeConfig, namespace: string, labelSelector: string, target: string): Promise<Harness> {
  const sent: SentEvent[] = [];
  const source = kc.getCurrentCluster()?.server ?? "https://kubernetes";
  const watch = new k8s.Watch(kc);
  const requests: AbortController[] = [];
  let queue = Promise.resolve();
  const paths = [`/apis/batch/v1/namespaces/${namespace}/jobs`, `/apis/serving.knative.dev/v1/namespaces/${namespace}/services`];
  for (const path of paths) {
    requests.push(
      await watch.watch(
        path,
        { labelSelector },
        (phase, object) => {
          const type = TYPES[phase];
          if (!type) return;
          // Delivered one at a time, in watch order, like the adapter's queue.
          queue = queue.then(async () => {
            const status = await deliver(target, source, type, object as SentEvent["object"]);
            sent.push({ type, object: object as SentEvent["object"], status });
          });
        },
        () => undefined,
      ),
    );
  }
  return {
    sent,
    resend: (event) => deliver(target, source, event.type, event.object),
    stop: () => requests.forEach((r) => r.abort()),
  };
}
