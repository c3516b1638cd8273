import { randomUUID } from 'node:crypto';
import { Command, InvalidArgumentError, Option } from 'commander';
import { CloudEvent, HTTP } from 'cloudevents';
import { createStore } from '../adapters/store/create-store.ts';
import { loadConfig, platformUrl, ConfigError } from '../config/load.ts';
import type { Config } from '../config/schema.ts';
import type { EventEnvelope } from '../events/envelope.ts';
import { buildStartData, identifier } from '../events/payloads.ts';
import { EventKind, eventType } from '../events/types.ts';
import { functionName } from '../naming.ts';
import { runtimeNames } from '../runtimes/registry.ts';
import { sha256Hex } from '../source/load.ts';
import { sourceKey } from '../source/keys.ts';
import { describeIssues } from '../validation.ts';
import { newCorrelationId, PlatformClient, PlatformUnreachableError } from './platform-client.ts';
import { packageSource } from './package-source.ts';
import { describeEntry } from './progress.ts';

const CLI_SOURCE = '/knative-lambda/cli';
const REASON_COLUMN_CHARS = 80;

function parseEnvPair(value: string, previous: Record<string, string> = {}): Record<string, string> {
  const index = value.indexOf('=');
  if (index <= 0) throw new InvalidArgumentError(`expected KEY=VALUE, got "${value}"`);
  return { ...previous, [value.slice(0, index)]: value.slice(index + 1) };
}

/** `NAME=secret/key`: the variable NAME takes the value of key `key` of the tenant's secret `secret`. */
function parseSecretEnvPair(value: string, previous: Record<string, { secret: string; key: string }> = {}): Record<string, { secret: string; key: string }> {
  const match = /^([^=]+)=([^/]+)\/(.+)$/.exec(value);
  if (!match) throw new InvalidArgumentError(`expected NAME=SECRET/KEY, got "${value}"`);
  const [, name = '', secret = '', key = ''] = match;
  return { ...previous, [name]: { secret, key } };
}

function parseId(value: string): string {
  const result = identifier.safeParse(value);
  if (!result.success) throw new InvalidArgumentError(result.error.issues.map((i) => i.message).join('; '));
  return value;
}

function positiveInt(value: string): number {
  const number = Number(value);
  if (!Number.isInteger(number) || number < 0) throw new InvalidArgumentError('expected a whole number');
  return number;
}

function commandEvent(config: Config, kind: typeof EventKind.BuildStart | typeof EventKind.ServiceDelete, subject: string, data: Record<string, unknown>, correlationId: string): EventEnvelope {
  return {
    id: randomUUID(),
    type: eventType(config.KL_EVENT_TYPE_PREFIX, kind),
    source: CLI_SOURCE,
    subject,
    time: new Date().toISOString(),
    datacontenttype: 'application/json',
    data,
    correlationid: correlationId,
  };
}

/** Columns padded to their widest cell. */
function printTable(rows: string[][]): void {
  const widths = (rows[0] ?? []).map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  for (const row of rows) process.stdout.write(`${row.map((cell, i) => cell.padEnd(widths[i] ?? 0)).join('  ').trimEnd()}\n`);
}

/** The first line of a refusal, short enough for a table. */
function summary(reason: string): string {
  const line = reason.split('\n')[0] ?? '';
  return line.length > REASON_COLUMN_CHARS ? `${line.slice(0, REASON_COLUMN_CHARS - 1)}…` : line;
}

/** Prints the progress of one correlation id; resolves true on success. */
async function followUntilDone(config: Config, client: PlatformClient, correlationId: string, waitSeconds: number): Promise<boolean> {
  const started = Date.now();
  for await (const entry of client.follow(correlationId, started + waitSeconds * 1000)) {
    const { line, detail, verdict } = describeEntry(config.KL_EVENT_TYPE_PREFIX, entry);
    process.stdout.write(`[${((Date.now() - started) / 1000).toFixed(1).padStart(5)}s] ${line}\n`);
    if (detail) process.stdout.write(`${detail.split('\n').map((l) => `    | ${l}`).join('\n')}\n`);
    if (verdict.done) return verdict.ok;
  }
  process.stderr.write(`Gave up waiting after ${waitSeconds}s; the platform may still finish. Follow it with \`klambda list\`.\n`);
  return false;
}

export function createProgram(config: Config): Command {
  const client = new PlatformClient(platformUrl(config), config.KL_API_TOKEN);
  const program = new Command('klambda').description('Deploy and run functions on knative-lambda').showHelpAfterError();
  const tenantOption = () => new Option('--tenant <id>', 'third_party_id of the function').default(config.KL_TENANT).argParser(parseId);

  program
    .command('deploy')
    .description('upload a function (a file or a directory), build it and wait until it is ready')
    .argument('<path>', 'a source file (.js, .ts, .py, .go...), a directory (with a package.json, requirements.txt, pyproject.toml or go.mod), or a .zip/.tar.gz archive')
    .requiredOption('--name <id>', 'function name (its parser_id)', parseId)
    .addOption(tenantOption())
    .option('--runtime <name>', `runtime, when it cannot be detected (${runtimeNames().join(', ')})`)
    .option('--handler <ref>', 'handler: file.function (e.g. index.handler, lambda_function.lambda_handler) or function name (Go: Handle)')
    .option('--env <KEY=VALUE>', 'environment variable for the function (repeatable)', parseEnvPair, {})
    .option('--secret-env <NAME=SECRET/KEY>', "variable read from key KEY of the tenant's secret <tenant>.SECRET (repeatable; see docs/SECURITY.md)", parseSecretEnvPair, {})
    .option('--min-scale <n>', 'instances kept running', positiveInt)
    .option('--max-scale <n>', 'most instances', positiveInt)
    .option('--wait <seconds>', 'how long to wait for the function to be ready', positiveInt, 600)
    .action(async (location: string, options) => {
      const source = await packageSource(location);
      const contentHash = sha256Hex(source.bytes);
      const key = `${sourceKey(config.KL_SOURCE_KEY_TEMPLATE, { thirdPartyId: options.tenant, parserId: options.name, contentHash })}${source.extension}`;
      const scaling = options.minScale !== undefined || options.maxScale !== undefined ? { min_scale: options.minScale, max_scale: options.maxScale } : undefined;
      const data = { third_party_id: options.tenant, parser_id: options.name, content_hash: contentHash, source: { key }, runtime: options.runtime, handler: options.handler, env: options.env, secret_env: options.secretEnv, scaling };
      const checked = buildStartData.safeParse(data);
      if (!checked.success) throw new Error(describeIssues(checked.error.issues).join('\n'));
      const store = await createStore(config);
      await store.put(key, source.bytes);
      process.stdout.write(`uploaded ${source.bytes.length} bytes to ${store.location}/${key}\n`);
      const correlationId = newCorrelationId();
      await client.send(commandEvent(config, EventKind.BuildStart, options.name, data, correlationId));
      const ok = await followUntilDone(config, client, correlationId, options.wait);
      if (ok) process.stdout.write(`${client.functionUrl(functionName({ thirdPartyId: options.tenant, parserId: options.name }))}\n`);
      process.exitCode = ok ? 0 : 1;
    });

  program
    .command('invoke')
    .description('call a function over HTTP, or send it a CloudEvent')
    .argument('<name>', 'function name given at deploy')
    .addOption(tenantOption())
    .option('--data <json>', 'request body (JSON)')
    .option('--cloudevent <type>', 'send the data as a CloudEvent of this type (binary mode)')
    .option('--query <string>', 'query string, e.g. name=Ada')
    .action(async (name: string, options) => {
      const fn = functionName({ thirdPartyId: options.tenant, parserId: name });
      let body: string | undefined;
      let headers: Record<string, string> = {};
      if (options.data !== undefined) {
        try {
          JSON.parse(options.data);
        } catch {
          throw new Error('--data must be JSON');
        }
      }
      if (options.cloudevent) {
        const event = new CloudEvent({ type: options.cloudevent, source: CLI_SOURCE, data: options.data === undefined ? undefined : JSON.parse(options.data) });
        const message = HTTP.binary(event);
        headers = message.headers as Record<string, string>;
        body = message.body as string;
      } else if (options.data !== undefined) {
        headers = { 'content-type': 'application/json' };
        body = options.data;
      }
      const response = await client.invoke(fn, options.query ?? '', { method: body === undefined ? 'GET' : 'POST', headers, body });
      const text = await response.text();
      process.stderr.write(`${response.status} ${response.statusText}\n`);
      process.stdout.write(`${text}\n`);
      process.exitCode = response.ok ? 0 : 1;
    });

  program
    .command('list')
    .description('list deployed functions')
    .option('--json', 'print JSON')
    .action(async (options) => {
      const functions = await client.functions();
      if (options.json) return void process.stdout.write(`${JSON.stringify(functions, null, 2)}\n`);
      if (functions.length === 0) return void process.stdout.write('no functions deployed\n');
      printTable([['NAME', 'TENANT', 'FUNCTION', 'STATUS', 'INSTANCES', 'URL'], ...functions.map((f) => [f.parser_id, f.third_party_id, f.name, f.phase, f.running ? '1' : '0', f.url])]);
    });

  program
    .command('dead-letters')
    .description('list the events the platform refused or could not deliver, oldest first')
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (options) => {
      const deadLetters = await client.deadLetters();
      if (options.output === 'json') return void process.stdout.write(`${JSON.stringify(deadLetters, null, 2)}\n`);
      if (deadLetters.length === 0) return void process.stdout.write('no dead letters\n');
      printTable([['ID', 'TIME', 'TYPE', 'EVENT', 'STATUS', 'REASON'], ...deadLetters.map((d) => [String(d.seq), d.time, d.event.type, d.event.id, String(d.status), summary(d.reason)])]);
    });

  program
    .command('replay')
    .description('publish dead letters again; each leaves the list once the broker has accepted it')
    .argument('[id]', 'a dead letter, by the ID `klambda dead-letters` lists', positiveInt)
    .option('--all', 'every dead letter')
    .action(async (id: number | undefined, options) => {
      if ((id === undefined) === !options.all) throw new Error('give either a dead letter ID or --all');
      const { replayed, failed } = await client.replay(id ?? 'all');
      if (replayed.length + failed.length === 0) process.stdout.write('no dead letters to replay\n');
      for (const r of replayed) process.stdout.write(`replayed dead letter ${r.dead_letter} as event ${r.seq}\n`);
      for (const f of failed) process.stderr.write(`dead letter ${f.dead_letter} not replayed: ${f.error}\n`);
      process.exitCode = failed.length > 0 ? 1 : 0;
    });

  program
    .command('logs')
    .description("print a function's logs")
    .argument('<name>', 'function name given at deploy')
    .addOption(tenantOption())
    .option('--lines <n>', 'how many lines', positiveInt, 200)
    .action(async (name: string, options) => {
      process.stdout.write(await client.logs(functionName({ thirdPartyId: options.tenant, parserId: name }), options.lines));
    });

  program
    .command('delete')
    .description('delete a function and its builds')
    .argument('<name>', 'function name given at deploy')
    .addOption(tenantOption())
    .option('--wait <seconds>', 'how long to wait', positiveInt, 60)
    .action(async (name: string, options) => {
      const correlationId = newCorrelationId();
      await client.send(commandEvent(config, EventKind.ServiceDelete, name, { third_party_id: options.tenant, parser_id: name }, correlationId));
      process.exitCode = (await followUntilDone(config, client, correlationId, options.wait)) ? 0 : 1;
    });

  return program;
}

export async function main(argv: string[]): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exitCode = 78;
      return;
    }
    throw error;
  }
  try {
    await createProgram(config).parseAsync(argv);
  } catch (error) {
    process.stderr.write(`klambda: ${error instanceof PlatformUnreachableError ? error.message : (error as Error).message}\n`);
    process.exitCode = 1;
  }
}
