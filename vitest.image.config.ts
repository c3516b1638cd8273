// Image tests: real images built with buildah from the generated build contexts and
// the root Dockerfile, served by a local registry and run with runc (`bash test/image/setup`
// prepares it all, see docs/TESTING.md). Unit and e2e tests use vitest.config.ts.
import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/image/**/*.test.ts'],
    globalSetup: ['test/image/support/global-setup.ts'],
    // Builds take both cores of the machine: one file at a time.
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: 'forks',
  },
});
