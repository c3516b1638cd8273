/**
 * The init container of a BuildKit build pod, run from the platform's own image:
 *
 *   node lib/adapters/kubernetes/fetch-build-context.ts s3://<bucket>/<key> <directory>
 *
 * fetches the build context from the store (the KL_STORE, KL_S3_* and AWS_* variables, the
 * credentials from their Secret) and unpacks it into <directory>, where BuildKit reads it.
 * It runs before any tenant code in the pod; the BuildKit container never holds the store
 * credentials. A failure ends the container with the message, which becomes its
 * termination message and the build's failure.
 */
import { mkdir } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { x as extract } from 'tar';
import { loadConfigOrExit } from '../../config/load.ts';
import { createStore } from '../store/create-store.ts';

const STORE_URL = /^s3:\/\/([^/]+)\/(.+)$/;
/**
 * The context is the gzip of a source within KL_MAX_UNPACKED_BYTES plus a few generated
 * files; the bound only keeps a wrong object from filling this container's memory.
 */
const CONTEXT_BOUND_FACTOR = 2;

async function fetchContext(url: string, destination: string): Promise<void> {
  const location = STORE_URL.exec(url);
  if (!location) throw new Error(`${JSON.stringify(url)} is not an s3://<bucket>/<key> URL`);
  const [, bucket = '', key = ''] = location;
  const config = loadConfigOrExit();
  const store = await createStore(config);
  const archive = await store.get(key, { bucket, maxBytes: CONTEXT_BOUND_FACTOR * config.KL_MAX_UNPACKED_BYTES });
  await mkdir(destination, { recursive: true });
  // tar refuses absolute paths, `..` and writing through links; strict turns its warnings into failures.
  await pipeline(Readable.from([archive]), extract({ cwd: destination, strict: true }));
}

const [url, destination] = process.argv.slice(2);
if (!url || !destination) {
  process.stderr.write('usage: fetch-build-context.ts s3://<bucket>/<key> <directory>\n');
  process.exit(2);
}
try {
  await fetchContext(url, destination);
} catch (error) {
  process.stderr.write(`could not fetch the build context ${url}: ${(error as Error).message}\n`);
  process.exit(1);
}
