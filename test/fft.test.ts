// The distributed FFTs (fft, ifft, fft2d, ifft2d) against the direct O(n²) DFT, computed here from
// the seeded inputs of test/fixtures/fft-plan.ts, on every process shape: 1 to 8 PEs in one process,
// N processes of one PE, 2 processes of 2 PEs. One job per shape runs every case
// (test/fixtures/fft.ts) on a team of the largest power-of-two number of PEs: the world, except on
// 3 PEs, where the world's arrays must be refused with the error that names that team. "Within
// 1e-9" is relative to the largest magnitude of the expected vector: max |got − expected| ≤
// 1e-9 · max |expected|.
import { beforeAll, describe, expect, it } from "vitest";

import {
  inputOf, kErrorCases, kLongCases, kMatrixCases, kTeamSizeError, kVectorCases, sampleBins, teamSizeFor, type MatrixCase, type VectorCase,
} from "./fixtures/fft-plan.js";
import { kShapes, onePerPe, recordsOf, runJob, type JobResult } from "./helpers/job.js";


const kTolerance = 1e-9;

// ------------------------------------------------------------------------------------- oracles

/** e^(sign·2πi m/n) for m < n, interleaved: the exact factors of a direct DFT of length n. */
function rootsOf(n: number, sign: number): Float64Array {
  const roots = new Float64Array(2 * n);
  for (let m = 0; m < n; m++) {
    roots[2 * m] = Math.cos((2 * Math.PI * m) / n);
    roots[2 * m + 1] = sign * Math.sin((2 * Math.PI * m) / n);
  }
  return roots;
}

/** Bin k of the direct DFT of x (n points): Σ_j x[j]·e^(∓2πi jk/n), divided by n when inverse. */
function directBin(x: Float64Array, k: number, roots: Float64Array, inverse: boolean): [number, number] {
  const n = x.length / 2;
  let re = 0;
  let im = 0;
  for (let j = 0; j < n; j++) {
    const m = (j * k) % n;
    const wr = roots[2 * m]!;
    const wi = roots[2 * m + 1]!;
    re += x[2 * j]! * wr - x[2 * j + 1]! * wi;
    im += x[2 * j]! * wi + x[2 * j + 1]! * wr;
  }
  return inverse ? [re / n, im / n] : [re, im];
}

/** The direct DFT of x, forward (e^(−2πi jk/n)) or inverse (e^(+2πi jk/n) / n). */
function directDft(x: Float64Array, inverse: boolean): Float64Array {
  const n = x.length / 2;
  const roots = rootsOf(n, inverse ? 1 : -1);
  const out = new Float64Array(2 * n);
  for (let k = 0; k < n; k++) [out[2 * k], out[2 * k + 1]] = directBin(x, k, roots, inverse);
  return out;
}

/** The direct 2-D DFT of a rows × cols matrix: X[u][v] = Σ_r Σ_c x[r][c]·e^(−2πi (ur/rows + vc/cols)). */
function directDft2d(x: Float64Array, rows: number, cols: number): Float64Array {
  const rowRoots = rootsOf(rows, -1);
  const colRoots = rootsOf(cols, -1);
  const out = new Float64Array(2 * rows * cols);
  for (let u = 0; u < rows; u++) {
    for (let v = 0; v < cols; v++) {
      let re = 0;
      let im = 0;
      for (let r = 0; r < rows; r++) {
        const mr = (u * r) % rows;
        const ar = rowRoots[2 * mr]!;
        const ai = rowRoots[2 * mr + 1]!;
        for (let c = 0; c < cols; c++) {
          const mc = (v * c) % cols;
          const wr = ar * colRoots[2 * mc]! - ai * colRoots[2 * mc + 1]!;
          const wi = ar * colRoots[2 * mc + 1]! + ai * colRoots[2 * mc]!;
          const at = 2 * (r * cols + c);
          re += x[at]! * wr - x[at + 1]! * wi;
          im += x[at]! * wi + x[at + 1]! * wr;
        }
      }
      out[2 * (u * cols + v)] = re;
      out[2 * (u * cols + v) + 1] = im;
    }
  }
  return out;
}

const kOracles = new Map<string, Float64Array>();

/** An oracle, computed once for all the shapes. */
function oracle(key: string, compute: () => Float64Array): Float64Array {
  let value = kOracles.get(key);
  if (value === undefined) kOracles.set(key, (value = compute()));
  return value;
}

const forwardOf = (c: VectorCase): Float64Array => oracle(`fft ${c.name}`, () => directDft(inputOf(c.seed, c.n), false));
const inverseOf = (c: VectorCase): Float64Array => oracle(`ifft ${c.name}`, () => directDft(inputOf(c.seed, c.n), true));
const forward2dOf = (c: MatrixCase): Float64Array => oracle(`fft2d ${c.name}`, () => directDft2d(inputOf(c.seed, c.rows * c.cols), c.rows, c.cols));

/** max |got − expected| / max |expected| over complex numbers (0 when both are 0). */
function relativeError(got: ArrayLike<number>, expected: ArrayLike<number>): number {
  let error = 0;
  let scale = 0;
  for (let k = 0; k < expected.length; k += 2) {
    error = Math.max(error, Math.hypot(got[k]! - expected[k]!, got[k + 1]! - expected[k + 1]!));
    scale = Math.max(scale, Math.hypot(expected[k]!, expected[k + 1]!));
  }
  return scale === 0 ? error : error / scale;
}

function expectClose(got: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  expect(got.length, `${label}: length`).toBe(expected.length);
  const error = relativeError(got, expected);
  expect(error, `${label}: relative error ${error.toExponential(2)}`).toBeLessThanOrEqual(kTolerance);
}

// ------------------------------------------------------------------------------------- records

/**
 * The whole result of `kind` for case `name` (n complex numbers), put together from the team members'
 * parts: one record per rank, each part starting (`start`, an f64 index) where the last one ended.
 */
function assemble(job: JobResult, kind: string, name: string, n: number, teamSize: number): Float64Array {
  const records = recordsOf(job, kind).filter((r) => r["case"] === name).sort((a, b) => Number(a["rank"]) - Number(b["rank"]));
  expect(records.map((r) => r["rank"]), `${kind} ${name}: one record per rank of the team`).toEqual([...Array(teamSize).keys()]);
  const whole = new Float64Array(2 * n);
  let next = 0;
  for (const record of records) {
    const values = record["values"] as number[];
    if (values.length > 0) {
      expect(record["start"], `${kind} ${name}: rank ${String(record["rank"])}'s part starts where the last ended`).toBe(next);
      whole.set(values, next);
      next += values.length;
    }
  }
  expect(next, `${kind} ${name}: the parts cover the array`).toBe(2 * n);
  return whole;
}

// ---------------------------------------------------------------------------------------- tests

describe.each(kShapes)("distributed FFT on $name", ({ pes, procs }) => {
  const teamSize = teamSizeFor(pes);
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "fft.ts", { procs, timeoutMs: 90_000 });
  }, 100_000);

  it("runs to completion: exit code 0, nothing on stderr, every PE done", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
    onePerPe(job, "done", pes);
  });

  it("fft of 1 to 1024 points (every power of two) matches the direct DFT within 1e-9, each PE holding its block in natural order", () => {
    for (const c of kVectorCases) expectClose(assemble(job, "fft", c.name, c.n, teamSize), forwardOf(c), `fft ${c.name}`);
  });

  it("fft with { inverse: true } matches the direct inverse DFT divided by n, within 1e-9", () => {
    for (const c of kVectorCases) expectClose(assemble(job, "ifft", c.name, c.n, teamSize), inverseOf(c), `ifft ${c.name}`);
  });

  it("ifft(fft(x)) returns x within 1e-9, from 1 to 1024 points", () => {
    for (const c of kVectorCases) expectClose(assemble(job, "roundTrip", c.name, c.n, teamSize), inputOf(c.seed, c.n), `ifft(fft(x)) ${c.name}`);
  });

  it("fft of 2^14 and 2^16 points matches the direct DFT at sampled bins within 1e-9, and ifft returns x", () => {
    for (const c of kLongCases) {
      const x = inputOf(c.seed, c.n);
      const roots = rootsOf(c.n, -1);
      const expected = oracle(`long ${c.name}`, () => {
        const bins = sampleBins(c);
        const out = new Float64Array(2 * bins.length);
        bins.forEach((k, i) => ([out[2 * i], out[2 * i + 1]] = directBin(x, k, roots, false)));
        return out;
      });
      const got = recordsOf(job, "long").filter((r) => r["case"] === c.name).flatMap((r) => r["bins"] as [number, number, number][]).sort((a, b) => a[0] - b[0]);
      expect(got.map(([k]) => k), `long ${c.name}: every sampled bin, once`).toEqual(sampleBins(c));
      expectClose(got.flatMap(([, re, im]) => [re, im]), expected, `fft ${c.name} at ${got.length} bins`);
      expectClose(assemble(job, "longRoundTrip", c.name, c.n, teamSize), x, `ifft(fft(x)) ${c.name}`);
    }
  });

  it("fft2d of square, wide, tall and tiny matrices matches the direct 2-D DFT within 1e-9, and ifft2d returns x", () => {
    for (const c of kMatrixCases) {
      const n = c.rows * c.cols;
      expectClose(assemble(job, "fft2d", c.name, n, teamSize), forward2dOf(c), `fft2d ${c.name}`);
      expectClose(assemble(job, "roundTrip2d", c.name, n, teamSize), inputOf(c.seed, n), `ifft2d(fft2d(x)) ${c.name}`);
    }
  });

  it("refuses a bad array or argument on every PE with a typed error whose message names the fix", () => {
    const records = recordsOf(job, "error");
    for (const c of kErrorCases) {
      const mine = records.filter((r) => r["case"] === c.name);
      expect(mine.map((r) => r["rank"]).sort(), `${c.name}: one record per rank`).toEqual([...Array(teamSize).keys()]);
      for (const record of mine) {
        expect(record["name"], c.name).toBe(c.expect.name);
        for (const text of c.expect.says) expect(record["message"], c.name).toContain(text);
      }
    }
  });

  if (teamSize > 1) {
    it("fails on every member with a CollectiveError when members make different calls, and the next transform is right", () => {
      const records = recordsOf(job, "mismatch");
      const cases = [...new Set(records.map((r) => String(r["case"])))];
      expect(cases).toHaveLength(3);
      for (const name of cases) {
        const mine = records.filter((r) => r["case"] === name);
        expect(mine).toHaveLength(teamSize);
        for (const record of mine) {
          expect(record["name"], name).toBe("CollectiveError");
          expect(record["message"], name).toContain("every member must make the same call");
        }
      }
      const c = kVectorCases[6]!;
      expectClose(assemble(job, "afterMismatch", c.name, c.n, teamSize), forwardOf(c), `fft ${c.name} after the failed calls`);
    });
  }

  if (teamSize !== pes) {
    it(`refuses a transform on the ${pes} PEs of the world on every PE, naming a team of ${teamSize} (where the cases above ran)`, () => {
      const records = recordsOf(job, "teamSize");
      expect(records).toHaveLength(2 * pes);
      for (const record of records) {
        expect(record["name"]).toBe(kTeamSizeError.name);
        for (const text of kTeamSizeError.says) expect(record["message"]).toContain(text);
      }
    });
  }
});
