import { asPlatformError } from '../errors.ts';
import type { BuildRecord } from '../ports/build-executor.ts';
import type { ServiceRecord } from '../ports/deployer.ts';
import { reconcileBuild } from './build-outcome.ts';
import type { PipelineDeps } from './deps.ts';
import { decideServiceStatus, reconcileService } from './service-status.ts';

/** An object the job-watcher reconciles, the same whether a watch event or a resync names it. */
export interface ObjectRef {
  target: 'build' | 'service';
  name: string;
}

export interface ResyncReport {
  /** Objects found not announced and handed to their reconcile step. */
  due: number;
  /** Listings and reconcile steps that failed, each one logged. */
  failures: number;
}

function hasEnded(build: BuildRecord): boolean {
  return build.status.phase === 'Succeeded' || build.status.phase === 'Failed';
}

/**
 * Pure: what a resync hands to the reconcile steps. The ApiServerSource sends nothing for
 * what changed while it was down, nor an event it gave up on, so the resync lists: builds
 * that ended without their outcome announced, and services with a readiness or failure not
 * announced. Builds still running need nothing: their end will be seen, or listed.
 */
export function decideResync(builds: readonly BuildRecord[], services: readonly ServiceRecord[]): ObjectRef[] {
  return [
    ...builds.filter((build) => hasEnded(build) && !build.status.announced).map((build): ObjectRef => ({ target: 'build', name: build.name })),
    ...services.filter((service) => decideServiceStatus(service) !== undefined).map((service): ObjectRef => ({ target: 'service', name: service.spec.name })),
  ];
}

/**
 * Runs the reconcile steps one at a time per object; different objects run side by side.
 * A resync and a watch event may name the same object at once, and a step writes its
 * announced mark only after it emits: two overlapping runs would both announce. The second
 * run, queued behind the first, reads the mark and does nothing.
 */
export class ObjectReconciler {
  private readonly tails = new Map<string, Promise<void>>();

  reconcile(deps: PipelineDeps, ref: ObjectRef): Promise<void> {
    const key = `${ref.target}/${ref.name}`;
    const step = () => (ref.target === 'build' ? reconcileBuild(deps, ref.name) : reconcileService(deps, ref.name));
    const run = (this.tails.get(key) ?? Promise.resolve()).then(step);
    const tail = run.catch(() => undefined);
    this.tails.set(key, tail);
    void tail.then(() => {
      if (this.tails.get(key) === tail) this.tails.delete(key);
    });
    return run;
  }
}

function logFailure(deps: PipelineDeps, error: unknown, fields: Record<string, unknown>, message: string): void {
  const failure = asPlatformError(error);
  deps.log.error({ err: failure, reason: failure.reason, category: failure.category, ...fields }, `${message}: ${failure.message}`);
}

async function listed<T>(deps: PipelineDeps, what: string, list: () => Promise<T[]>): Promise<T[] | undefined> {
  try {
    return await list();
  } catch (error) {
    logFailure(deps, error, { resync: what }, `resync could not list ${what}`);
    return undefined;
  }
}

/**
 * Lists every build and service of the platform and reconciles what is not announced, through
 * the same steps the watch events run. Failures are logged (the ports count them) and the
 * next pass tries again; one object failing does not stop the others.
 */
export async function resync(deps: PipelineDeps, reconciler: ObjectReconciler): Promise<ResyncReport> {
  const [builds, services] = await Promise.all([listed(deps, 'builds', () => deps.executor.list()), listed(deps, 'services', () => deps.deployer.list())]);
  const due = decideResync(builds ?? [], services ?? []);
  let failures = [builds, services].filter((list) => list === undefined).length;
  for (const ref of due) {
    try {
      await reconciler.reconcile(deps, ref);
    } catch (error) {
      failures += 1;
      logFailure(deps, error, { [ref.target]: ref.name }, `resync could not reconcile ${ref.target} ${ref.name}`);
    }
  }
  return { due: due.length, failures };
}
