/**
 * The histogram kernel: counts of values by bin, as `array.histogram({ bins, range })` runs it on
 * every PE's part (each part counted by its owner, where it lies; the counts added by the caller).
 * Like the reduction operators it is named: an array operation asks another PE for it by name,
 * and no code travels.
 *
 * Bins follow NumPy's `histogram`: `bins` equal bins over `[lo, hi]`, each closed on the left and
 * open on the right except the last, which includes `hi`. Values outside the range, and NaN, are
 * not counted. 64-bit integers are binned by their value as a number.
 *
 * @module
 */
import type { AnyTypedArray } from "../src/array/dtype.js";

/** The name array operations send for this kernel. */
export const kHistogramKernel = "histogram";

/**
 * Adds the bins of `data[start..end)` to `counts` (one count per bin, `counts.length` bins over
 * `[lo, hi]`). One pass, no allocation; bigint elements are converted one by one.
 *
 * @example
 * ```ts
 * import { countBins } from "shoal";
 * const counts = new Float64Array(4);
 * countBins(Float64Array.of(0, 0.3, 0.5, 1), 0, 4, 0, 1, counts); // counts: [1, 1, 1, 1]
 * ```
 */
export function countBins(data: AnyTypedArray, start: number, end: number, lo: number, hi: number, counts: Float64Array): void {
  const bins = counts.length;
  const scale = bins / (hi - lo);
  if (typeof data[0] === "bigint" || (data.length > 0 && typeof data[start] === "bigint")) {
    const values = data as BigInt64Array;
    for (let i = start; i < end; i++) addTo(counts, Number(values[i]!), lo, hi, scale, bins);
    return;
  }
  const values = data as Float64Array;
  for (let i = start; i < end; i++) {
    const v = values[i]!;
    if (v >= lo && v < hi) counts[Math.min(bins - 1, Math.floor((v - lo) * scale))]!++;
    else if (v === hi) counts[bins - 1]!++;
  }
}

function addTo(counts: Float64Array, v: number, lo: number, hi: number, scale: number, bins: number): void {
  if (v >= lo && v < hi) counts[Math.min(bins - 1, Math.floor((v - lo) * scale))]!++;
  else if (v === hi) counts[bins - 1]!++;
}
