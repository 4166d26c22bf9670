/**
 * put-get: `array.put(0, values)` and `array.get(0, n, out)` of a whole 64 MiB f64 array (`--mib`
 * to change), block distribution over the PEs of one process, called by PE 0 alone: one copy per
 * PE's part, between PE 0's typed array and the shared memory. The figure is bandwidth (GB/s =
 * 10^9 bytes moved per second).
 *
 * Baselines, in the same run, each timed next to its counterpart (which goes first alternates):
 * `TypedArray.set` of the same bytes, from a plain Float64Array into one on a SharedArrayBuffer
 * (for put), and back (for get).
 *
 *   npx shoal bench put-get [--pes 2] [--mib 64] [--reps 21] [--json]
 *
 * Check, every repetition: the values put (different ones each repetition) come back from get
 * unchanged, and the baselines' copies too. Target (BENCHMARKS.md): ≥ 0.8× `TypedArray.set`.
 */
import { init } from "shoal";

import { endBenchmark, integerOption, printRows, secondsSince, settle, summarize, type Row } from "./harness.js";

const world = await init();
const mib = integerOption("mib", 64);
const reps = integerOption("reps", 21);
const length = Math.floor((mib * 2 ** 20) / 8);
const bytes = length * 8;

const array = await world.array("f64", length);

/** Throws unless `got` equals `want` element by element. */
function checkSame(got: Float64Array, want: Float64Array, what: string): void {
  for (let i = 0; i < want.length; i++) {
    if (got[i] !== want[i]) throw new Error(`put-get: ${what}: element ${i} is ${got[i]}, expected ${want[i]}`);
  }
}

if (world.pe === 0) {
  const values = new Float64Array(length);
  const out = new Float64Array(length);
  const shared = new Float64Array(new SharedArrayBuffer(bytes));
  const put: number[] = [];
  const get: number[] = [];
  const setIn: number[] = [];
  const setOut: number[] = [];
  /** Seconds of `copy`. */
  const timed = async (copy: () => unknown): Promise<number> => {
    const start = process.hrtime.bigint();
    await copy();
    return secondsSince(start);
  };
  /** Seconds of a copy into `out`, which is cleared first and checked after. */
  const timedOut = async (copy: () => unknown, what: string): Promise<number> => {
    out.fill(-1);
    const seconds = await timed(copy);
    checkSame(out, values, what);
    return seconds;
  };
  // Each copy is timed next to its counterpart, and which goes first alternates.
  for (let rep = -1; rep < reps; rep++) {
    for (let i = 0; i < length; i++) values[i] = i * 0.5 + rep;
    await settle(world);
    const putFirst = rep % 2 === 0;
    let putSeconds = putFirst ? await timed(() => array.put(0, values)) : 0;
    const setInSeconds = await timed(() => shared.set(values));
    if (!putFirst) putSeconds = await timed(() => array.put(0, values));
    let getSeconds = putFirst ? await timedOut(() => array.get(0, length, out), "get after put") : 0;
    const setOutSeconds = await timedOut(() => out.set(shared), "the baseline's copies");
    if (!putFirst) getSeconds = await timedOut(() => array.get(0, length, out), "get after put");
    if (rep >= 0) {
      put.push(bytes / putSeconds / 1e9);
      get.push(bytes / getSeconds / 1e9);
      setIn.push(bytes / setInSeconds / 1e9);
      setOut.push(bytes / setOutSeconds / 1e9);
    }
  }
  const p = summarize(put);
  const g = summarize(get);
  const i = summarize(setIn);
  const o = summarize(setOut);
  const checked = "every repetition's values came back from get unchanged (and from the baseline's copies)";
  const rows: Row[] = [
    {
      benchmark: "put-get", what: `shoal put(0, values), f64, ${mib} MiB, ${world.numPes} PEs, from PE 0`, unit: "GB/s", ...p,
      ratio: p.median / i.median, ratioOf: "put / set", target: "≥ 0.8×", check: checked,
    },
    { benchmark: "put-get", what: "baseline: shared.set(plain), the same bytes", unit: "GB/s", ...i, check: checked },
    {
      benchmark: "put-get", what: `shoal get(0, n, out), f64, ${mib} MiB, ${world.numPes} PEs, to PE 0`, unit: "GB/s", ...g,
      ratio: g.median / o.median, ratioOf: "get / set", target: "≥ 0.8×", check: checked,
    },
    { benchmark: "put-get", what: "baseline: plain.set(shared), the same bytes", unit: "GB/s", ...o, check: checked },
  ];
  printRows(rows);
}
await endBenchmark(world);
