// Integration tests: real Kubernetes control plane, MinIO, RabbitMQ and
// promtool from the local test environment (`bash test/env/up`, see
// docs/TESTING.md). Unit tests use vitest.config.ts and need none of it.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/integration/**/*.test.ts"],
    globalSetup: ["test/integration/support/global-setup.ts"],
    // Files share one environment (one apiserver, one broker): run them one
    // after the other; each test still isolates itself (own namespace, queue
    // and key names).
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
    teardownTimeout: 60_000,
  },
});
