// Creates the test bucket in MinIO through the S3 API (idempotent).
// Called by test/env/up with S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID,
// S3_SECRET_ACCESS_KEY and S3_BUCKET in the environment.
import { CreateBucketCommand, HeadBucketCommand, S3Client } from "@aws-sdk/client-s3";

const { S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_BUCKET } = process.env;
for (const [name, value] of Object.entries({ S3_ENDPOINT, S3_REGION, S3_ACCESS_KEY_ID, S3_SECRET_ACCESS_KEY, S3_BUCKET })) {
  if (!value) {
    console.error(`s3-bucket: ${name} is not set`);
    process.exit(2);
  }
}

const s3 = new S3Client({
  endpoint: S3_ENDPOINT,
  region: S3_REGION,
  forcePathStyle: true,
  credentials: { accessKeyId: S3_ACCESS_KEY_ID, secretAccessKey: S3_SECRET_ACCESS_KEY },
});

try {
  await s3.send(new HeadBucketCommand({ Bucket: S3_BUCKET }));
  console.log(`bucket ${S3_BUCKET} exists`);
} catch (err) {
  if (err?.$metadata?.httpStatusCode !== 404) {
    console.error(`s3-bucket: HeadBucket ${S3_BUCKET} at ${S3_ENDPOINT} failed: ${err?.name}: ${err?.message}`);
    process.exit(1);
  }
  await s3.send(new CreateBucketCommand({ Bucket: S3_BUCKET }));
  console.log(`bucket ${S3_BUCKET} created`);
}
