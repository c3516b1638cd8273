import type { z } from 'zod';

/** One readable line per problem, `path: message`, with the inner reason of record-key errors. */
export function describeIssues(issues: readonly z.core.$ZodIssue[], prefix: (string | number | symbol)[] = []): string[] {
  return issues.flatMap((issue) => {
    const at = [...prefix, ...issue.path].map(String).join('.') || 'data';
    const inner = (issue as { issues?: z.core.$ZodIssue[] }).issues;
    if (issue.code === 'invalid_key' && inner?.length) return inner.map((i) => `${at}: key "${String(issue.path.at(-1))}" ${i.message}`);
    return [`${at}: ${issue.message}`];
  });
}
