// Smoke tests of MinIO (S3) with @aws-sdk/client-s3, its default request
// checksums left on (no requestChecksumCalculation / responseChecksumValidation
// overrides).
import { createHash, randomBytes } from "node:crypto";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
  UploadPartCommand,
  type CompletedPart,
} from "@aws-sdk/client-s3";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { requireS3, type TestEnv } from "./support/env.ts";

const sha256 = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function errorName(err: unknown): string | undefined {
  return (err as { name?: string }).name;
}

describe("MinIO (S3)", () => {
  let env: TestEnv;
  let s3: S3Client;
  const prefix = `smoke/${Date.now()}-${randomBytes(3).toString("hex")}`;
  const keys: string[] = [];

  beforeAll(async () => {
    env = await requireS3();
    s3 = new S3Client({
      endpoint: env.s3.endpoint,
      region: env.s3.region,
      forcePathStyle: env.s3.forcePathStyle,
      credentials: { accessKeyId: env.s3.accessKeyId, secretAccessKey: env.s3.secretAccessKey },
    });
  });

  afterAll(async () => {
    for (const Key of keys) await s3?.send(new DeleteObjectCommand({ Bucket: env.s3.bucket, Key })).catch(() => undefined);
    s3?.destroy();
  });

  it("puts, heads, gets and deletes an object, with the SDK's checksum verified by the server", async () => {
    const Key = `${prefix}/hello.txt`;
    keys.push(Key);
    const body = Buffer.from(`hello from the integration tests ${randomBytes(8).toString("hex")}\n`);
    const put = await s3.send(
      new PutObjectCommand({ Bucket: env.s3.bucket, Key, Body: body, ContentType: "text/plain", Metadata: { "content-hash": sha256(body) } }),
    );
    expect(put.ETag).toBeTruthy();
    // The SDK computed a CRC32 of the body by default and MinIO checked and echoed it.
    expect(put.ChecksumCRC32).toBeTruthy();

    const head = await s3.send(new HeadObjectCommand({ Bucket: env.s3.bucket, Key }));
    expect(head.ContentLength).toBe(body.length);
    expect(head.ContentType).toBe("text/plain");
    expect(head.Metadata?.["content-hash"]).toBe(sha256(body));

    const got = await s3.send(new GetObjectCommand({ Bucket: env.s3.bucket, Key }));
    const bytes = await got.Body!.transformToByteArray();
    expect(Buffer.from(bytes).equals(body)).toBe(true);

    await s3.send(new DeleteObjectCommand({ Bucket: env.s3.bucket, Key }));
    const gone = await s3.send(new HeadObjectCommand({ Bucket: env.s3.bucket, Key })).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(errorName(gone)).toBe("NotFound");
  });

  it("rejects a body whose declared checksum does not match (the server really verifies)", async () => {
    const Key = `${prefix}/bad-checksum.txt`;
    keys.push(Key);
    const wrong = createHash("sha256").update("something else").digest("base64");
    const err = await s3
      .send(new PutObjectCommand({ Bucket: env.s3.bucket, Key, Body: Buffer.from("payload"), ChecksumSHA256: wrong }))
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(err).toBeDefined();
    expect((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode).toBe(400);
  });

  it("uploads a multipart object and reads back the same bytes", async () => {
    const Key = `${prefix}/multipart.bin`;
    keys.push(Key);
    const parts = [randomBytes(5 * 1024 * 1024), randomBytes(1024 * 1024 + 17)];
    const whole = Buffer.concat(parts);
    const created = await s3.send(new CreateMultipartUploadCommand({ Bucket: env.s3.bucket, Key, ContentType: "application/octet-stream" }));
    expect(created.UploadId).toBeTruthy();
    const completed: CompletedPart[] = [];
    for (const [i, part] of parts.entries()) {
      const res = await s3.send(
        new UploadPartCommand({ Bucket: env.s3.bucket, Key, UploadId: created.UploadId, PartNumber: i + 1, Body: part }),
      );
      expect(res.ETag).toBeTruthy();
      completed.push({
        PartNumber: i + 1,
        ETag: res.ETag,
        ...(res.ChecksumCRC32 ? { ChecksumCRC32: res.ChecksumCRC32 } : {}),
      });
    }
    const done = await s3.send(
      new CompleteMultipartUploadCommand({ Bucket: env.s3.bucket, Key, UploadId: created.UploadId, MultipartUpload: { Parts: completed } }),
    );
    expect(done.ETag).toMatch(/-2"?$/);

    const head = await s3.send(new HeadObjectCommand({ Bucket: env.s3.bucket, Key }));
    expect(head.ContentLength).toBe(whole.length);
    const got = await s3.send(new GetObjectCommand({ Bucket: env.s3.bucket, Key }));
    const bytes = Buffer.from(await got.Body!.transformToByteArray());
    expect(sha256(bytes)).toBe(sha256(whole));

    await s3.send(new DeleteObjectCommand({ Bucket: env.s3.bucket, Key }));
  });
});
