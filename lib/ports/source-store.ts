/** Where function sources and build contexts live: a local directory or an S3 bucket. */
export interface SourceStore {
  /** Human-readable location for logs and errors, e.g. `s3://bucket` or a directory. */
  readonly location: string;
  /** Reads an object. Missing → permanent `SourceNotFound`; larger than maxBytes → permanent `SourceTooLarge`. */
  get(key: string, options: { maxBytes: number; bucket?: string | undefined }): Promise<Buffer>;
  put(key: string, body: Buffer, options?: { contentType?: string }): Promise<void>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  /** URL a remote builder reads the object from (`s3://bucket/key`, `file:///...`). */
  url(key: string): string;
}
