// What the cluster tests share to run the platform's function against the test environment:
// its environment as a builder or job-watcher, and a source uploaded where a producer puts it.
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { packageSource } from "../../../lib/cli/package-source.ts";
import { sha256Hex } from "../../../lib/source/load.ts";
import type { TestEnv } from "./env.ts";
import type { Identity } from "./kubernetes.ts";

export const TEST_NAMESPACE = "knative-lambda";
export const TEST_REPOSITORY = "registry.test.local/functions";

/** The environment of the function in `role`, with `identity`'s kubeconfig, MinIO as its store and `sink` as K_SINK. */
export function clusterFunctionEnv(env: TestEnv, role: string, identity: Identity, sink: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    KL_BACKEND: "kubernetes",
    KL_ROLE: role,
    KUBECONFIG: identity.kubeconfigPath,
    KL_NAMESPACE: TEST_NAMESPACE,
    KL_STORE: "s3",
    KL_STORE_BUCKET: env.s3.bucket,
    KL_S3_ENDPOINT: env.s3.endpoint,
    KL_S3_REGION: env.s3.region,
    AWS_ACCESS_KEY_ID: env.s3.accessKeyId,
    AWS_SECRET_ACCESS_KEY: env.s3.secretAccessKey,
    KL_IMAGE_REPOSITORY: TEST_REPOSITORY,
    K_SINK: sink,
    ...extra,
  };
}

/** Packs a function directory as the CLI does and puts it under the tenant's prefix in MinIO. */
export async function uploadSource(env: TestEnv, tenant: string, parserId: string, location: string): Promise<{ key: string; hash: string }> {
  const source = await packageSource(location);
  const hash = sha256Hex(source.bytes);
  const key = `sources/${tenant}/${parserId}/${hash}${source.extension}`;
  const s3 = new S3Client({ region: env.s3.region, endpoint: env.s3.endpoint, forcePathStyle: true, credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey } });
  await s3.send(new PutObjectCommand({ Bucket: env.s3.bucket, Key: key, Body: source.bytes }));
  return { key, hash };
}
