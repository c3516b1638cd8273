import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';

/** Write-then-rename, so a reader never sees half a file and a crash never leaves one. */
export async function writeFileAtomic(file: string, content: string | Buffer): Promise<void> {
  const temporary = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  await fs.writeFile(temporary, content);
  await fs.rename(temporary, file);
}
