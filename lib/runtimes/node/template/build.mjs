// Build step of a Node.js function, run from the build context root: on the host by the
// embedded platform, and by `RUN` in the image build. Installs the function's
// dependencies, type-checks and compiles TypeScript, and checks that the handler exists.
// A failure ends with one `build failed: <cause>` line: the platform reports that line.
//
// `--dependencies` only installs the dependencies, with only the function's package.json
// (and lockfile) there: the Dockerfile runs it in a layer of its own, before the code is
// copied, and the full step then finds them installed from the same manifests.
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = process.cwd();
const functionDir = path.join(root, 'function');
const generatedDir = path.join(functionDir, '.knative-lambda');
const TYPESCRIPT = /\.[mc]?ts$/;
const JAVASCRIPT = /\.[mc]?js$/;
/** Left by `--dependencies`: what it installed, and from which manifests. */
const installedFile = path.join(root, 'runtime', 'dependencies.json');
const DEPENDENCIES_ONLY = process.argv.includes('--dependencies');
// Read lazily: the dependencies step runs before the context's manifest is copied.
let manifest;

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

const QUIET = ['--no-audit', '--no-fund'];
const hasLock = existsSync(path.join(functionDir, 'package-lock.json')) || existsSync(path.join(functionDir, 'npm-shrinkwrap.json'));
const withoutLock = hasLock ? [] : ['--no-package-lock'];

/** Runs npm in the function's folder; on failure names the first line of npm's error that says why. */
function npm(args) {
  console.log(`npm ${args.join(' ')}`);
  const result = spawnSync('npm', args, { cwd: functionDir, encoding: 'utf8' });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  if (result.error) fail(`npm could not run: ${result.error.message}`);
  if (result.status === 0) return;
  const cause = (result.stderr ?? '')
    .split('\n')
    .filter((line) => /^npm (error|ERR!)/.test(line))
    .map((line) => line.replace(/^npm (error|ERR!)\s*/, '').trim())
    .find((line) => line && !/^code\b/.test(line) && !line.startsWith('A complete log'));
  fail(`npm ${args[0]} failed: ${cause ?? `exit status ${result.status}`}`);
}

/** What npm installs from: the files the Dockerfile copies before the dependencies step (lib/runtimes/node/index.ts). */
const MANIFESTS = ['package.json', 'package-lock.json', 'npm-shrinkwrap.json', '.npmrc'];

/** Identifies the manifests the dependencies were installed from. */
function manifestsDigest() {
  const hash = createHash('sha256');
  for (const file of MANIFESTS) {
    const full = path.join(functionDir, file);
    hash.update(`${file}\0${existsSync(full) ? readFileSync(full, 'utf8') : ''}\0`);
  }
  return hash.digest('hex');
}

/** What the dependencies step installed from these same manifests, if it ran. */
function installedBefore() {
  if (!existsSync(installedFile)) return undefined;
  const installed = JSON.parse(readFileSync(installedFile, 'utf8'));
  return installed.manifests === manifestsDigest() ? installed : undefined;
}

/**
 * Installs the dependencies, install scripts off. TypeScript needs the devDependencies too
 * (type declarations): those are pruned once compiled. Returns whether there is anything to prune.
 */
function installDependencies(pkg, withDev) {
  const production = Object.keys(pkg?.dependencies ?? {}).length;
  const development = withDev ? Object.keys(pkg?.devDependencies ?? {}).length : 0;
  if (production + development === 0) {
    console.log('no dependencies to install');
    return false;
  }
  const omit = withDev ? [] : ['--omit=dev'];
  console.log(`installing ${production + development} dependencies`);
  npm(hasLock ? ['ci', '--ignore-scripts', ...omit, ...QUIET] : ['install', '--ignore-scripts', ...omit, ...QUIET, ...withoutLock]);
  return development > 0;
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

/** Source files of the function, relative to its folder, without installed or generated ones. */
function sourceFiles(pattern, dir = '') {
  return readdirSync(path.join(functionDir, dir), { withFileTypes: true }).flatMap((entry) => {
    const relative = path.join(dir, entry.name);
    if (entry.isDirectory()) return entry.name === 'node_modules' || entry.name.startsWith('.') ? [] : sourceFiles(pattern, relative);
    return pattern.test(entry.name) ? [relative] : [];
  });
}

/**
 * esbuild only strips types: tsc checks them. The function's own tsconfig.json is honoured;
 * without one, strict defaults with the Node.js types the wrapper brings.
 */
function typeCheck() {
  const tsc = path.join(path.dirname(fileURLToPath(import.meta.resolve('typescript/package.json'))), 'bin', 'tsc');
  let project = path.join(functionDir, 'tsconfig.json');
  if (!existsSync(project)) {
    project = path.join(generatedDir, 'tsconfig.json');
    const typeRoots = path.relative(generatedDir, path.join(root, 'runtime', 'node_modules', '@types'));
    const compilerOptions = { strict: true, target: 'es2024', module: 'nodenext', moduleResolution: 'nodenext', allowImportingTsExtensions: true, skipLibCheck: true, types: ['node'], typeRoots: [typeRoots] };
    writeFileSync(project, JSON.stringify({ compilerOptions, include: ['../**/*.ts', '../**/*.mts', '../**/*.cts'], exclude: ['../node_modules'] }, null, 2));
  }
  console.log(`type-checking with tsc -p ${path.relative(functionDir, project)}`);
  const result = spawnSync(process.execPath, [tsc, '-p', project, '--noEmit', '--pretty', 'false'], { cwd: functionDir, encoding: 'utf8' });
  process.stdout.write(result.stdout ?? '');
  process.stderr.write(result.stderr ?? '');
  if (result.error) fail(`tsc could not run: ${result.error.message}`);
  if (result.status === 0) return;
  const errors = (result.stdout ?? '').split('\n').filter((line) => / error TS\d+:/.test(line));
  const [first] = errors;
  if (!first) fail(`tsc exited with status ${result.status}`);
  // tsc prints `file(line,column): error TSxxxx: message`.
  const located = first.replace(/^(.+?)\((\d+),(\d+)\): /, '$1:$2:$3: ');
  fail(`type error at ${located}${errors.length > 1 ? ` (and ${errors.length - 1} more)` : ''}`);
}

async function compileTypeScript(entry) {
  if (!TYPESCRIPT.test(entry)) return entry;
  mkdirSync(generatedDir, { recursive: true });
  typeCheck();
  const { build } = await import('esbuild');
  const outfile = path.join('.knative-lambda', 'entry.mjs');
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

/** ES module syntax errors carry no location: `node --check` on each source file finds it. */
function locateSyntaxError() {
  for (const file of sourceFiles(JAVASCRIPT)) {
    const check = spawnSync(process.execPath, ['--check', file], { cwd: functionDir, encoding: 'utf8' });
    if (check.status === 0) continue;
    const [where = file] = check.stderr.split('\n');
    return path.relative(functionDir, path.resolve(functionDir, where));
  }
  return undefined;
}

/** Why loading the entry failed, in the words a developer acts on. */
function loadFailure(error, entry) {
  const missing = /^Cannot find package '([^']+)'/.exec(error.message);
  if (error.code === 'ERR_MODULE_NOT_FOUND' && missing) {
    return `${entry} imports "${missing[1]}", which is not installed: add it to "dependencies" in package.json`;
  }
  if (error.name === 'SyntaxError') {
    const where = locateSyntaxError();
    return `syntax error${where ? ` at ${where}` : ` in ${entry}`}: ${error.message}`;
  }
  return `loading ${entry} threw: ${error.stack ?? error.message}`;
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
if (DEPENDENCIES_ONLY) {
  // Whether the entry is TypeScript shows only with the code: the devDependencies come too, and are pruned after compiling.
  const withDev = installDependencies(pkg, true);
  writeFileSync(installedFile, JSON.stringify({ manifests: manifestsDigest(), withDev }, null, 2));
  process.exit(0);
}
manifest = JSON.parse(readFileSync(path.join(root, 'runtime', 'function.json'), 'utf8'));
const entry = entryFile(pkg);
const installed = installedBefore();
if (installed) console.log('dependencies installed by the dependencies step');
const installedDev = installed ? installed.withDev : installDependencies(pkg, TYPESCRIPT.test(entry));
const runnable = await compileTypeScript(entry);
if (installedDev) npm(['prune', '--omit=dev', ...QUIET, ...withoutLock]);
let mod;
try {
  mod = await import(pathToFileURL(path.join(functionDir, runnable)).href);
} catch (error) {
  fail(loadFailure(error, entry));
}
const { exportName, style } = resolveHandler(mod, entry);
writeFileSync(path.join(root, 'runtime', 'build.json'), JSON.stringify({ entry: runnable, exportName, style }, null, 2));
console.log(`handler: ${entry} export "${exportName}" (${style === 'faas' ? 'faas-js-runtime' : 'AWS Lambda'} style)`);
process.exit(0);
