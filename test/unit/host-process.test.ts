import { spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { childEnvironment, resolveCommand, spawnLogged, waitForExit } from '../../lib/adapters/local/host-process.ts';
import { ProcessRegistry } from '../../lib/adapters/local/process-registry.ts';
import { repoRoot } from '../support/embedded-platform.ts';

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

describe('spawnLogged', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await fs.mkdtemp(path.join(os.tmpdir(), 'supervised-'));
  });
  afterEach(async () => {
    await fs.rm(dir, { recursive: true, force: true });
  });

  const alive = (pid: number): boolean => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };

  it('keeps the exit status and output of the command', async () => {
    const logFile = path.join(dir, 'out.log');
    const child = spawnLogged(['node', '-e', 'console.log("hello"); process.exit(3)'], { cwd: dir, env: childEnvironment(), logFile, logMaxBytes: 1024 * 1024, registry: new ProcessRegistry(path.join(dir, 'processes')) });
    expect(await waitForExit(child)).toEqual({ code: 3, signal: null });
    await expect.poll(() => fs.readFile(logFile, 'utf8')).toBe('hello\n');
  });

  it('rotates the log by size, keeping one previous file', async () => {
    const logFile = path.join(dir, 'chatty.log');
    const child = spawnLogged(['node', '-e', 'for (let i = 0; i < 2000; i++) console.log("x".repeat(99))'], { cwd: dir, env: childEnvironment(), logFile, logMaxBytes: 64 * 1024, registry: new ProcessRegistry(path.join(dir, 'processes')) });
    await waitForExit(child);
    await expect.poll(async () => (await fs.readdir(dir)).filter((f) => f.startsWith('chatty')).sort()).toEqual(['chatty.log', 'chatty.log.1']);
    for (const file of ['chatty.log', 'chatty.log.1']) expect((await fs.stat(path.join(dir, file))).size).toBeLessThanOrEqual(64 * 1024 + 64 * 1024);
  });

  it('records what runs, and the next start ends a recorded group left running, only if it still carries its mark', async () => {
    const records = path.join(dir, 'processes');
    const registry = new ProcessRegistry(records);
    const child = spawnLogged(['sleep', '60'], { cwd: dir, env: childEnvironment(), logFile: path.join(dir, 'sleep.log'), logMaxBytes: 1024 * 1024, registry });
    await expect.poll(() => fs.readdir(records)).toEqual([String(child.pid)]);
    // A pid reused by a process that is not ours: recorded, but without our mark in its environment.
    await registry.record(process.pid, 'a-mark-this-process-lacks');
    expect(await new ProcessRegistry(records).endLeftovers()).toEqual([child.pid]);
    expect(await waitForExit(child)).toEqual({ code: null, signal: 'SIGKILL' });
    expect(await fs.readdir(records)).toEqual([]);
  });

  it('forgets a process once it has ended', async () => {
    const records = path.join(dir, 'processes');
    const child = spawnLogged(['true'], { cwd: dir, env: childEnvironment(), logFile: path.join(dir, 'true.log'), logMaxBytes: 1024 * 1024, registry: new ProcessRegistry(records) });
    await waitForExit(child);
    await expect.poll(() => fs.readdir(records).catch(() => [])).toEqual([]);
  });

  it('ends what it started, children included, when the process that started it is killed with SIGKILL', async () => {
    // A stand-in platform: starts a command that starts a grandchild, prints both pids, then waits.
    const script = `
      import { spawnLogged } from ${JSON.stringify(path.join(repoRoot, 'lib/adapters/local/host-process.ts'))};
      import { ProcessRegistry } from ${JSON.stringify(path.join(repoRoot, 'lib/adapters/local/process-registry.ts'))};
      const child = spawnLogged(['sh', '-c', 'sleep 120 & echo $!; wait'], { cwd: ${JSON.stringify(dir)}, env: { PATH: process.env.PATH }, logFile: ${JSON.stringify(path.join(dir, 'child.log'))}, logMaxBytes: 1024 * 1024, registry: new ProcessRegistry(${JSON.stringify(path.join(dir, 'processes'))}) });
      console.log(child.pid);
      setInterval(() => {}, 1000);
    `;
    const platform = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const childPid = Number(await new Promise<string>((resolve) => platform.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
    const childLog = path.join(dir, 'child.log');
    await expect.poll(() => fs.readFile(childLog, 'utf8').catch(() => ''), { timeout: 5000 }).toMatch(/^\d+\n$/);
    const grandchildPid = Number(await fs.readFile(childLog, 'utf8'));
    expect(alive(childPid) && alive(grandchildPid)).toBe(true);
    platform.kill('SIGKILL');
    await expect.poll(() => alive(childPid) || alive(grandchildPid), { timeout: 5000, interval: 100 }).toBe(false);
  });
});
