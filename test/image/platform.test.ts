import { promises as fs } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build, buildLog, clearBuilds, push } from './support/buildah.ts';
import { compressedSize, finalBase, imageConfig, inLocalRegistry, resolveUser, startContainer, treeBytes, unpack, type Container } from './support/containers.ts';
import { printFigures, type Figure } from './support/figures.ts';
import { REPO_ROOT, requireImageEnv, type ImageEnv } from './support/image-env.ts';

/**
 * The platform's own image, from the root Dockerfile and the repository as its context
 * (.dockerignore applies), built, pushed, unpacked and run with runc in the builder role,
 * with no cluster around it: the builder then runs on the embedded backend, as it does
 * anywhere KUBERNETES_SERVICE_HOST is not set.
 */
const NAME = 'platform';
/** A bound on one build on a busy 2-core machine, not a measurement. */
const BUILD_MS = 900_000;
/** `npm start`'s Node.js flags, which the image's command must carry too. */
const START_FLAGS = ['--max-semi-space-size=2'];

let env: ImageEnv;
let work: string;
let container: Container | undefined;
const figure: Figure = { image: NAME, coldSeconds: 0, compressedBytes: 0, baseBytes: 0, unpackedBytes: 0 };
const ref = () => `${env.registry}/kl-image-test/${NAME}:v1`;

beforeAll(async () => {
  env = await requireImageEnv();
  await fs.mkdir(path.join(env.stateDir, 'logs'), { recursive: true });
  work = await fs.mkdtemp(path.join(env.stateDir, 'platform-'));
});

afterAll(async () => {
  await container?.stop();
  if (figure.coldSeconds > 0) printFigures('Platform image (measured by test/image/platform.test.ts):', [figure]);
  if (env) await clearBuilds(env);
  if (work) await fs.rm(work, { recursive: true, force: true });
});

describe('the platform image', () => {
  it(
    'builds from the root Dockerfile, every step anew',
    async () => {
      await clearBuilds(env);
      await fs.rm(buildLog(env, NAME), { force: true });
      const built = await build(env, REPO_ROOT, ref(), {}, buildLog(env, NAME));
      figure.coldSeconds = built.seconds;
      await push(env, ref(), buildLog(env, NAME));
      figure.compressedBytes = await compressedSize(env, ref());
      figure.baseBytes = await compressedSize(env, inLocalRegistry(env, await finalBase(path.join(REPO_ROOT, 'Dockerfile'))));
    },
    BUILD_MS,
  );

  it('runs in the builder role as its non-root user, with the Node.js flags of `npm start`', async () => {
    const rootfs = path.join(work, 'rootfs');
    await unpack(env, ref(), rootfs);
    figure.unpackedBytes = await treeBytes(rootfs);
    const config = await imageConfig(env, ref());
    const user = await resolveUser(rootfs, config.User);
    expect(user.uid, `USER ${config.User}`).not.toBe(0);
    container = await startContainer(env, { name: NAME, rootfs, config, env: { KL_ROLE: 'builder', K_SERVICE: 'knative-lambda-builder' } });
    const uids = await container.processUids();
    expect(uids.length).toBeGreaterThan(0);
    expect(uids.every((uid) => uid === user.uid), `uids of the container's processes: ${uids.join(', ')}`).toBe(true);
    const command = await container.commandLine();
    expect(command.at(-1)).toBe('function/server.ts');
    expect(command).toEqual(expect.arrayContaining(START_FLAGS));
  });

  it('is ready and alive', async () => {
    for (const probe of ['readiness', 'liveness']) {
      const answer = await container!.request('GET', `/health/${probe}`);
      expect(answer.status, `${probe}: ${answer.body}`).toBe(200);
    }
  });

  it('refuses malformed events with a 4xx, which the broker does not retry', async () => {
    const base = { 'content-type': 'application/json', 'ce-specversion': '1.0', 'ce-source': 'image-tests', 'ce-type': 'network.notifi.lambda.build.start' };
    const malformed: Array<[string, Record<string, string>, string]> = [
      ['a binary event without an id', base, '{}'],
      ['a body that is not JSON', { ...base, 'ce-id': 'not-json' }, '{"third_party_id":'],
      ['a structured event that is not one', { 'content-type': 'application/cloudevents+json' }, '{"specversion":"1.0"}'],
    ];
    for (const [what, headers, body] of malformed) {
      const answer = await container!.request('POST', '/', headers, body);
      expect(answer.status, `${what}: ${answer.status} ${answer.body}`).toBeGreaterThanOrEqual(400);
      expect(answer.status, `${what}: ${answer.status} ${answer.body}`).toBeLessThan(500);
    }
  });
});
