import path from 'node:path';
import type { Config } from '../../config/schema.ts';
import { s3ForcePathStyle } from '../../config/load.ts';
import type { SourceStore } from '../../ports/source-store.ts';
import { FilesystemStore } from './filesystem-store.ts';

/** The configured store. The S3 SDK is loaded only when S3 is used: it is heavy and slows a cold start. */
export async function createStore(config: Config): Promise<SourceStore> {
  if (config.KL_STORE === 'filesystem') return new FilesystemStore(path.join(config.KL_DATA_DIR, 'store'), config.KL_STORE_BUCKET);
  const { S3Store } = await import('./s3-store.ts');
  return new S3Store({ bucket: config.KL_STORE_BUCKET, region: config.KL_S3_REGION, endpoint: config.KL_S3_ENDPOINT, forcePathStyle: s3ForcePathStyle(config) });
}
