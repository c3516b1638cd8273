/** Writes docs/CONFIGURATION.md from the configuration schema. */
import { writeFile } from 'node:fs/promises';
import { configurationMarkdown } from '../lib/config/docs.ts';

await writeFile(new URL('../docs/CONFIGURATION.md', import.meta.url), configurationMarkdown());
process.stdout.write('docs/CONFIGURATION.md written\n');
