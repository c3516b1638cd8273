import { MIMEType } from 'node:util';

/** A Content-Type value parsed, or undefined when it is not a media type. */
export function mediaType(value: string | undefined): MIMEType | undefined {
  if (value === undefined) return undefined;
  try {
    return new MIMEType(value);
  } catch {
    return undefined;
  }
}

/** application/json and the structured syntax suffix +json (RFC 6839). */
export function isJsonMediaType(type: MIMEType | undefined): boolean {
  return type !== undefined && (type.essence === 'application/json' || type.subtype.endsWith('+json'));
}
