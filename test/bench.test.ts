// `shoal bench`: every benchmark in bench/ runs through the CLI at a small size and passes its own
// check (smoke tests: the figures are never asserted, only that the run was right).
import { readdirSync } from "node:fs";

import { describe, expect, it } from "vitest";

import { kJobShapes, kQuickOptions, suiteArgs } from "../src/launch/bench-suite.js";
import { runCli } from "./helpers/job.js";

const benchmarks = readdirSync(new URL("../bench/", import.meta.url))
  .filter((file) => file.endsWith(".ts") && file !== "harness.ts")
  .map((file) => file.slice(0, -".ts".length))
  .sort();

/** The PEs of each smoke run: 2, and coll on 3 (an odd count; its correctness is the point here). */
const pesOf = (name: string): number => (name === "coll" ? 3 : 2);

describe("shoal bench", () => {
  it("lists every benchmark in bench/ with --list", async () => {
    const result = await runCli(["bench", "--list"]);
    expect(result.code).toBe(0);
    expect(result.stdout.trim().split("\n")).toEqual(benchmarks);
  });

  it("has quick sizes in the suite's table (src/launch/bench-suite.ts) for every benchmark", () => {
    expect(Object.keys(kQuickOptions).sort()).toEqual(benchmarks);
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

  for (const name of benchmarks) {
    it(`runs ${name} on ${pesOf(name)} PEs at its quick size: exit code 0, JSON rows, its self-check passed`, async () => {
      const result = await runCli([...suiteArgs(name, { quick: true, pes: pesOf(name) }), "--json"], { timeoutMs: 50_000 });
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
    const result = await runCli(["bench", "histo", "--pes", "3", ...kQuickOptions["histo"]!]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(result.stdout).toContain("3 PEs");
    expect(result.stdout).toMatch(/^check: ok: /m);
  });

  it("runs procs on 2 PEs in 2 processes and prints each figure next to its baseline, with the ratio and 3 check lines", async () => {
    const result = await runCli(["bench", "procs", ...kJobShapes["procs"]!, ...kQuickOptions["procs"]!], { timeoutMs: 50_000 });
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const rows = result.stdout.split("\n").filter((line) => line.startsWith("procs "));
    expect(rows).toHaveLength(7);
    expect(rows[0]).toContain("exec round trip");
    expect(rows[0]).toContain("(shoal / NNG)");
    expect(rows[1]).toContain("baseline: raw NNG round trip");
    expect(rows[2]).toContain("batchAdd(indices, 1) of all 20000 indices per PE");
    expect(rows[3]).toContain("await batchAdd(batch, 1), one batch of 1000 after another");
    expect(rows[4]).toContain("baseline: 1 thread, Atomics.add");
    expect(rows[5]).toContain("put");
    expect(rows[5]).toContain("(shoal / NNG)");
    expect(rows[6]).toContain("baseline: raw NNG");
    expect(result.stdout.match(/^check: ok: /gm)).toHaveLength(3);
  });

  it("refuses to run procs unless it has 2 PEs in 2 processes, and says how to run it", async () => {
    const result = await runCli(["bench", "procs", "--pes", "2", "--reps", "1"], { timeoutMs: 50_000 });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain("expected 2 PEs in 2 processes");
    expect(result.stderr).toContain("shoal bench procs --pes 2 --procs 2");
  });
});
