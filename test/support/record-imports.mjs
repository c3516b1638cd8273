// Preloaded with --import: records every module URL the process resolves, and
// prints the packages they belong to when asked (SIGUSR2) or at exit.
import { registerHooks } from 'node:module';

const seen = new Set();
registerHooks({
  resolve(specifier, context, nextResolve) {
    const result = nextResolve(specifier, context);
    const match = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(result.url);
    if (match) seen.add(match[1]);
    return result;
  },
});
process.on('exit', () => process.stdout.write(`LOADED ${JSON.stringify([...seen].sort())}\n`));
