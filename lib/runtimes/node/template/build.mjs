// Build step of a Node.js function, run from the build context root: on the host by the
// embedded platform, and by `RUN` in the image build. Installs the function's
// dependencies, compiles TypeScript, and checks that the handler exists.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = process.cwd();
const functionDir = path.join(root, 'function');
const manifest = JSON.parse(readFileSync(path.join(root, 'runtime', 'function.json'), 'utf8'));

function fail(message) {
  console.error(`build failed: ${message}`);
  process.exit(1);
}

function readPackageJson() {
  const file = path.join(functionDir, 'package.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    fail(`package.json is not valid JSON: ${error.message}`);
  }
}

function installDependencies(pkg) {
  const deps = Object.keys(pkg?.dependencies ?? {});
  if (deps.length === 0) {
    console.log('no dependencies to install');
    return;
  }
  const hasLock = existsSync(path.join(functionDir, 'package-lock.json')) || existsSync(path.join(functionDir, 'npm-shrinkwrap.json'));
  const args = hasLock
    ? ['ci', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund']
    : ['install', '--ignore-scripts', '--omit=dev', '--no-audit', '--no-fund', '--no-package-lock'];
  console.log(`installing ${deps.length} dependencies: npm ${args.join(' ')}`);
  const result = spawnSync('npm', args, { cwd: functionDir, stdio: 'inherit' });
  if (result.error) fail(`npm could not run: ${result.error.message}`);
  if (result.status !== 0) fail(`npm ${args[0]} exited with status ${result.status}`);
}

const CANDIDATES = ['index.js', 'index.mjs', 'index.cjs', 'index.ts', 'index.mts', 'index.cts'];

function entryFile(pkg) {
  const fromHandler = manifest.handlerFile;
  if (fromHandler) {
    const match = ['', '.js', '.mjs', '.cjs', '.ts', '.mts', '.cts'].map((ext) => fromHandler + ext).find((f) => existsSync(path.join(functionDir, f)));
    if (!match) fail(`handler file "${fromHandler}" not found (tried .js, .mjs, .cjs, .ts, .mts, .cts)`);
    return match;
  }
  if (typeof pkg?.main === 'string') {
    if (!existsSync(path.join(functionDir, pkg.main))) fail(`package.json "main" names ${pkg.main}, which does not exist`);
    return pkg.main;
  }
  const found = CANDIDATES.find((f) => existsSync(path.join(functionDir, f)));
  if (!found) fail(`no entry file: set "main" in package.json or add one of ${CANDIDATES.join(', ')}`);
  return found;
}

async function compileTypeScript(entry) {
  if (!/\.[mc]?ts$/.test(entry)) return entry;
  const { build } = await import('esbuild');
  const outfile = path.join('.knative-lambda', 'entry.mjs');
  mkdirSync(path.join(functionDir, '.knative-lambda'), { recursive: true });
  console.log(`compiling ${entry} with esbuild`);
  try {
    await build({
      absWorkingDir: functionDir,
      entryPoints: [entry],
      outfile: path.join(functionDir, outfile),
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      target: 'node24',
      sourcemap: 'inline',
      logLevel: 'error',
    });
  } catch (error) {
    fail(`TypeScript compilation failed: ${error.message}`);
  }
  return outfile;
}

function resolveHandler(mod, entry) {
  const names = Object.keys(mod).filter((k) => k !== 'default');
  const candidates = manifest.exportName ? [manifest.exportName] : ['handle', 'handler'];
  for (const name of candidates) {
    const value = mod[name] ?? mod.default?.[name];
    if (typeof value === 'function') return { exportName: name, style: name === 'handle' ? 'faas' : 'lambda' };
  }
  if (!manifest.exportName && typeof mod.default === 'function') return { exportName: 'default', style: 'faas' };
  const wanted = manifest.exportName ? `"${manifest.exportName}"` : '"handle" (faas-js-runtime style) or "handler" (AWS Lambda style)';
  fail(`${entry} exports no function ${wanted}; it exports: ${names.join(', ') || '(nothing)'}`);
}

const pkg = readPackageJson();
installDependencies(pkg);
const entry = entryFile(pkg);
const runnable = await compileTypeScript(entry);
let mod;
try {
  mod = await import(pathToFileURL(path.join(functionDir, runnable)).href);
} catch (error) {
  fail(`loading ${entry} threw: ${error.stack ?? error.message}`);
}
const { exportName, style } = resolveHandler(mod, entry);
writeFileSync(path.join(root, 'runtime', 'build.json'), JSON.stringify({ entry: runnable, exportName, style }, null, 2));
console.log(`handler: ${entry} export "${exportName}" (${style === 'faas' ? 'faas-js-runtime' : 'AWS Lambda'} style)`);
process.exit(0);
