// `shoal bench`: every benchmark in bench/ runs through the CLI at a small size and passes its own
// check (smoke tests: the figures are never asserted, only that the run was right).
import { readdirSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { runCli } from "./helpers/job.js";

const benchmarks = readdirSync(new URL("../bench/", import.meta.url))
  .filter((file) => file.endsWith(".ts") && file !== "harness.ts")
  .map((file) => file.slice(0, -".ts".length))
  .sort();

/** Each benchmark's options for a run of a second or two. */
const kSmall: Record<string, string[]> = {
  "am-latency": ["--reps", "1", "--iters", "100"],
  "am-throughput": ["--reps", "2", "--count", "20000"],
  coll: ["--pes", "3", "--max-bytes", "4096", "--iters", "50", "--reps", "2"],
  histo: ["--table", "4096", "--updates", "20000", "--batch", "1000", "--reps", "2"],
  ig: ["--table", "4096", "--reads", "20000", "--batch", "1000", "--reps", "2"],
  "nng-pingpong": ["--reps", "1", "--iters", "100", "--count", "2000", "--mib", "4"],
  "put-get": ["--mib", "4", "--reps", "2"],
  procs: ["--procs", "2", "--reps", "2", "--iters", "200", "--table", "4096", "--updates", "20000", "--batch", "1000", "--mib", "4"],
  randperm: ["--n", "20000", "--batch", "4096", "--reps", "2"],
  sum: ["--mib", "8", "--reps", "2"],
};

describe("shoal bench", () => {
  it("lists every benchmark in bench/ with --list", async () => {
    const result = await runCli(["bench", "--list"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual(benchmarks);
  });

  it("has a small configuration in this test for every benchmark", () => {
    expect(Object.keys(kSmall).sort()).toEqual(benchmarks);
  });

  it("rejects an unknown benchmark with exit code 2 and lists the available ones", async () => {
    const result = await runCli(["bench", "nope"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no benchmark named "nope"');
    for (const name of benchmarks) expect(result.stderr).toContain(name);
  });

  it("asks for a benchmark when none is given", async () => {
    const result = await runCli(["bench"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("expected the name of a benchmark");
  });

  it("rejects a PE count that is not a positive integer", async () => {
    const result = await runCli(["bench", "histo", "--pes", "two"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/PEs/);
  });

  for (const name of Object.keys(kSmall).sort()) {
    it(`runs ${name} on 2 PEs at a small size: exit code 0, JSON rows, its self-check passed`, async () => {
      const result = await runCli(["bench", name, "--json", ...kSmall[name]!], { timeoutMs: 50_000 });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      expect(result.records.length).toBeGreaterThan(0);
      for (const row of result.records) {
        expect(row["benchmark"]).toBe(name);
        expect(Number.isFinite(row["median"])).toBe(true);
        expect(typeof row["check"]).toBe("string");
      }
    });
  }

  it("runs a benchmark on the PE count given with --pes, and prints a table and its check without --json", async () => {
    const result = await runCli(["bench", "histo", "--pes", "3", ...kSmall["histo"]!]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("3 PEs");
    expect(result.stdout).toMatch(/^check: ok: /m);
  });

  it("runs procs on 2 PEs in 2 processes and prints each figure next to its baseline, with the ratio and 3 check lines", async () => {
    const result = await runCli(["bench", "procs", "--pes", "2", ...kSmall["procs"]!], { timeoutMs: 50_000 });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const rows = result.stdout.split("\n").filter((line) => line.startsWith("procs "));
    expect(rows).toHaveLength(6);
    expect(rows[0]).toContain("exec round trip");
    expect(rows[0]).toContain("(shoal / NNG)");
    expect(rows[1]).toContain("baseline: raw NNG round trip");
    expect(rows[2]).toContain("batchAdd");
    expect(rows[3]).toContain("baseline: 1 thread, Atomics.add");
    expect(rows[4]).toContain("put");
    expect(rows[4]).toContain("(shoal / NNG)");
    expect(rows[5]).toContain("baseline: raw NNG");
    expect(result.stdout.match(/^check: ok: /gm)).toHaveLength(3);
  });

  it("refuses to run procs unless it has 2 PEs in 2 processes, and says how to run it", async () => {
    const result = await runCli(["bench", "procs", "--pes", "2", "--reps", "1"], { timeoutMs: 50_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("expected 2 PEs in 2 processes");
    expect(result.stderr).toContain("shoal bench procs --pes 2 --procs 2");
  });
});
