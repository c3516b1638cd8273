import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { SecretRef } from '../../ports/deployer.ts';

/** Kubernetes caps a Secret at 1 MiB; a local secret file is held to the same. */
const MAX_SECRET_BYTES = 1024 * 1024;

async function readSecretKey(dir: string, ref: SecretRef): Promise<string> {
  const file = path.join(dir, ref.name, ref.key);
  const bytes = await fs.readFile(file).catch((error: NodeJS.ErrnoException) => {
    const why = error.code === 'ENOENT' ? 'does not exist' : `cannot be read (${error.code ?? error.message})`;
    throw new Error(`secret "${ref.name}" key "${ref.key}": ${file} ${why}`);
  });
  if (bytes.length > MAX_SECRET_BYTES) throw new Error(`secret "${ref.name}" key "${ref.key}" is larger than ${MAX_SECRET_BYTES} bytes`);
  return bytes.toString('utf8');
}

/**
 * The values of a function's secret references, from `<dir>/<secret name>/<key>` files: the
 * layout of a Kubernetes Secret mounted as a volume. Read when the function starts, never stored.
 */
export async function readSecretEnvironment(dir: string, refs: Record<string, SecretRef> | undefined): Promise<Record<string, string>> {
  const entries = await Promise.all(Object.entries(refs ?? {}).map(async ([name, ref]) => [name, await readSecretKey(dir, ref)] as const));
  return Object.fromEntries(entries);
}
