import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** The oldest Python the wrapper supports; the images use it too. */
const MIN_PYTHON: readonly [number, number] = [3, 12];
const PATH_CANDIDATES = ['python3.14', 'python3.13', 'python3.12', 'python3'];
const PROBE = 'import sys; print(sys.executable); print(*sys.version_info[:2])';
const PROBE_TIMEOUT_MS = 10_000;

interface Interpreter {
  executable: string;
  version: [number, number];
}

async function probe(command: string): Promise<Interpreter | undefined> {
  try {
    const { stdout } = await run(command, ['-c', PROBE], { timeout: PROBE_TIMEOUT_MS });
    const [executable = '', version = ''] = stdout.trim().split('\n');
    const [major = 0, minor = 0] = version.split(' ').map(Number);
    return { executable, version: [major, minor] };
  } catch {
    return undefined;
  }
}

const recentEnough = ([major, minor]: [number, number]): boolean => major > MIN_PYTHON[0] || (major === MIN_PYTHON[0] && minor >= MIN_PYTHON[1]);

/** pyenv's shims answer only for the selected versions; the others sit in `$(pyenv root)/versions`. */
async function pyenvInterpreters(): Promise<string[]> {
  try {
    const { stdout } = await run('pyenv', ['root'], { timeout: PROBE_TIMEOUT_MS });
    const versions = path.join(stdout.trim(), 'versions');
    const names = (await fs.readdir(versions)).filter((name) => /^\d+\.\d+\.\d+$/.test(name));
    names.sort((a, b) => b.localeCompare(a, 'en', { numeric: true }));
    return names.map((name) => path.join(versions, name, 'bin', 'python3'));
  } catch {
    return [];
  }
}

async function findInterpreter(configured: string | undefined): Promise<string> {
  const wanted = MIN_PYTHON.join('.');
  if (configured !== undefined) {
    const found = await probe(configured);
    if (!found) throw new Error(`KL_PYTHON=${configured} does not run`);
    if (!recentEnough(found.version)) throw new Error(`KL_PYTHON=${configured} is Python ${found.version.join('.')}; Python functions need ${wanted} or newer`);
    return found.executable;
  }
  const seen: string[] = [];
  for (const candidate of [...PATH_CANDIDATES, ...(await pyenvInterpreters())]) {
    const found = await probe(candidate);
    if (!found) continue;
    if (recentEnough(found.version)) return found.executable;
    seen.push(`${candidate} is ${found.version.join('.')}`);
  }
  throw new Error(`no Python ${wanted} or newer on this host (${seen.join(', ') || 'no python3 at all'}): install one or set KL_PYTHON`);
}

const resolved = new Map<string, Promise<string>>();

/** The interpreter host builds use, found once per setting. A failed search is tried again next time. */
export function hostPython(configured: string | undefined): Promise<string> {
  const key = configured ?? '';
  let found = resolved.get(key);
  if (!found) {
    found = findInterpreter(configured);
    found.catch(() => resolved.delete(key));
    resolved.set(key, found);
  }
  return found;
}
