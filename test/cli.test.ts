import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { recordsOf, repoRoot, runCli, runJob } from "./helpers/job.js";

const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version: string };

describe("the shoal command", () => {
  it("documents run, its options and every SHOAL_ variable in --help", async () => {
    const result = await runCli(["--help"]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("shoal run -n N");
    for (const name of ["SHOAL_SPIN_US", "SHOAL_AGGREGATION_BYTES", "SHOAL_RING_BYTES", "SHOAL_LARGE_BYTES", "SHOAL_BARRIER_TIMEOUT_MS", "SHOAL_ABORT_GRACE_MS"]) {
      expect(result.stdout).toContain(name);
    }
  });

  it("prints the package version with --version", async () => {
    const result = await runCli(["--version"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toBe(pkg.version);
  });

  it("rejects an unknown command with exit code 2 and says what it expected", async () => {
    const result = await runCli(["jump"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('unknown command "jump"');
  });

  it("rejects a PE count that is not a positive integer", async () => {
    for (const bad of ["0", "-3", "two", "1.5"]) {
      const result = await runCli(["run", "-n", bad, "test/fixtures/hello.ts"]);
      expect(result.code, bad).toBe(2);
      expect(result.stderr, bad).toMatch(/PEs/);
    }
  });

  it("rejects a program that does not exist, naming the path", async () => {
    const result = await runCli(["run", "-n", "2", "no/such/program.ts"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("no/such/program.ts");
  });

  it("asks for a program when none is given", async () => {
    const result = await runCli(["run", "-n", "2"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("expected a program");
  });

  it("rejects an unusable SHOAL_ variable, naming it", async () => {
    const result = await runCli(["run", "-n", "2", "test/fixtures/hello.ts"], { env: { SHOAL_RING_BYTES: "1000" } });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SHOAL_RING_BYTES");
  });

  it("passes everything after the program to every PE as given", async () => {
    const args = ["a", "-n", "7", "--", "--json"];
    const result = await runJob(3, "argv.ts", { args });
    expect(result.code).toBe(0);
    const seen = recordsOf(result, "argv");
    expect(seen).toHaveLength(3);
    for (const record of seen) {
      expect(record["args"]).toEqual(args);
      expect(String(record["program"])).toMatch(/argv\.ts$/);
    }
  });

  it("takes -- before the program as the end of shoal's options", async () => {
    const result = await runCli(["run", "-n", "2", "--", "test/fixtures/argv.ts", "--pes", "9"]);
    expect(result.code).toBe(0);
    expect(recordsOf(result, "argv").map((r) => r["args"])).toEqual([["--pes", "9"], ["--pes", "9"]]);
  });

  it("lets a program run with plain node as a one-PE world", async () => {
    const child = spawn(process.execPath, [fileURLToPath(new URL("./fixtures/solo.mjs", import.meta.url))], { cwd: repoRoot });
    let stdout = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
    expect(code).toBe(0);
    expect(JSON.parse(stdout.trim())).toEqual({ kind: "solo", pe: 0, numPes: 1, reply: { pe: 0, src: 0, value: 42 }, squared: 144 });
  });
});
