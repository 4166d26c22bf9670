// array.histogram (the histogram kernel, kernels/histogram.ts) against counts computed here from
// the same seeded values, NumPy's binning, on every process shape.
import { describe, expect, it } from "vitest";

import { histogramCases, valuesOf, type HistogramCase } from "./fixtures/array-histogram-plan.js";
import { kShapes, recordsOf, runJob } from "./helpers/job.js";

/** NumPy's rule, written out: bins over [lo, hi], the last closed; outside and NaN not counted. */
function oracle(c: HistogramCase): number[] {
  const values = Array.from({ length: c.length }, (_, i) => Number(valuesOf(c, i)));
  let [lo, hi] = c.range ?? [Math.min(...values), Math.max(...values)];
  if (lo === hi) [lo, hi] = [lo - 0.5, hi + 0.5];
  const counts = new Array<number>(c.bins).fill(0);
  for (const v of values) {
    if (Number.isNaN(v) || v < lo || v > hi) continue;
    const width = (hi - lo) / c.bins;
    let bin = v === hi ? c.bins - 1 : Math.floor((v - lo) / width);
    if (bin >= c.bins) bin = c.bins - 1;
    counts[bin]!++;
  }
  return counts;
}

describe.each(kShapes)("array.histogram on $name", (shape) => {
  it("counts every element of every PE's part in NumPy's bins, and refuses bad bins and ranges", async () => {
    const result = await runJob(shape.pes, "array-histogram.ts", { procs: shape.procs });
    expect(result.code, result.stderr).toBe(0);
    const records = recordsOf(result, "histogram");
    const cases = histogramCases();
    expect(records.map((r) => r["name"])).toEqual(cases.map((c) => c.name));
    for (const [k, c] of cases.entries()) expect(records[k]!["counts"], c.name).toEqual(oracle(c));
    const refused = recordsOf(result, "refused").map((r) => r["error"]);
    expect(refused).toEqual(["ShoalRangeError", "ShoalRangeError", "ShoalRangeError", "ShoalTypeError"]);
  });
});
