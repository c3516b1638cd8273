import { randomUUID } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, BUILD_STAGE, buildLog, clearBuilds, layers, push, type ImageLayer } from './support/buildah.ts';
import { compressedSize, finalBase, imageConfig, inLocalRegistry, resolveUser, startContainer, treeBytes, unpack, type Container, type ImageConfig } from './support/containers.ts';
import { generateContext } from './support/contexts.ts';
import { printFigures, type Figure } from './support/figures.ts';
import { REPO_ROOT, requireImageEnv, type ImageEnv } from './support/image-env.ts';

/**
 * Every example, in every language, built into a real image from the context the builder
 * makes (buildah, the generated Dockerfile as it is), pushed to the local registry, unpacked
 * from it and run with runc as the image's user; invoked over HTTP and as a binary CloudEvent.
 * One example per language is then changed by one line and built again: the layer holding
 * its dependencies is the same layer, taken from the cache.
 */
const REPOSITORY = 'kl-image-test';
/** A bound on one build on a busy 2-core machine, not a measurement. */
const BUILD_MS = 900_000;

interface Example {
  name: string;
  location: string;
  /** The file the one-line change goes into, and how a line comment starts in it. */
  changed: { file: string; comment: string };
  /** What `?name=Ada` answers. */
  http: Record<string, unknown>;
  /** What a binary CloudEvent of type com.example.<name> with data {name: 'Event'} answers. */
  event: (type: string, id: string) => Record<string, unknown>;
  /** The build step that installs the dependencies from the manifests alone (buildah's history of it), for the examples rebuilt after a change. */
  dependencyStep?: string;
}

const examples: Example[] = [
  {
    name: 'node-lambda',
    location: 'examples/lambda-hello',
    changed: { file: 'index.js', comment: '//' },
    http: { message: 'Hello, Ada!', via: 'http GET', function: 'node-lambda' },
    event: (type) => ({ message: 'Hello, Event!', via: `cloudevent ${type}` }),
    dependencyStep: 'node runtime/build.mjs --dependencies',
  },
  {
    name: 'node-faas-ts',
    location: 'examples/faas-greet',
    changed: { file: 'index.ts', comment: '//' },
    http: { greeting: 'Greetings, Ada', method: 'GET' },
    event: (_type, id) => ({ greeting: 'Greetings, Event', replyTo: id }),
  },
  {
    name: 'python-lambda',
    location: 'examples/python-lambda',
    changed: { file: 'lambda_function.py', comment: '#' },
    http: { message: 'Hello, Ada!', via: 'http GET', function: 'python-lambda' },
    event: (type) => ({ message: 'Hello, Event!', via: `cloudevent ${type}`, function: 'python-lambda' }),
    dependencyStep: 'python runtime/build.py --dependencies',
  },
  {
    name: 'python-handle',
    location: 'examples/python-handle',
    changed: { file: 'main.py', comment: '#' },
    http: { greeting: 'Greetings, Ada', slug: 'ada' },
    event: () => ({ greeting: 'Greetings, Event', slug: 'event' }),
  },
  {
    name: 'go-hello',
    location: 'examples/go-hello',
    changed: { file: 'hello.go', comment: '//' },
    http: { message: 'Hello, Ada!' },
    event: () => ({ message: 'Hello, Event!' }),
    dependencyStep: 'cd function && go mod download',
  },
];

let env: ImageEnv;
let work: string;
const figures: Figure[] = [];

beforeAll(async () => {
  env = await requireImageEnv();
  await fs.mkdir(path.join(env.stateDir, 'logs'), { recursive: true });
  work = await fs.mkdtemp(path.join(env.stateDir, 'functions-'));
});

afterAll(async () => {
  printFigures('Function images (measured by test/image/functions.test.ts):', figures);
  if (env) await clearBuilds(env);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

const tagOf = (name: string, version: string) => `${env.registry}/${REPOSITORY}/${name}:${version}`;

/** Builds the build stage (named, to read its layers) and then the image; returns the seconds of both. */
async function buildBoth(name: string, version: string, contextDir: string): Promise<number> {
  const log = buildLog(env, name);
  const stage = await build(env, contextDir, tagOf(`${name}-${BUILD_STAGE}`, version), { target: BUILD_STAGE }, log);
  const image = await build(env, contextDir, tagOf(name, version), {}, log);
  return stage.seconds + image.seconds;
}

describe.each(examples)('the $name image', (example) => {
  const ref = () => tagOf(example.name, 'v1');
  let rootfs: string;
  let config: ImageConfig;
  let container: Container | undefined;
  const figure: Figure = { image: example.name, coldSeconds: 0, compressedBytes: 0, baseBytes: 0, unpackedBytes: 0 };

  afterAll(async () => {
    await container?.stop();
    if (rootfs) await fs.rm(rootfs, { recursive: true, force: true });
  });

  it(
    'builds from the context the builder makes, every step anew',
    async () => {
      const context = await generateContext(env, path.join(REPO_ROOT, example.location), path.join(work, example.name, 'v1'));
      // Nothing from earlier builds, this example's or another's: every step runs (the base image is there).
      await clearBuilds(env);
      await fs.rm(buildLog(env, example.name), { force: true });
      figure.coldSeconds = await buildBoth(example.name, 'v1', context.dir);
      await push(env, ref(), buildLog(env, example.name));
      figure.compressedBytes = await compressedSize(env, ref());
      figure.baseBytes = await compressedSize(env, inLocalRegistry(env, await finalBase(path.join(context.dir, 'Dockerfile'))));
      figures.push(figure);
    },
    BUILD_MS,
  );

  it('runs from the registry as the image\'s own non-root user', async () => {
    rootfs = path.join(work, example.name, 'rootfs');
    await unpack(env, ref(), rootfs);
    figure.unpackedBytes = await treeBytes(rootfs);
    config = await imageConfig(env, ref());
    const user = await resolveUser(rootfs, config.User);
    expect(user.uid, `USER ${config.User}`).not.toBe(0);
    container = await startContainer(env, { name: example.name, rootfs, config, env: { K_SERVICE: example.name } });
    expect(container.uid).toBe(user.uid);
    const uids = await container.processUids();
    expect(uids.length).toBeGreaterThan(0);
    expect(uids.every((uid) => uid === user.uid), `uids of the container's processes: ${uids.join(', ')}`).toBe(true);
  });

  it('answers plain HTTP', async () => {
    const answer = await container!.request('GET', '/?name=Ada');
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject(example.http);
  });

  it('answers a binary CloudEvent', async () => {
    const id = randomUUID();
    const type = `com.example.${example.name}`;
    const message = HTTP.binary(new CloudEvent({ id, type, source: 'image-tests', data: { name: 'Event' } }));
    const answer = await container!.request('POST', '/', message.headers as Record<string, string>, message.body as string);
    expect(answer.status, answer.body).toBe(200);
    expect(JSON.parse(answer.body)).toMatchObject(example.event(type, id));
  });

  it('serves its health endpoints', async () => {
    for (const probe of ['liveness', 'readiness']) {
      const answer = await container!.request('GET', `/health/${probe}`);
      expect(answer.status, probe).toBe(200);
      expect(answer.body).toBe('OK');
    }
  });

  it('holds nothing of the build\'s CA settings', async () => {
    // They were mounted for RUN steps only: the host's bundle and npm's settings naming it.
    const hostBundle = await fs.readFile(env.buildVolumes[0]?.split(':')[0] ?? '', 'utf8');
    const imageBundle = path.join(rootfs, 'etc/ssl/certs/ca-certificates.crt');
    if (existsSync(imageBundle)) expect((await fs.readFile(imageBundle, 'utf8')) === hostBundle).toBe(false);
    expect(existsSync(path.join(rootfs, 'root/.npmrc'))).toBe(false);
  });

  if (example.dependencyStep) {
    const dependencyStep = example.dependencyStep;
    it(
      'is built again after a one-line change with its dependency layer taken from the cache',
      async () => {
        const source = path.join(work, example.name, 'changed-source');
        await fs.cp(path.join(REPO_ROOT, example.location), source, { recursive: true });
        await fs.appendFile(path.join(source, example.changed.file), `${example.changed.comment} A one-line change.\n`);
        const context = await generateContext(env, source, path.join(work, example.name, 'v2'));
        figure.changedSeconds = await buildBoth(example.name, 'v2', context.dir);
        console.log(`${example.name}: cold build ${figure.coldSeconds.toFixed(1)} s, after a one-line change ${figure.changedSeconds.toFixed(1)} s (ratio ${(figure.changedSeconds / figure.coldSeconds).toFixed(2)})`);

        const before = await layers(env, tagOf(`${example.name}-${BUILD_STAGE}`, 'v1'));
        const after = await layers(env, tagOf(`${example.name}-${BUILD_STAGE}`, 'v2'));
        const dependencies = before.findIndex((layer: ImageLayer) => layer.createdBy.includes(dependencyStep));
        expect(dependencies, before.map((l) => l.createdBy).join('\n')).toBeGreaterThan(0);
        // Every layer up to the dependencies' is the same layer (the same digest of its contents)...
        expect(after.slice(0, dependencies + 1).map((l) => l.diffId)).toEqual(before.slice(0, dependencies + 1).map((l) => l.diffId));
        // ...and the next one, the function's code, is not: the change is in the new image.
        expect(after[dependencies + 1]?.diffId).not.toBe(before[dependencies + 1]?.diffId);
      },
      BUILD_MS,
    );
  }
});
