import { API_SERVER_EVENT_PREFIX } from '../events/apiserver.ts';
import { kindOf } from '../events/types.ts';

/** A bounded `type` label: the kind of one of our events, `apiserver.<verb>`, or `other`. */
export function eventKindLabel(prefix: string, type: string): string {
  const kind = kindOf(prefix, type);
  if (kind) return kind;
  if (type.startsWith(API_SERVER_EVENT_PREFIX)) {
    const verb = type.slice(API_SERVER_EVENT_PREFIX.length);
    if (['add', 'update', 'delete'].includes(verb)) return `apiserver.${verb}`;
  }
  return 'other';
}
