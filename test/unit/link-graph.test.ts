import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PlatformError } from '../../lib/errors.ts';
import { MAX_LINK_HOPS, planTree, type TreeEntry, type TreePlan } from '../../lib/source/link-graph.ts';

const dir = (path: string): TreeEntry => ({ path, kind: 'directory' });
const file = (path: string): TreeEntry => ({ path, kind: 'file' });
const symlink = (path: string, linkTarget: string): TreeEntry => ({ path, kind: 'symlink', linkTarget });
const hardlink = (path: string, linkTarget: string): TreeEntry => ({ path, kind: 'hardlink', linkTarget });

function refusal(entries: TreeEntry[]): PlatformError {
  try {
    planTree(entries);
  } catch (error) {
    expect(error).toBeInstanceOf(PlatformError);
    expect((error as PlatformError).statusCode).toBe(422);
    return error as PlatformError;
  }
  throw new Error('planTree accepted the tree');
}

function landing(plan: TreePlan, link: string): { path: string; resolves: boolean } {
  const found = plan.links.get(link);
  expect(found).toBeDefined();
  return { path: found?.path ?? '', resolves: found?.resolves ?? false };
}

/** The attack that defeated the textual check: every hop looks inside, the chain climbs out. */
function escapingChain(length: number): TreeEntry[] {
  const links = Array.from({ length }, (_, i) => symlink(`a/l${i}`, i === 0 ? '..' : `l${i - 1}/..`));
  return [dir('a'), ...links, symlink('package.json', `a/l${length - 1}/etc/passwd`)];
}

describe('planTree: links judged against the tree', () => {
  it('keeps links that land inside, through other links', () => {
    const plan = planTree([dir('pkg'), file('pkg/package.json'), symlink('pkg/alias.json', 'package.json'), symlink('top', 'pkg'), symlink('via', 'top/alias.json')]);
    expect(landing(plan, 'pkg/alias.json')).toEqual({ path: 'pkg/package.json', resolves: true });
    expect(landing(plan, 'via')).toEqual({ path: 'pkg/package.json', resolves: true });
    expect(plan.links.get('via')?.hops).toBe(3);
  });

  it('refuses the chain a/l0 -> .., a/l1 -> l0/.., ... whose hops each look inside', () => {
    const failure = refusal(escapingChain(8));
    expect(failure.reason).toBe('LinkEscapes');
    expect(failure.message).toContain('outside the archive');
  });

  it.each([
    ['a link that climbs out', [symlink('lib/a', '../../x')]],
    ['an absolute link', [symlink('a', '/etc/passwd')]],
    ['a link to the parent of the root', [symlink('a', '..')]],
    ['".." after a link into a subdirectory', [dir('d/e'), symlink('down', 'd/e'), symlink('up', 'down/../../..')]],
    ['a link through a link that climbs out', [symlink('out', '..'), symlink('x', 'out/dest/x')]],
    ['a link leaving and coming back', [dir('a'), symlink('a/l', '../../dest/a')]],
  ])('refuses %s', (_label, entries) => {
    expect(refusal(entries).reason).toBe('LinkEscapes');
  });

  it('follows ".." from where a link lands, as the kernel does, not from where it is written', () => {
    const plan = planTree([dir('x/y/z'), symlink('deep', 'x/y/z'), symlink('back', 'deep/..')]);
    expect(landing(plan, 'back')).toEqual({ path: 'x/y', resolves: true });
  });

  it.each([
    ['a link to itself', [symlink('a', 'a')]],
    ['two links to each other', [symlink('a', 'b'), symlink('b', 'a')]],
    ['a loop through a directory step', [dir('d'), symlink('d/l', '../m'), symlink('m', 'd/l')]],
    ['a loop behind a dangling step', [symlink('l', 'missing/../l')]],
  ])('refuses %s as a loop', (_label, entries) => {
    expect(refusal(entries).reason).toBe('LinkLoop');
  });

  it(`allows ${MAX_LINK_HOPS} links in one lookup and refuses ${MAX_LINK_HOPS + 1}`, () => {
    const chain = (length: number): TreeEntry[] => [file('f'), ...Array.from({ length }, (_, i) => symlink(`l${i}`, i === 0 ? 'f' : `l${i - 1}`))];
    expect(landing(planTree(chain(MAX_LINK_HOPS)), `l${MAX_LINK_HOPS - 1}`)).toEqual({ path: 'f', resolves: true });
    expect(refusal(chain(MAX_LINK_HOPS + 1)).reason).toBe('LinkLoop');
  });

  it('keeps dangling links that would land inside the root, and says they do not resolve', () => {
    const plan = planTree([file('f'), symlink('later', 'node_modules/.bin/tool'), symlink('notdir', 'f/'), symlink('through-file', 'f/x')]);
    expect(landing(plan, 'later')).toEqual({ path: 'node_modules/.bin/tool', resolves: false });
    expect(landing(plan, 'notdir').resolves).toBe(false);
    expect(landing(plan, 'through-file').resolves).toBe(false);
  });

  it('refuses a dangling link that would escape once a missing directory appears', () => {
    expect(refusal([symlink('x', 'node_modules/../../etc/passwd')]).reason).toBe('LinkEscapes');
  });
});

describe('planTree: the shape of the tree', () => {
  it('lists every directory, implied ones included, parents first', () => {
    const plan = planTree([file('a/b/c.txt'), dir('a'), dir('z')]);
    expect(plan.directories).toEqual(['a', 'a/b', 'z']);
  });

  it.each([
    ['an entry under a symlink', [dir('real'), symlink('dir', 'real'), file('dir/x.txt')], 'UnsafeArchivePath'],
    ['an entry under a symlink declared after it', [file('dir/x.txt'), symlink('dir', 'elsewhere')], 'UnsafeArchivePath'],
    ['an entry under a file', [file('a'), file('a/b')], 'ConflictingEntry'],
    ['the same path twice', [file('a'), symlink('a', 'b')], 'DuplicateEntry'],
    ['a symlink naming the root', [symlink('', 'x')], 'UnsafeArchivePath'],
    ['a hard link to a missing file', [hardlink('h', 'etc/passwd')], 'LinkEscapes'],
    ['a hard link to a symlink', [file('f'), symlink('s', 'f'), hardlink('h', 's')], 'LinkEscapes'],
    ['a hard link to a directory', [dir('d'), hardlink('h', 'd')], 'LinkEscapes'],
    ['a hard link to a hard link', [file('f'), hardlink('g', 'f'), hardlink('h', 'g')], 'LinkEscapes'],
  ] as const)('refuses %s', (_label, entries, reason) => {
    expect(refusal([...entries]).reason).toBe(reason);
  });

  it('accepts a directory declared twice and a hard link to a file', () => {
    const plan = planTree([dir('d'), dir('d'), file('d/f'), hardlink('h', 'd/f')]);
    expect(plan.directories).toEqual(['d']);
  });
});

describe('planTree: properties', () => {
  const name = fc.constantFrom('a', 'b', 'c');
  const entryPath = fc.array(name, { minLength: 1, maxLength: 3 }).map((names) => names.join('/'));
  const target = fc.array(fc.constantFrom('a', 'b', 'c', '..', '.'), { minLength: 1, maxLength: 5 }).map((steps) => steps.join('/'));
  const entry: fc.Arbitrary<TreeEntry> = fc.oneof(entryPath.map(dir), entryPath.map(file), fc.tuple(entryPath, target).map(([p, t]) => symlink(p, t)), fc.tuple(entryPath, entryPath).map(([p, t]) => hardlink(p, t)));
  const trees = fc.uniqueArray(entry, { minLength: 1, maxLength: 10, selector: (e) => e.path });

  const outcome = (entries: TreeEntry[]): 'refused' | Array<[string, string, boolean]> => {
    try {
      const plan = planTree(entries);
      return [...plan.links].map(([link, to]): [string, string, boolean] => [link, to.path, to.resolves]).sort(([a], [b]) => a.localeCompare(b));
    } catch (error) {
      expect(error).toBeInstanceOf(PlatformError);
      expect((error as PlatformError).statusCode).toBe(422);
      return 'refused';
    }
  };

  it('decides the same whatever the order of the entries, and only ever refuses with a 422', () => {
    fc.assert(
      fc.property(trees, fc.func(fc.integer()), (entries, order) => {
        const shuffled = entries.map((e, i) => ({ e, key: order(i) })).sort((x, y) => x.key - y.key).map(({ e }) => e);
        expect(outcome(shuffled)).toEqual(outcome(entries));
      }),
      { numRuns: 500 },
    );
  });

  it('lands every kept link on a path of plain names', () => {
    fc.assert(
      fc.property(trees, (entries) => {
        const result = outcome(entries);
        if (result === 'refused') return;
        for (const [, to] of result) expect(to.split('/').filter((step) => ['..', '.'].includes(step))).toEqual([]);
      }),
      { numRuns: 500 },
    );
  });
});
