// examples/05-quicksort.ts: Crayfish's parallel quicksort with world.at and world.finish sorts
// correctly on every job shape. The oracle is computed here: the same seeded generator, sorted with
// Array.prototype.sort.
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const example = fileURLToPath(new URL("../examples/05-quicksort.ts", import.meta.url));

/** The example's generator (mulberry32), written again as the oracle. */
function oracleInput(length: number, seed: number, max: number): number[] {
  let state = seed;
  const next = (): number => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
  return Array.from({ length }, () => (max > 0 ? (next() >>> 0) % max : next()));
}

function oracleChecksum(values: readonly number[]): number {
  let hash = 0x811c9dc5;
  for (const value of values) hash = Math.imul(hash ^ value, 0x01000193);
  return hash >>> 0;
}

function oracleSorted(length: number, seed: number, max: number): number[] {
  return oracleInput(length, seed, max).sort((a, b) => a - b);
}

interface SortCase {
  n: number;
  seed: number;
  cutoff: number;
  max: number;
  values: boolean;
}

function sortJob(pes: number, procs: number, c: SortCase): Promise<JobResult> {
  const args = ["--n", String(c.n), "--seed", String(c.seed), "--cutoff", String(c.cutoff), "--max", String(c.max), "--json"];
  if (c.values) args.push("--values");
  return runJob(pes, example, { procs, args });
}

function expectSorted(result: JobResult, pes: number, c: SortCase): void {
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const records = recordsOf(result, "quicksort");
  expect(records).toHaveLength(1);
  const record = records[0]!;
  const expected = oracleSorted(c.n, c.seed, c.max);
  expect(record["pes"]).toBe(pes);
  expect(record["length"]).toBe(expected.length);
  expect(record["checksum"]).toBe(oracleChecksum(expected));
  if (c.values) expect(record["values"]).toEqual(expected);
}

describe("examples/05-quicksort.ts", () => {
  for (const { pes, procs, name } of kShapes) {
    it(`sorts 100000 seeded int32 values on ${name} (length and checksum match the oracle)`, async () => {
      const c: SortCase = { n: 100_000, seed: 1, cutoff: 4096, max: 0, values: false };
      expectSorted(await sortJob(pes, procs, c), pes, c);
    });

    it(`sorts 1009 values with many duplicates down to single elements on ${name}`, async () => {
      const c: SortCase = { n: 1009, seed: 7, cutoff: 1, max: 50, values: true };
      expectSorted(await sortJob(pes, procs, c), pes, c);
    });
  }

  // Lengths 0, 1 and 2, and 7 (shorter than the PE count): the recursion ends at once or soon.
  for (const n of [0, 1, 2, 7]) {
    it(`sorts ${n} value${n === 1 ? "" : "s"} on 8 PEs`, async () => {
      const c: SortCase = { n, seed: 11 + n, cutoff: 1, max: 0, values: true };
      expectSorted(await sortJob(8, 1, c), 8, c);
    });
  }
});
