import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { permanent, transient } from '../../errors.ts';
import type { SourceStore } from '../../ports/source-store.ts';

export interface S3StoreOptions {
  bucket: string;
  region: string;
  endpoint?: string | undefined;
  forcePathStyle: boolean;
}

function isNotFound(error: unknown): boolean {
  const name = (error as { name?: string }).name;
  return name === 'NoSuchKey' || name === 'NotFound' || name === 'NoSuchBucket';
}

/** Throttling and 5xx from S3 are worth a retry; anything else about the request is not. */
function classify(error: unknown, key: string): Error {
  if (isNotFound(error)) return permanent('SourceNotFound', `No object "${key}" in the store`);
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  if (status === 403 || status === 401) return transient('StoreAccessDenied', `The store refused access to "${key}" (${status}); check the credentials`, error);
  return transient('StoreUnavailable', `The store failed on "${key}": ${(error as Error).message}`, error);
}

/** AWS S3, or an S3-compatible server (MinIO) through an endpoint and path-style addressing. */
export class S3Store implements SourceStore {
  readonly location: string;
  private readonly client: S3Client;
  private readonly bucket: string;

  constructor(options: S3StoreOptions, client?: S3Client) {
    this.bucket = options.bucket;
    this.location = `s3://${options.bucket}`;
    this.client = client ?? new S3Client({ region: options.region, endpoint: options.endpoint, forcePathStyle: options.forcePathStyle });
  }

  async get(key: string, options: { maxBytes: number; bucket?: string | undefined }): Promise<Buffer> {
    const bucket = options.bucket ?? this.bucket;
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      if ((response.ContentLength ?? 0) > options.maxBytes) {
        response.Body?.transformToWebStream().cancel();
        throw permanent('SourceTooLarge', `Object "${key}" is ${response.ContentLength} bytes; the limit is ${options.maxBytes}`, [], 413);
      }
      const bytes = await response.Body?.transformToByteArray();
      return Buffer.from(bytes ?? []);
    } catch (error) {
      if ((error as { category?: string }).category) throw error;
      throw classify(error, key);
    }
  }

  async put(key: string, body: Buffer, options?: { contentType?: string }): Promise<void> {
    try {
      await this.client.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: options?.contentType ?? 'application/octet-stream' }));
    } catch (error) {
      throw classify(error, key);
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw classify(error, key);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
    } catch (error) {
      throw classify(error, key);
    }
  }

  url(key: string): string {
    return `s3://${this.bucket}/${key}`;
  }
}
