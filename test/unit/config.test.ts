import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { configurationMarkdown } from '../../lib/config/docs.ts';
import { ConfigError, loadConfig, platformUrl, s3ForcePathStyle } from '../../lib/config/load.ts';
import { configSchema } from '../../lib/config/schema.ts';

describe('loadConfig', () => {
  it('works with nothing set', () => {
    const config = loadConfig({});
    expect(config.KL_EVENT_TYPE_PREFIX).toBe('network.notifi.lambda');
    expect(config.KL_STORE).toBe('filesystem');
    expect(config.KL_DATA_DIR).toMatch(/knative-lambda$/);
    expect(platformUrl(config)).toBe('http://127.0.0.1:8080');
    expect(s3ForcePathStyle(config)).toBe(false);
  });

  it('coerces and resolves values', () => {
    const config = loadConfig({ KL_PLATFORM_PORT: '9090', KL_S3_ENDPOINT: 'http://127.0.0.1:9000', KL_DATA_DIR: 'relative/dir', KL_S3_FORCE_PATH_STYLE: 'no' });
    expect(config.KL_PLATFORM_PORT).toBe(9090);
    expect(config.KL_DATA_DIR.startsWith('/')).toBe(true);
    expect(s3ForcePathStyle(config)).toBe(false);
    expect(s3ForcePathStyle(loadConfig({ KL_S3_ENDPOINT: 'http://127.0.0.1:9000' }))).toBe(true);
  });

  it('lists every bad variable in one error', () => {
    let error: unknown;
    try {
      loadConfig({ KL_PLATFORM_PORT: 'eighty', KL_STORE: 'ftp', KL_SOURCE_KEY_TEMPLATE: 'sources/{parser_id}', KL_EVENT_TYPE_PREFIX: 'Bad Prefix' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const { problems, message } = error as ConfigError;
    expect(problems).toHaveLength(4);
    expect(message).toContain('KL_PLATFORM_PORT="eighty"');
    expect(message).toContain('KL_STORE="ftp"');
    expect(message).toContain('{third_party_id}');
    expect(message).toContain('KL_EVENT_TYPE_PREFIX');
  });

  it('parses build pod annotations as a JSON object of strings', () => {
    expect(loadConfig({ KL_BUILD_POD_ANNOTATIONS: '{"a":"b"}' }).KL_BUILD_POD_ANNOTATIONS).toEqual({ a: 'b' });
    expect(() => loadConfig({ KL_BUILD_POD_ANNOTATIONS: '{"a":1}' })).toThrow('JSON object of string values');
    expect(() => loadConfig({ KL_BUILD_POD_ANNOTATIONS: 'not json' })).toThrow('KL_BUILD_POD_ANNOTATIONS');
  });

  it('never repeats the value of a secret setting in its error', () => {
    expect(() => loadConfig({ KL_API_TOKEN: 'short-secret' })).toThrow('KL_API_TOKEN="[redacted]"');
    expect(() => loadConfig({ KL_API_TOKEN: 'short-secret' })).not.toThrow('short-secret');
  });

  it('refuses key layouts that escape or use unknown placeholders', () => {
    expect(() => loadConfig({ KL_SOURCE_KEY_TEMPLATE: '../{third_party_id}/{parser_id}' })).toThrow('".."');
    expect(() => loadConfig({ KL_SOURCE_KEY_TEMPLATE: '{third_party_id}/{parser_id}/{nope}' })).toThrow('known placeholders');
  });

  it('stops an entry point with status 78 and the message', async () => {
    const { spawnSync } = await import('node:child_process');
    const result = spawnSync(process.execPath, ['lib/platform/main.ts'], { env: { ...process.env, KL_PLATFORM_PORT: '-1', KL_STORE: 'ftp' }, encoding: 'utf8' });
    expect(result.status).toBe(78);
    expect(result.stderr).toContain('Invalid configuration');
    expect(result.stderr).toContain('KL_PLATFORM_PORT');
    expect(result.stderr).toContain('KL_STORE');
  });
});

describe('docs/CONFIGURATION.md', () => {
  it('is generated from the schema and up to date (npm run docs:config)', async () => {
    const file = await readFile(new URL('../../docs/CONFIGURATION.md', import.meta.url), 'utf8');
    expect(file).toBe(configurationMarkdown());
    for (const key of Object.keys(configSchema.shape)) expect(file).toContain(`\`${key}\``);
  });
});
