import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { childEnvironment, resolveCommand } from '../../lib/adapters/local/host-process.ts';

describe('childEnvironment', () => {
  it('passes what a process needs and never the platform credentials or settings', () => {
    const saved = { ...process.env };
    Object.assign(process.env, {
      AWS_SECRET_ACCESS_KEY: 'secret',
      KL_STORE: 's3',
      HOME: '/home/u',
      npm_config_registry: 'https://registry.example',
      PIP_INDEX_URL: 'https://pypi.example/simple',
      GOPROXY: 'https://goproxy.example',
      GOFLAGS: '-ldflags=-X=main.injected=1',
    });
    try {
      const env = childEnvironment({ MY_VAR: '1' });
      expect(env.AWS_SECRET_ACCESS_KEY).toBeUndefined();
      expect(env.KL_STORE).toBeUndefined();
      expect(env.HOME).toBe('/home/u');
      expect(env.npm_config_registry).toBe('https://registry.example');
      expect(env.PIP_INDEX_URL).toBe('https://pypi.example/simple');
      expect(env.GOPROXY).toBe('https://goproxy.example');
      expect(env.GOFLAGS).toBeUndefined();
      expect(env.MY_VAR).toBe('1');
      expect(env.PATH?.split(path.delimiter)[0]).toBe(path.dirname(process.execPath));
    } finally {
      process.env = saved;
    }
  });
});

describe('resolveCommand', () => {
  it('runs `node` as the platform Node.js', () => {
    expect(resolveCommand(['node', 'a.mjs'])).toEqual([process.execPath, ['a.mjs']]);
    expect(resolveCommand(['npm', 'ci'])).toEqual(['npm', ['ci']]);
  });
});
