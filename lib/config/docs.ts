import { z } from 'zod';
import { configSchema } from './schema.ts';

/** Default of a schema entry as written in the docs; machine-specific defaults are described, not printed. */
function defaultOf(key: string, entry: z.ZodType): string {
  if (key === 'KL_DATA_DIR') return '(see description)';
  const parsed = entry.safeParse(undefined);
  if (!parsed.success || parsed.data === undefined) return '—';
  return `\`${typeof parsed.data === 'object' ? JSON.stringify(parsed.data) : String(parsed.data)}\``;
}

/** Markdown table of every variable, generated from the schema. */
export function configurationMarkdown(): string {
  const rows = Object.entries(configSchema.shape).map(([key, entry]) => {
    const description = (entry.description ?? '').replaceAll('|', '\\|');
    return `| \`${key}\` | ${defaultOf(key, entry)} | ${description} |`;
  });
  return [
    '# Configuration',
    '',
    'Every setting is an environment variable, checked at start-up by one schema',
    '(`lib/config/schema.ts`). With none set, the embedded platform works. A bad',
    'value stops the process with one message that lists every bad variable and why.',
    '',
    'This file is generated: `npm run docs:config`. A unit test fails when it is stale.',
    '',
    '| Variable | Default | Meaning |',
    '| --- | --- | --- |',
    ...rows,
    '',
  ].join('\n');
}
