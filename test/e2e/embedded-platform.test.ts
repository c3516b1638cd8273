import { randomUUID } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CloudEvent, HTTP } from 'cloudevents';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { functionName } from '../../lib/naming.ts';
import { sha256Hex } from '../../lib/source/load.ts';
import { putSource, startPlatform, type TestPlatform } from '../support/embedded-platform.ts';
import { feed, ofType, publish, waitForEntry } from '../support/platform-events.ts';

const PREFIX = 'network.notifi.lambda';
let platform: TestPlatform;

interface FunctionInfo {
  name: string;
  parser_id: string;
  phase: string;
  url: string;
  running: boolean;
}

const fn = (parserId: string) => functionName({ thirdPartyId: 'local', parserId });

async function buildsOf(functionNameValue: string): Promise<Array<{ name: string; phase: string }>> {
  return platform.api(`/api/builds?function=${functionNameValue}`);
}

beforeAll(async () => {
  platform = await startPlatform({ KL_FUNCTION_IDLE_SECONDS: '2' });
});
afterAll(async () => {
  await platform?.stop();
});

describe('the embedded platform, driven as a user drives it', () => {
  it('deploys the Lambda-style example with its dependency through the CLI', async () => {
    const result = await platform.cli('deploy', 'examples/lambda-hello', '--name', 'hello', '--env', 'GREETING=hi');
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/building build-hello-/);
    expect(result.stdout).toContain('build complete');
    expect(result.stdout).toContain(`ready at ${platform.url}/functions/${fn('hello')}`);
  }, 120_000);

  it('deploys the faas-js-runtime TypeScript example through the CLI', async () => {
    const result = await platform.cli('deploy', 'examples/faas-greet', '--name', 'greet');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`ready at ${platform.url}/functions/${fn('greet')}`);
  }, 120_000);

  it('invokes both over HTTP', async () => {
    const hello = await fetch(`${platform.url}/functions/${fn('hello')}?name=Ada`);
    expect(hello.status).toBe(200);
    expect(await hello.json()).toMatchObject({ message: 'Hello, Ada!', via: 'http GET', function: fn('hello') });

    const greet = await fetch(`${platform.url}/functions/${fn('greet')}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ name: 'Grace' }) });
    expect(greet.status).toBe(200);
    expect(await greet.json()).toEqual({ greeting: 'Greetings, Grace', method: 'POST' });
  });

  it('invokes both as CloudEvents, in binary and structured mode', async () => {
    const binary = HTTP.binary(new CloudEvent({ type: 'com.example.hello', source: 'tests', data: { name: 'Event' } }));
    const hello = await fetch(`${platform.url}/functions/${fn('hello')}`, { method: 'POST', headers: binary.headers as Record<string, string>, body: binary.body as string });
    expect(await hello.json()).toMatchObject({ message: 'Hello, Event!', via: 'cloudevent com.example.hello' });

    const id = randomUUID();
    const structured = HTTP.structured(new CloudEvent({ id, type: 'com.example.greet', source: 'tests', data: { name: 'Structured' } }));
    const greet = await fetch(`${platform.url}/functions/${fn('greet')}`, { method: 'POST', headers: structured.headers as Record<string, string>, body: structured.body as string });
    expect(await greet.json()).toEqual({ greeting: 'Greetings, Structured', replyTo: id });
  });

  it('serves the functions\' liveness and readiness endpoints through the router', async () => {
    for (const probe of ['liveness', 'readiness']) {
      const response = await fetch(`${platform.url}/functions/${fn('hello')}/health/${probe}`);
      expect(response.status).toBe(200);
      expect(await response.text()).toBe('OK');
    }
  });

  it('invokes through the CLI, over HTTP and as a CloudEvent', async () => {
    const http = await platform.cli('invoke', 'greet', '--data', '{"name":"Cli"}');
    expect(http.status).toBe(0);
    expect(JSON.parse(http.stdout)).toEqual({ greeting: 'Greetings, Cli', method: 'POST' });
    const event = await platform.cli('invoke', 'hello', '--cloudevent', 'com.example.cli', '--data', '{"name":"CliEvent"}');
    expect(JSON.parse(event.stdout)).toMatchObject({ message: 'Hello, CliEvent!' });
  });

  it('lists the functions and shows their logs', async () => {
    const list = await platform.cli('list');
    expect(list.stdout).toMatch(/^NAME\s+TENANT\s+FUNCTION\s+STATUS/m);
    expect(list.stdout).toMatch(new RegExp(`hello\\s+local\\s+${fn('hello')}\\s+Ready`));
    expect(list.stdout).toMatch(new RegExp(`greet\\s+local\\s+${fn('greet')}\\s+Ready`));
    const logs = await platform.cli('logs', 'hello');
    expect(logs.status).toBe(0);
    expect(logs.stdout).toContain('starting revision');
  });

  it('does not build unchanged source again', async () => {
    const result = await platform.cli('deploy', 'examples/lambda-hello', '--name', 'hello', '--env', 'GREETING=hi');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain(`ready at ${platform.url}/functions/${fn('hello')}`);
    expect(result.stdout).not.toContain('building');
    expect(await buildsOf(fn('hello'))).toHaveLength(1);
  });

  it('redeploys unchanged source with new configuration without building', async () => {
    const result = await platform.cli('deploy', 'examples/lambda-hello', '--name', 'hello', '--env', 'GREETING=changed');
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('source unchanged: reusing the existing build');
    expect(result.stdout).toContain('ready at');
    expect(await buildsOf(fn('hello'))).toHaveLength(1);
  }, 60_000);

  it('absorbs a duplicate build.start: one build, one deployment', async () => {
    const source = Buffer.from('export const handler = async () => ({ statusCode: 200, body: "dup" });\n');
    const hash = sha256Hex(source);
    const key = `sources/local/dup/${hash}.mjs`;
    await putSource(platform.dataDir, key, source);
    const correlationId = `dup-${randomUUID()}`;
    const event = { id: randomUUID(), type: `${PREFIX}.build.start`, source: 'tests', correlationid: correlationId, traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01', data: { third_party_id: 'local', parser_id: 'dup', content_hash: hash, source: { key } } };
    // The same request sent twice by its producer (another id), and one event sent twice (same id), which the broker accepts once.
    const sent = await Promise.all([publish(platform.url, event), publish(platform.url, { ...event, id: randomUUID() }), publish(platform.url, event)]);
    expect(sent.map((response) => response.status)).toEqual([202, 202, 202]);
    const ready = await waitForEntry(platform.url, ofType(`${PREFIX}.service.ready`), { correlationId });
    expect(ready.event.traceparent).toBe(event.traceparent);

    const requested = (await feed(platform.url, correlationId)).filter((e) => e.event.type === `${PREFIX}.build.start`);
    expect(requested).toHaveLength(2);
    const started = (await feed(platform.url, correlationId)).filter((e) => e.event.type === `${PREFIX}.build.started`);
    expect(started).toHaveLength(2);
    expect(started.map((e) => e.event.data.duplicate).sort()).toEqual([false, true]);
    expect(await buildsOf(fn('dup'))).toHaveLength(1);

    const again = await publish(platform.url, { ...event, id: randomUUID() });
    expect(again.status).toBe(202);
    await sleep(1000);
    const all = await feed(platform.url, correlationId);
    expect(all.filter((e) => e.event.type === `${PREFIX}.build.complete`)).toHaveLength(1);
    expect(all.filter((e) => e.event.type === `${PREFIX}.service.ready`)).toHaveLength(2);
    expect(await buildsOf(fn('dup'))).toHaveLength(1);
    expect(await (await fetch(`${platform.url}/functions/${fn('dup')}`)).text()).toBe('dup');
  }, 60_000);

  it('runs a callback-style CommonJS Lambda handler given as one file', async () => {
    const result = await platform.cli('deploy', 'test/fixtures/callback-lambda.cjs', '--name', 'callback');
    expect(result.status).toBe(0);
    const response = await fetch(`${platform.url}/functions/${fn('callback')}`);
    expect(response.status).toBe(201);
    expect(await response.json()).toEqual({ style: 'callback', remaining: true });
  }, 60_000);

  it('stops an idle function and starts it again on the next request (scale to zero)', async () => {
    const running = async () => (await platform.api<FunctionInfo[]>('/api/functions')).find((f) => f.name === fn('greet'))?.running;
    await expect.poll(running, { timeout: 15_000, interval: 250 }).toBe(false);
    const response = await fetch(`${platform.url}/functions/${fn('greet')}?name=again`);
    expect(await response.json()).toMatchObject({ greeting: 'Greetings, again' });
    expect(await running()).toBe(true);
  }, 30_000);

  it('restarts a function that crashes', async () => {
    expect((await platform.cli('deploy', 'test/fixtures/crashy.mjs', '--name', 'crashy')).status).toBe(0);
    const url = `${platform.url}/functions/${fn('crashy')}`;
    const before = (await (await fetch(`${url}?crash=yes`)).json()) as { pid: number };
    await sleep(300);
    const after = (await (await fetch(url)).json()) as { pid: number };
    expect(after.pid).not.toBe(before.pid);
    expect(await platform.cli('logs', 'crashy').then((r) => r.stdout)).toContain('process ended unexpectedly (exit status 3)');
  }, 60_000);

  it('reports a build failure with its cause and log tail', async () => {
    const result = await platform.cli('deploy', 'test/fixtures/wrong-handler.mjs', '--name', 'broken');
    expect(result.status).toBe(1);
    expect(result.stdout).toContain('build failed (BuildFailed)');
    expect(result.stdout).toContain('exports no function "handle" (faas-js-runtime style) or "handler" (AWS Lambda style); it exports: notTheHandler');
    expect(result.stdout).toContain('| build failed:');
  }, 60_000);

  it('deletes a function: it is gone from the list, the router and the disk', async () => {
    const result = await platform.cli('delete', 'hello');
    expect(result.status).toBe(0);
    expect(result.stdout).toMatch(/deleted fn-local-hello-\w+ and 1 build/);
    const names = (await platform.api<FunctionInfo[]>('/api/functions')).map((f) => f.name);
    expect(names).not.toContain(fn('hello'));
    expect((await fetch(`${platform.url}/functions/${fn('hello')}`)).status).toBe(404);
    expect(await buildsOf(fn('hello'))).toHaveLength(0);
    await expect(fs.stat(path.join(platform.dataDir, 'functions', fn('hello')))).rejects.toThrow();
    const again = await platform.cli('delete', 'hello');
    expect(again.status).toBe(0);
    expect(again.stdout).toContain('did not exist');
  }, 60_000);
});
