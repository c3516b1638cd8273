import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { LoadedSource } from '../source/load.ts';
import type { ContextFile } from './runtime.ts';

export async function fileExists(file: string): Promise<boolean> {
  return fs.access(file).then(
    () => true,
    () => false,
  );
}

/** Names of the entries at the root of a source that end with `extension`. */
export async function rootFilesEnding(source: LoadedSource, extension: string): Promise<string[]> {
  const entries = await fs.readdir(source.root, { withFileTypes: true });
  return entries.filter((e) => e.isFile() && e.name.endsWith(extension)).map((e) => e.name);
}

/**
 * `file.export` or `export`, as Node.js and Python name a function: the file (or module)
 * before the last dot, the function after it. Without a file, a single-file source names its own.
 */
export function splitHandler(source: LoadedSource, handler: string | undefined): { handlerFile?: string; exportName?: string } {
  const ownFile = source.singleFile?.replace(/\.[^.]+$/, '');
  const withFile = (file: string | undefined) => (file === undefined ? {} : { handlerFile: file });
  if (handler === undefined) return withFile(ownFile);
  const dot = handler.lastIndexOf('.');
  if (dot < 0) return { ...withFile(ownFile), exportName: handler };
  return { handlerFile: handler.slice(0, dot), exportName: handler.slice(dot + 1) };
}

/** A runtime's wrapper files, read from its template folder, as they go under `runtime/` in the context. */
export function templateFiles(templateDir: string, names: readonly string[]): Promise<ContextFile[]> {
  return Promise.all(names.map(async (name) => ({ path: `runtime/${name}`, content: await fs.readFile(path.join(templateDir, name)) })));
}
