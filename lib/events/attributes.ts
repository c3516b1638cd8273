/**
 * The door's check of a CloudEvent's context attributes and of its data's nesting, before
 * any SDK or framework reads them. Pure: every problem is returned, each naming the
 * attribute, so one answer lists them all.
 */
import { CloudEvent } from 'cloudevents';
import { mediaType } from './media-type.ts';

/** The CloudEvents spec recommends at most 20 characters; longer names are refused. */
export const MAX_NAME_LENGTH = 20;
export const MAX_EXTENSIONS = 64;
export const MAX_VALUE_LENGTH = 2048;
export const MAX_DATA_DEPTH = 64;
/** Past this many, the answer says how many more there are instead of listing them. */
export const MAX_PROBLEMS = 50;

const VALUE_CAPS: Readonly<Record<string, number>> = { id: 256, type: 256, source: 1024, subject: 1024 };
const REQUIRED = ['id', 'source', 'specversion', 'type'] as const;
const CONTEXT_ATTRIBUTES = new Set<string>([...REQUIRED, 'datacontenttype', 'dataschema', 'subject', 'time']);
/** CloudEvents 0.3 attributes: the SDK refuses them on a 1.0 event with an error it does not mark as invalid input. */
const VERSION_03_ONLY = new Set(['schemaurl', 'datacontentencoding']);
const NAME = new RegExp(`^[a-z0-9]{1,${MAX_NAME_LENGTH}}$`);
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/;
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;
const INT32 = { min: -(2 ** 31), max: 2 ** 31 - 1 };
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
/** Stand-ins for missing required attributes when only the SDK's format checks are wanted. */
const SCHEMA_PLACEHOLDERS = { id: '-', source: '-', type: '-', specversion: '1.0' };

/** A name as it can be shown in an answer: quoted, escaped, shortened. */
function shown(name: string): string {
  return JSON.stringify(name.length > 40 ? `${name.slice(0, 40)}…` : name);
}

function stringProblems(name: string, value: string, required: boolean): string[] {
  const cap = VALUE_CAPS[name] ?? MAX_VALUE_LENGTH;
  if (value === '' && required) return [`${name}: must not be empty`];
  if (value.length > cap) return [`${name}: at most ${cap} characters (got ${value.length})`];
  if (CONTROL.test(value)) return [`${name}: must not contain control characters (U+0000–U+001F, U+007F–U+009F)`];
  if (!value.isWellFormed()) return [`${name}: must be valid Unicode (no lone surrogates)`];
  return [];
}

function timeProblems(value: string): string[] {
  return RFC3339.test(value) && Number.isFinite(Date.parse(value)) ? [] : ['time: must be an RFC 3339 timestamp, e.g. 2026-11-26T10:00:00Z'];
}

function mediaTypeProblems(value: string): string[] {
  return mediaType(value) ? [] : ['datacontenttype: must be a media type, e.g. application/json'];
}

function contextProblems(name: string, value: unknown): string[] {
  if (typeof value !== 'string') return [`${name}: must be a string`];
  const problems = stringProblems(name, value, true);
  if (problems.length > 0) return problems;
  if (name === 'specversion' && value !== '1.0') return ['specversion: must be 1.0'];
  if (name === 'time') return timeProblems(value);
  if (name === 'datacontenttype') return mediaTypeProblems(value);
  return [];
}

function extensionProblems(name: string, value: unknown): string[] {
  if (typeof value === 'string') return stringProblems(name, value, false);
  if (typeof value === 'boolean') return [];
  if (Number.isInteger(value) && (value as number) >= INT32.min && (value as number) <= INT32.max) return [];
  return [`${name}: must be a string, a boolean or a 32-bit integer`];
}

function nameProblems(name: string): string[] {
  if (!NAME.test(name)) return [`${shown(name)}: attribute names are 1 to ${MAX_NAME_LENGTH} lowercase letters (a-z) or digits`];
  if (VERSION_03_ONLY.has(name)) return [`${name}: a CloudEvents 0.3 attribute, not allowed in 1.0`];
  return [];
}

/** The SDK's own schema (URI-reference source, URI dataschema, date-time), on the attributes that passed the checks above. */
function schemaProblems(sound: Record<string, string>): string[] {
  try {
    new CloudEvent({ ...SCHEMA_PLACEHOLDERS, ...sound }, false).validate();
    return [];
  } catch (error) {
    const errors = (error as { errors?: Array<{ instancePath?: string; message?: string }> }).errors ?? [];
    return errors.map((e) => `${e.instancePath?.replace(/^\//, '') || 'event'}: ${e.message ?? 'invalid'}`);
  }
}

function dataProblems(attributes: Readonly<Record<string, unknown>>): string[] {
  const problems: string[] = [];
  if (attributes.data !== undefined && attributes.data_base64 !== undefined) problems.push('data_base64: not allowed together with data');
  if (attributes.data_base64 !== undefined && (typeof attributes.data_base64 !== 'string' || !BASE64.test(attributes.data_base64))) problems.push('data_base64: must be base64 (RFC 4648)');
  return problems;
}

function capped(problems: string[]): string[] {
  if (problems.length <= MAX_PROBLEMS) return problems;
  return [...problems.slice(0, MAX_PROBLEMS), `…and ${problems.length - MAX_PROBLEMS} more problems`];
}

/**
 * Every problem of a CloudEvent 1.0 attribute map: names, required attributes, types,
 * sizes, characters and formats. `data` and `data_base64` (structured mode) are members
 * of the map but not attributes. Never throws.
 */
export function attributeProblems(attributes: Readonly<Record<string, unknown>>): string[] {
  const entries = Object.entries(attributes).filter(([name, value]) => name !== 'data' && name !== 'data_base64' && value !== undefined);
  const problems = REQUIRED.filter((name) => !entries.some(([key]) => key === name)).map((name) => `${name}: required`);
  const extensions = entries.filter(([name]) => !CONTEXT_ATTRIBUTES.has(name));
  if (extensions.length > MAX_EXTENSIONS) problems.push(`extensions: at most ${MAX_EXTENSIONS} extension attributes (got ${extensions.length})`);
  const sound: Record<string, string> = {};
  for (const [name, value] of entries) {
    const found = nameProblems(name);
    if (found.length === 0) found.push(...(CONTEXT_ATTRIBUTES.has(name) ? contextProblems(name, value) : extensionProblems(name, value)));
    if (found.length === 0 && CONTEXT_ATTRIBUTES.has(name)) sound[name] = value as string;
    problems.push(...found);
  }
  return capped([...problems, ...schemaProblems(sound), ...dataProblems(attributes)]);
}

/** Whether JSON text nests arrays and objects deeper than `limit`; a scan, so hostile depth cannot exhaust the stack. */
export function nestsDeeperThan(text: string, limit: number): boolean {
  let depth = 0;
  let inString = false;
  let escaped = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (c === '\\') escaped = true;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '[' || c === '{') {
      depth += 1;
      if (depth > limit) return true;
    } else if (c === ']' || c === '}') depth -= 1;
  }
  return false;
}
