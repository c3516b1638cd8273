// Smoke tests of promtool (Debian's prometheus package): check and unit-test a
// small rule file, and see a broken one rejected.
import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { REPO_ROOT, requireTool } from "./support/env.ts";

const execFileAsync = promisify(execFile);
const FIXTURES = resolve(REPO_ROOT, "test/integration/fixtures");

async function promtool(...args: string[]): Promise<{ code: number; out: string }> {
  try {
    const { stdout, stderr } = await execFileAsync(requireTool("promtool"), args, { cwd: FIXTURES });
    return { code: 0, out: stdout + stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : -1, out: `${e.stdout ?? ""}${e.stderr ?? ""}` };
  }
}

describe("promtool", () => {
  it("checks a rule file", async () => {
    const res = await promtool("check", "rules", "example-rules.yaml");
    expect(res.out).toContain("SUCCESS: 2 rules found");
    expect(res.code).toBe(0);
  });

  it("unit-tests a rule file (recording rule values and alert firing)", async () => {
    const res = await promtool("test", "rules", "example-rules.test.yaml");
    expect(res.out).toContain("SUCCESS");
    expect(res.code).toBe(0);
  });

  it("rejects a rule with an invalid expression", async () => {
    const dir = mkdtempSync(join(tmpdir(), "promtool-"));
    const file = join(dir, "broken.yaml");
    writeFileSync(file, "groups:\n  - name: broken\n    rules:\n      - alert: Broken\n        expr: sum(rate(x[5m]) >\n");
    const res = await promtool("check", "rules", file);
    expect(res.code).not.toBe(0);
    expect(res.out).toMatch(/FAILED|error/i);
  });
});
