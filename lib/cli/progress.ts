import type { FeedEntry } from '../platform/broker.ts';
import { EventKind, kindOf } from '../events/types.ts';

export type Verdict = { done: true; ok: boolean; url?: string } | { done: false };

/** One human line per event of a deploy or delete, and whether it ends the wait. */
export function describeEntry(prefix: string, entry: FeedEntry): { line: string; detail?: string; verdict: Verdict } {
  if (entry.kind === 'dead-letter') {
    return { line: `✗ the platform refused ${entry.event.type} (${entry.status}): ${entry.reason}`, verdict: { done: true, ok: false } };
  }
  const data = (entry.event.data ?? {}) as Record<string, unknown>;
  switch (kindOf(prefix, entry.event.type)) {
    case EventKind.BuildStart:
      return { line: '→ build requested', verdict: { done: false } };
    case EventKind.BuildStarted:
      return { line: `● building ${String(data.build_id)}${data.duplicate ? ' (already in progress)' : ''}`, verdict: { done: false } };
    case EventKind.BuildComplete:
      return {
        line: data.cache_hit ? '● source unchanged: reusing the existing build' : `● build complete${typeof data.duration_seconds === 'number' ? ` in ${data.duration_seconds.toFixed(1)}s` : ''}`,
        verdict: { done: false },
      };
    case EventKind.BuildFailed:
      return { line: `✗ build failed (${String(data.reason)}): ${String(data.message)}`, detail: String(data.log_tail ?? ''), verdict: { done: true, ok: false } };
    case EventKind.BuildTimeout:
      return { line: `✗ build timed out after ${String(data.timeout_seconds)}s`, detail: String(data.log_tail ?? ''), verdict: { done: true, ok: false } };
    case EventKind.ServiceReady:
      return { line: `✓ ready at ${String(data.url)}`, verdict: { done: true, ok: true, url: String(data.url) } };
    case EventKind.ServiceFailed:
      return { line: `✗ function failed to start (${String(data.reason)}): ${String(data.message)}`, detail: String(data.log_tail ?? ''), verdict: { done: true, ok: false } };
    case EventKind.ServiceDeleted:
      return { line: data.existed ? `✓ deleted ${String(data.function_name)} and ${String(data.deleted_builds)} build(s)` : `✓ ${String(data.function_name)} did not exist`, verdict: { done: true, ok: true } };
    default:
      return { line: `· ${entry.event.type}`, verdict: { done: false } };
  }
}
