import { promises as fs } from 'node:fs';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { validate } from 'dockerfile-utils';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../support/embedded-platform.ts';

/** The platform's own image (the root Dockerfile); test/image builds and runs it. */
describe('the platform image', () => {
  const read = (file: string) => fs.readFile(path.join(repoRoot, file), 'utf8');

  async function finalStage() {
    const dockerfile = await read('Dockerfile');
    expect(validate(dockerfile)).toEqual([]);
    const parsed = DockerfileParser.parse(dockerfile);
    const lastFrom = parsed.getFROMs().at(-1)?.getRange().start.line ?? 0;
    return parsed.getInstructions().filter((i) => i.getRange().start.line > lastFrom);
  }

  it('runs the function with the Node.js flags of `npm start`', async () => {
    const pkg = JSON.parse(await read('package.json')) as { scripts: { start: string } };
    const startFlags = pkg.scripts.start.split(' ').filter((word) => word.startsWith('--'));
    const cmd = (await finalStage()).find((i) => i.getKeyword() === 'CMD');
    const command = JSON.parse(cmd?.getArgumentsContent() ?? '[]') as string[];
    expect(command[0]).toBe('node');
    expect(command.at(-1)).toBe('function/server.ts');
    expect(command.slice(1, -1)).toEqual(startFlags);
    expect(startFlags.length).toBeGreaterThan(0);
  });

  it('ends as a non-root user, given by number', async () => {
    const users = (await finalStage()).filter((i) => i.getKeyword() === 'USER');
    const user = users.at(-1)?.getArgumentsContent() ?? '';
    expect(user).toMatch(/^\d+:\d+$/);
    expect(user.split(':')[0]).not.toBe('0');
  });
});
