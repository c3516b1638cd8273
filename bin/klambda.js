#!/usr/bin/env node
// The CLI entry. The project runs on Node.js 24 (its TypeScript runs without a compile step).
const major = Number(process.versions.node.split('.')[0]);
if (major < 24) {
  process.stderr.write(
    `klambda needs Node.js 24 or newer; this is ${process.version}.\n` +
      'Run it through npm in the project (`npx klambda ...`), which uses the Node.js 24 that `npm ci` installs.\n',
  );
  process.exit(1);
}
const { main } = await import('../lib/cli/main.ts');
await main(process.argv);
