import { permanent, type PlatformError } from '../errors.ts';

/**
 * A model of the tree an archive describes, and a resolver that follows its symlinks the
 * way the kernel would. Pure: it decides from the entries alone, before anything is written,
 * so no check ever depends on what happens to be on disk.
 */

/** Linux refuses a lookup that follows more than 40 links (ELOOP); the model does the same. */
export const MAX_LINK_HOPS = 40;

export type EntryKind = 'file' | 'directory' | 'symlink' | 'hardlink';

export interface TreeEntry {
  /** Normalised path from the archive root (`a/b/c`); '' is the root itself. */
  path: string;
  kind: EntryKind;
  /** Symlink: the target as written. Hard link: the path, from the root, of the file it copies. */
  linkTarget?: string;
}

export interface LinkLanding {
  /** Where the link leads, from the root ('' is the root). */
  path: string;
  /** Whether the link resolves on disk once the tree is written; false for a dangling link. */
  resolves: boolean;
  /** Links followed to get there, this one included. */
  hops: number;
}

export interface TreePlan {
  /** Every directory to create, explicit or implied by a deeper entry, parents first. */
  directories: string[];
  /** Every symlink of the archive and where it lands. */
  links: Map<string, LinkLanding>;
}

interface TreeNode {
  path: string;
  kind: EntryKind;
  linkTarget?: string;
  children: Map<string, TreeNode>;
}

/** A place reached while walking: the names from the root and the node at each (undefined: not in the tree). */
interface Position {
  names: string[];
  nodes: Array<TreeNode | undefined>;
  resolves: boolean;
  hops: number;
}

function refuse(reason: string, message: string): PlatformError {
  return permanent(reason, message, [], 422);
}

function parentSegments(entryPath: string): string[] {
  return entryPath.split('/').slice(0, -1);
}

/**
 * A trailing slash asks for a directory, as `dir/.` does: kept as a `.` step so a file there
 * does not resolve. A run of `.` steps checks no more than one does, so it becomes one.
 */
function targetSteps(target: string): string[] {
  const steps = `${target}${target.endsWith('/') ? '.' : ''}`.split('/');
  return steps.filter((step, index) => step !== '' && !(step === '.' && steps[index - 1] === '.'));
}

function indexEntries(entries: readonly TreeEntry[]): Map<string, TreeEntry> {
  const byPath = new Map<string, TreeEntry>();
  for (const entry of entries) {
    if (entry.path === '') {
      if (entry.kind !== 'directory') throw refuse('UnsafeArchivePath', `An archive entry of type ${entry.kind} names the archive root itself`);
      continue;
    }
    const earlier = byPath.get(entry.path);
    if (earlier && !(earlier.kind === 'directory' && entry.kind === 'directory')) throw refuse('DuplicateEntry', `Archive entry "${entry.path}" appears twice`);
    byPath.set(entry.path, entry);
  }
  return byPath;
}

function firstChild(node: TreeNode): TreeNode | undefined {
  return node.children.values().next().value;
}

function refuseFilesUsedAsDirectories(nodes: Iterable<TreeNode>): void {
  for (const node of nodes) {
    const child = node.kind === 'file' || node.kind === 'hardlink' ? firstChild(node) : undefined;
    if (child) throw refuse('ConflictingEntry', `Archive entry "${child.path}" lies under "${node.path}", which is a file`);
  }
}

/** Nothing is written or read through a link: a path under a symlink is refused, whatever the link points to. */
function refuseEntriesThroughLinks(nodes: Iterable<TreeNode>): void {
  for (const node of nodes) {
    const child = node.kind === 'symlink' ? firstChild(node) : undefined;
    if (child) throw refuse('UnsafeArchivePath', `The archive puts "${child.path}" under "${node.path}", which is a symlink; nothing is written through a link`);
  }
}

/** A hard link is written as a copy of a regular file of the same archive, never of a link or a directory. */
function refuseBadHardLinks(byPath: Map<string, TreeEntry>): void {
  for (const entry of byPath.values()) {
    if (entry.kind !== 'hardlink') continue;
    const original = byPath.get(entry.linkTarget ?? '');
    if (original?.kind !== 'file') {
      const what = original ? `a ${original.kind}` : 'not an entry of the archive';
      throw refuse('LinkEscapes', `Hard link "${entry.path}" points to "${entry.linkTarget}", which is ${what}; it must name a regular file of the archive`);
    }
  }
}

/** The tree with every implied parent directory; returns its root and its node for each entry. */
function buildTree(byPath: Map<string, TreeEntry>): { root: TreeNode; nodes: Map<string, TreeNode> } {
  const root: TreeNode = { path: '', kind: 'directory', children: new Map() };
  const nodes = new Map<string, TreeNode>();
  for (const entry of byPath.values()) {
    let parent = root;
    for (const segment of entry.path.split('/')) {
      let child = parent.children.get(segment);
      if (!child) {
        const childPath = parent.path === '' ? segment : `${parent.path}/${segment}`;
        const declared = byPath.get(childPath);
        child = { path: childPath, kind: declared?.kind ?? 'directory', linkTarget: declared?.linkTarget, children: new Map() };
        parent.children.set(segment, child);
      }
      parent = child;
    }
    nodes.set(entry.path, parent);
  }
  return { root, nodes };
}

function directoriesParentsFirst(root: TreeNode): string[] {
  const found: string[] = [];
  const visit = (node: TreeNode): void => {
    for (const child of node.children.values()) {
      if (child.kind !== 'directory') continue;
      found.push(child.path);
      visit(child);
    }
  };
  visit(root);
  return found;
}

/**
 * Follows links component by component, as path lookup does. Each link's landing is
 * remembered: it does not depend on how the link was reached, because a relative target
 * is read from the directory holding the link.
 *
 * A step through a name the tree lacks (or through a file) does not resolve today, but the
 * walk goes on as if that name were a directory: the build may create it later (npm creates
 * node_modules), and `missing/../../x` must not become an escape then. So a dangling link is
 * kept only when it would still land inside the root if its missing directories appeared.
 */
class LinkResolver {
  private readonly root: TreeNode;
  private readonly landings = new Map<TreeNode, Position>();
  private readonly resolving = new Set<TreeNode>();
  /** Work done so far, in target bytes read and steps walked: what planTreeInSteps paces itself by. */
  work = 0;

  constructor(root: TreeNode) {
    this.root = root;
  }

  land(link: TreeNode, depth = 0): Position {
    const known = this.landings.get(link);
    if (known) return known;
    const target = link.linkTarget ?? '';
    if (this.resolving.has(link) || depth > MAX_LINK_HOPS) throw this.loop(link);
    if (target.startsWith('/')) throw this.escape(link);
    this.resolving.add(link);
    this.work += target.length;
    const walked = this.walk(link, parentSegments(link.path).concat(targetSteps(target)), depth);
    this.resolving.delete(link);
    const landing = { ...walked, resolves: walked.resolves && target !== '', hops: walked.hops + 1 };
    if (landing.hops > MAX_LINK_HOPS) throw this.loop(link);
    this.landings.set(link, landing);
    return landing;
  }

  private walk(link: TreeNode, steps: string[], depth: number): Position {
    let position: Position = { names: [], nodes: [], resolves: true, hops: 0 };
    this.work += steps.length;
    for (const step of steps) {
      const here = position.nodes.length === 0 ? this.root : position.nodes.at(-1);
      if (here?.kind !== 'directory') position.resolves = false;
      if (step === '.') continue;
      if (step === '..') {
        if (position.names.length === 0) throw this.escape(link);
        position.names.pop();
        position.nodes.pop();
        continue;
      }
      const child = here?.kind === 'directory' ? here.children.get(step) : undefined;
      if (child?.kind === 'symlink') {
        position = this.follow(link, position, this.land(child, depth + 1));
        continue;
      }
      position.names.push(step);
      position.nodes.push(child);
    }
    const arrived = position.nodes.length === 0 || position.nodes.at(-1) !== undefined;
    return { ...position, resolves: position.resolves && arrived };
  }

  private follow(link: TreeNode, from: Position, landing: Position): Position {
    const hops = from.hops + landing.hops;
    if (hops > MAX_LINK_HOPS) throw this.loop(link);
    return { names: [...landing.names], nodes: [...landing.nodes], resolves: from.resolves && landing.resolves, hops };
  }

  private escape(link: TreeNode): PlatformError {
    return refuse('LinkEscapes', `Link "${link.path}" points to "${link.linkTarget}", which leads outside the archive`);
  }

  private loop(link: TreeNode): PlatformError {
    return refuse('LinkLoop', `Link "${link.path}" points to "${link.linkTarget}", which does not resolve within ${MAX_LINK_HOPS} links (a loop)`);
  }
}

/** About a millisecond of resolving between pauses. */
const WORK_PER_PAUSE = 20_000;

/**
 * Checks the tree an archive describes and says what to create. Refuses (422) duplicates,
 * entries under files, hard links that are not copies of a file of the archive, symlinks
 * that leave the root at any step or loop, and entries written through a symlink.
 *
 * Resolving grows with the number and length of the links (up to some 10^7 steps for a
 * hostile archive), so this yields every WORK_PER_PAUSE units of work: a caller on an event loop
 * can let other work run between them. It yields nothing else and does no I/O.
 */
export function* planTreeInSteps(entries: readonly TreeEntry[]): Generator<void, TreePlan> {
  const byPath = indexEntries(entries);
  refuseBadHardLinks(byPath);
  const { root, nodes } = buildTree(byPath);
  refuseFilesUsedAsDirectories(nodes.values());
  const resolver = new LinkResolver(root);
  const links = new Map<string, LinkLanding>();
  let pausedAt = 0;
  for (const node of nodes.values()) {
    if (node.kind !== 'symlink') continue;
    const landing = resolver.land(node);
    links.set(node.path, { path: landing.names.join('/'), resolves: landing.resolves, hops: landing.hops });
    if (resolver.work - pausedAt >= WORK_PER_PAUSE) {
      pausedAt = resolver.work;
      yield;
    }
  }
  refuseEntriesThroughLinks(nodes.values());
  return { directories: directoriesParentsFirst(root), links };
}

/** planTreeInSteps run to the end at once. */
export function planTree(entries: readonly TreeEntry[]): TreePlan {
  const steps = planTreeInSteps(entries);
  for (;;) {
    const step = steps.next();
    if (step.done) return step.value;
  }
}
