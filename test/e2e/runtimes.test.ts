import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { packageSource } from '../../lib/cli/package-source.ts';
import { functionName } from '../../lib/naming.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { publish, waitForEntry, type FeedEntry } from '../support/platform-events.ts';

/**
 * Every example, in every language, built on this host with the real python3/pip and go
 * toolchains (dependencies from the real registries), deployed, and invoked over HTTP and
 * as CloudEvents in both content modes. Then builds that fail on purpose.
 */
const PREFIX = 'network.notifi.lambda';
const BUILD_MS = 240_000;
let platform: TestPlatform;
let scratch: string;

const fn = (parserId: string) => functionName({ thirdPartyId: 'local', parserId });
const url = (parserId: string, query = '') => `${platform.url}/functions/${fn(parserId)}${query}`;

interface Example {
  name: string;
  location: string;
  /** What `?name=Ada` answers. */
  http: Record<string, unknown>;
  /** What a CloudEvent of type com.example.<name> with data {name: 'Event'} answers. */
  event: (type: string, id: string) => Record<string, unknown>;
}

const examples: Example[] = [
  {
    name: 'node-lambda',
    location: 'examples/lambda-hello',
    http: { message: 'Hello, Ada!', via: 'http GET', function: fn('node-lambda') },
    event: (type) => ({ message: 'Hello, Event!', via: `cloudevent ${type}` }),
  },
  {
    name: 'node-faas-ts',
    location: 'examples/faas-greet',
    http: { greeting: 'Greetings, Ada', method: 'GET' },
    event: (_type, id) => ({ greeting: 'Greetings, Event', replyTo: id }),
  },
  {
    name: 'python-lambda',
    location: 'examples/python-lambda',
    http: { message: 'Hello, Ada!', via: 'http GET', function: fn('python-lambda') },
    event: (type) => ({ message: 'Hello, Event!', via: `cloudevent ${type}`, function: fn('python-lambda') }),
  },
  {
    name: 'python-handle',
    location: 'examples/python-handle',
    http: { greeting: 'Greetings, Ada', slug: 'ada' },
    event: () => ({ greeting: 'Greetings, Event', slug: 'event' }),
  },
  {
    name: 'go-hello',
    location: 'examples/go-hello',
    http: { message: 'Hello, Ada!' },
    event: () => ({ message: 'Hello, Event!' }),
  },
];

async function failureOf(correlationId: string): Promise<FeedEntry['event']> {
  const end = await waitForEntry(platform.url, (entries) => entries.find((e) => e.event.type === `${PREFIX}.build.failed` || e.event.type === `${PREFIX}.build.complete`), { correlationId, timeoutMs: BUILD_MS });
  if (end.event.type !== `${PREFIX}.build.failed`) throw new Error(`the build was meant to fail: ${JSON.stringify(end.event)}`);
  return end.event;
}

/** Uploads files (a directory, packed as the CLI packs it) and sends build.start, as a producer does. */
async function buildStart(parserId: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<string> {
  const dir = path.join(scratch, parserId);
  for (const [name, content] of Object.entries(files)) {
    await fs.mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await fs.writeFile(path.join(dir, name), content);
  }
  const packed = await packageSource(dir);
  const hash = sha256Hex(packed.bytes);
  const key = `sources/local/${parserId}/${hash}${packed.extension}`;
  await putSource(platform.dataDir, key, packed.bytes);
  const correlationid = `${parserId}-${randomUUID()}`;
  const response = await publish(platform.url, {
    type: `${PREFIX}.build.start`,
    correlationid,
    data: { third_party_id: 'local', parser_id: parserId, content_hash: hash, source: { key }, ...extra },
  });
  expect(response.status).toBe(202);
  return correlationid;
}

async function buildFailure(parserId: string, files: Record<string, string>, extra: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
  const failed = await failureOf(await buildStart(parserId, files, extra));
  expect(failed.data).toMatchObject({ reason: 'BuildFailed', error_category: 'permanent' });
  const message = String(failed.data.message);
  // The cause travels with the last lines of the build log, which end with it.
  expect(String(failed.data.log_tail)).toContain(`build failed: ${message}`);
  return failed.data;
}

beforeAll(async () => {
  scratch = await fs.mkdtemp(path.join(os.tmpdir(), 'kl-runtimes-'));
  platform = await startPlatform({ KL_FUNCTION_IDLE_SECONDS: '600', KL_FUNCTION_LOG_LEVEL: 'info' });
});
afterAll(async () => {
  await platform?.stop();
  await fs.rm(scratch, { recursive: true, force: true });
});

describe('every example, deployed with the CLI and invoked', () => {
  it(
    'builds and deploys each one',
    async () => {
      const results = await Promise.all(examples.map((example) => platform.cli('deploy', example.location, '--name', example.name)));
      results.forEach((result, index) => {
        expect(result.status, `${examples[index]?.name}: ${result.stdout}${result.stderr}`).toBe(0);
        expect(result.stdout).toContain(`ready at ${url(examples[index]?.name ?? '')}`);
      });
    },
    BUILD_MS * 2,
  );

  it.each(examples)('$name answers plain HTTP', async (example) => {
    const response = await fetch(url(example.name, '?name=Ada'));
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject(example.http);
  });

  it.each(examples)('$name answers a binary CloudEvent', async (example) => {
    const id = randomUUID();
    const type = `com.example.${example.name}`;
    const message = HTTP.binary(new CloudEvent({ id, type, source: 'tests', data: { name: 'Event' } }));
    const response = await fetch(url(example.name), { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject(example.event(type, id));
  });

  it.each(examples)('$name answers a structured CloudEvent', async (example) => {
    const id = randomUUID();
    const type = `com.example.${example.name}.structured`;
    const message = HTTP.structured(new CloudEvent({ id, type, source: 'tests', data: { name: 'Event' } }));
    const response = await fetch(url(example.name), { method: 'POST', headers: message.headers as Record<string, string>, body: message.body as string });
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject(example.event(type, id));
  });

  it.each(examples)('$name serves its health endpoints', async (example) => {
    for (const probe of ['liveness', 'readiness']) {
      const response = await fetch(url(example.name, `/health/${probe}`));
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('OK');
    }
  });

  it('hands a Python plain handler the JSON body, and refuses an invalid CloudEvent with 400', async () => {
    const body = await fetch(url('python-handle'), { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Grace Hopper' }) });
    expect(await body.json()).toEqual({ greeting: 'Greetings, Grace Hopper', slug: 'grace-hopper' });
    for (const name of ['python-handle', 'go-hello']) {
      const invalid = await fetch(url(name), { method: 'POST', headers: { 'content-type': 'application/cloudevents+json' }, body: '{"specversion":"1.0"}' });
      expect(invalid.status, name).toBe(400);
    }
  });

  it('writes the Python and Go functions\' logs as JSON lines', async () => {
    for (const name of ['python-lambda', 'go-hello']) {
      const logs = await platform.cli('logs', name);
      const json = logs.stdout
        .split('\n')
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
      expect(json.some((entry) => entry.function === fn(name) && (entry.message ?? entry.msg) === 'invoked'), logs.stdout).toBe(true);
    }
  });

});

describe('single files', () => {
  const singleFiles = {
    'shout.py': 'import time\n\n\ndef handle(event):\n    time.sleep(int(event.get("delay_ms", 0)) / 1000)\n    return {"shout": event.get("text", "").upper()}\n',
    'double.go':
      'package double\n\nimport (\n\t"context"\n\t"time"\n)\n\ntype In struct {\n\tN     int `json:"n,string"`\n\tDelay int `json:"delay_ms,string"`\n}\n\nfunc Handle(_ context.Context, in In) (map[string]int, error) {\n\ttime.Sleep(time.Duration(in.Delay) * time.Millisecond)\n\treturn map[string]int{"double": 2 * in.N}, nil\n}\n',
  };

  it(
    'deploys a .py and a .go file, each recognised by its extension',
    async () => {
      for (const [name, content] of Object.entries(singleFiles)) await fs.writeFile(path.join(scratch, name), content);
      const [py, go] = await Promise.all([platform.cli('deploy', path.join(scratch, 'shout.py'), '--name', 'shout'), platform.cli('deploy', path.join(scratch, 'double.go'), '--name', 'double')]);
      expect(py.status, py.stdout).toBe(0);
      expect(go.status, go.stdout).toBe(0);
      expect(await (await fetch(url('shout', '?text=hi'))).json()).toEqual({ shout: 'HI' });
      expect(await (await fetch(url('double', '?n=21'))).json()).toEqual({ double: 42 });
    },
    BUILD_MS,
  );

  it('stop gracefully on SIGTERM: a request in flight is answered before the process ends', async () => {
    const inFlight = [fetch(url('shout', '?text=late&delay_ms=1500')), fetch(url('double', '?n=4&delay_ms=1500'))];
    await sleep(500);
    const deleted = await Promise.all([platform.cli('delete', 'shout'), platform.cli('delete', 'double')]);
    expect(deleted.map((d) => d.status)).toEqual([0, 0]);
    const [shout, double] = await Promise.all(inFlight);
    expect(await shout?.json()).toEqual({ shout: 'LATE' });
    expect(await double?.json()).toEqual({ double: 8 });
  });
});

describe('TypeScript with typed dependencies', () => {
  it(
    'type-checks against the devDependencies\' declarations, and runs without them',
    async () => {
      const dir = path.join(scratch, 'typed');
      await fs.mkdir(dir, { recursive: true });
      const pkg = { type: 'module', main: 'index.ts', dependencies: { ms: '2.1.3' }, devDependencies: { '@types/ms': '2.1.0' } };
      await fs.writeFile(path.join(dir, 'package.json'), JSON.stringify(pkg));
      await fs.writeFile(path.join(dir, 'index.ts'), 'import ms from "ms";\n\nexport function handle(): { later: string } {\n  return { later: ms(90_000, { long: true }) };\n}\n');
      const result = await platform.cli('deploy', dir, '--name', 'typed');
      expect(result.status, result.stdout).toBe(0);
      expect(await (await fetch(url('typed'))).json()).toEqual({ later: '2 minutes' });
      const [build] = await platform.api<Array<{ image: string }>>(`/api/builds?function=${fn('typed')}`);
      const installed = path.join(fileURLToPath(build?.image ?? ''), 'function', 'node_modules');
      await expect(fs.stat(path.join(installed, 'ms'))).resolves.toBeTruthy();
      await expect(fs.stat(path.join(installed, '@types', 'ms'))).rejects.toThrow('ENOENT');
    },
    BUILD_MS,
  );
});

describe('builds that fail name their cause', () => {
  it(
    'Node.js: a syntax error, a missing dependency, a wrong handler name, a type error, a dependency that does not exist',
    async () => {
      const pkg = JSON.stringify({ type: 'module' });
      const [syntax, missing, handler, types, unknown] = await Promise.all([
        buildFailure('node-syntax', { 'package.json': pkg, 'index.js': 'export const handler = async () => {\n  return 1;\n}}\n' }),
        buildFailure('node-missing', { 'package.json': pkg, 'index.js': 'import pad from "left-pad";\nexport const handler = () => pad("1", 2);\n' }),
        buildFailure('node-handler', { 'package.json': pkg, 'index.js': 'export const handler = () => 1;\n' }, { handler: 'index.nope' }),
        buildFailure('node-types', { 'package.json': pkg, 'index.ts': 'export function handle(): string {\n  const count: number = "three";\n  return String(count);\n}\n' }),
        buildFailure('node-unknown', { 'package.json': JSON.stringify({ type: 'module', dependencies: { 'knative-lambda-no-such-package': '0.0.1' } }), 'index.js': 'export const handler = () => 1;\n' }),
      ]);
      expect(syntax.message).toBe("syntax error at index.js:3: Unexpected token '}'");
      expect(missing.message).toBe('index.js imports "left-pad", which is not installed: add it to "dependencies" in package.json');
      expect(handler.message).toBe('index.js exports no function "nope"; it exports: handler');
      expect(types.message).toBe("type error at index.ts:2:9: error TS2322: Type 'string' is not assignable to type 'number'.");
      expect(unknown.message).toMatch(/^npm install failed: 404 Not Found - GET \S+knative-lambda-no-such-package/);
    },
    BUILD_MS,
  );

  it(
    'Python: a syntax error, a missing dependency, a wrong handler name',
    async () => {
      const [syntax, missing, handler] = await Promise.all([
        buildFailure('python-syntax', { 'main.py': 'def handle(event)\n    return event\n' }),
        buildFailure('python-missing', { 'main.py': 'import requests\n\n\ndef handle(event):\n    return requests.__version__\n' }),
        buildFailure('python-handler', { 'main.py': 'def greet(event):\n    return event\n' }, { handler: 'main.handle' }),
      ]);
      expect(syntax.message).toBe("syntax error at main.py:1:18: expected ':'");
      expect(missing.message).toBe('main.py imports "requests", which is not installed: add it to requirements.txt (or the dependencies of pyproject.toml)');
      expect(handler.message).toBe('main.py has no function "handle"; it defines: greet');
    },
    BUILD_MS,
  );

  it(
    'Python: a dependency that does not exist',
    async () => {
      const failed = await buildFailure('python-nodist', { 'main.py': 'def handle(event):\n    return event\n', 'requirements.txt': 'knative-lambda-no-such-package==0.0.1\n' });
      expect(failed.message).toBe('pip could not install requirements.txt: ERROR: No matching distribution found for knative-lambda-no-such-package==0.0.1');
    },
    BUILD_MS,
  );

  it(
    'Go: a syntax error, a missing dependency, a wrong handler name, a wrong signature',
    async () => {
      const goMod = 'module example.com/broken\n\ngo 1.26\n';
      const [syntax, missing, handler, signature] = await Promise.all([
        buildFailure('go-syntax', { 'go.mod': goMod, 'fn.go': 'package fn\n\nfunc Handle( {\n}\n' }),
        buildFailure('go-missing', {
          'go.mod': goMod,
          'fn.go': 'package fn\n\nimport (\n\t"context"\n\n\t"github.com/dustin/go-humanize"\n)\n\nfunc Handle(ctx context.Context, n uint64) (string, error) {\n\treturn humanize.Bytes(n), nil\n}\n',
        }),
        buildFailure('go-handler', { 'go.mod': goMod, 'fn.go': 'package fn\n\nimport "context"\n\nfunc Handle(ctx context.Context, n int) (int, error) {\n\treturn n, nil\n}\n' }, { handler: 'Nope' }),
        buildFailure('go-signature', { 'go.mod': goMod, 'fn.go': 'package fn\n\nfunc Handle(n int) int {\n\treturn n\n}\n' }),
      ]);
      expect(syntax.message).toMatch(/^syntax error at function\/fn\.go:3:\d+: /);
      expect(missing.message).toBe('the function imports github.com/dustin/go-humanize, which function/go.mod does not require: add it with go get github.com/dustin/go-humanize');
      expect(handler.message).toBe('the function\'s package has no function "Nope"; it exports: Handle');
      expect(signature.message).toBe('function/fn.go:3: Handle has the wrong signature; a handler is func(ctx context.Context, event E) (R, error)');
    },
    BUILD_MS,
  );
});

describe('a host that cannot build a language', () => {
  it('ends the build with build.failed (ExecutorError) saying what is missing', async () => {
    const missing = path.join(scratch, 'no-such-python');
    const other = await startPlatform({ KL_PYTHON: missing });
    try {
      const result = await other.cli('deploy', 'examples/python-handle', '--name', 'no-python');
      expect(result.status).toBe(1);
      expect(result.stdout).toContain(`✗ build failed (ExecutorError): The build could not run: KL_PYTHON=${missing} does not run`);
    } finally {
      await other.stop();
    }
  }, 60_000);
});
