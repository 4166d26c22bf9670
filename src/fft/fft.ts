/**
 * The distributed FFTs: `fft` and `ifft` of a complex vector, `fft2d` and `ifft2d` of a complex
 * matrix, in place, on a block-distributed f64 array holding interleaved complex numbers.
 *
 * @module
 */
import ndarray from "ndarray";

import { DistArray } from "../array/index.js";
import { fftRows, isPowerOfTwo, nextPowerOfTwo, transformInto, twiddlesOf } from "../../kernels/index.js";
import { CollectiveError, ShoalRangeError, ShoalTypeError, StateError, describeValue } from "../errors.js";
import type { Team } from "../team/index.js";
import { FftPlan, planFor } from "./plan.js";

/**
 * Options of {@link fft} and {@link fft2d}.
 *
 * @example
 * ```ts
 * const options: FftOptions = { inverse: true };
 * await fft(spectrum, options); // the same as ifft(spectrum)
 * ```
 */
export interface FftOptions {
  /**
   * The inverse transform, exponent +2πi jk/n and divided by n, so that it undoes the forward one.
   * Default false: the forward transform, exponent −2πi jk/n, unscaled.
   */
  readonly inverse?: boolean;
}

/** Teams with a transform running on this PE: a second one at once would interleave their exchanges. */
const kRunning = new WeakSet<Team>();

/**
 * Collective: the discrete Fourier transform of a complex vector, in place:
 * `X[k] = Σ_j x[j]·e^(−2πi jk/n)`, or with `{ inverse: true }` the inverse, divided by n. Every PE
 * of the array's team calls it, with the same options, and it resolves on each once the whole
 * array holds the transform.
 *
 * **Layout.** The array is `world.array("f64", 2 * n)` with the block distribution (the default):
 * complex number j is `[2j]` (real part) and `[2j + 1]` (imaginary part), so each PE holds a
 * contiguous run of 2n/P f64 (of n/P whole numbers, unless n < P), in natural order before and after. n must be a power of two,
 * and the team's size too (1, 2, 4, 8, … PEs). The layout is fft.js's, so the local transforms run
 * on the array's memory without conversion, and a transpose moves one buffer per PE pair instead
 * of two.
 *
 * **Algorithm** (the transpose or "six-step" form of the four-step FFT). With n = R·C and the
 * vector seen as an `R × C` matrix (each PE holding R/P of its rows): a transpose (`alltoallv`)
 * gives each PE C/P columns; FFTs of length R along them; the twiddle factors ω^(b·k); a transpose;
 * FFTs of length C; a transpose back to natural order. Each PE transforms n/P numbers and sends
 * (P−1)/P of them at each of the three transposes. With n < P² the matrix cannot be cut that way,
 * and every PE gathers the (short) vector, transforms it and keeps its part.
 *
 * Errors, thrown on every PE alike before anything is sent: an array that is not f64
 * (`ShoalTypeError`), cyclic (`ShoalTypeError`), of odd length, of a length that is not twice a
 * power of two, or on a team whose size is not a power of two (`ShoalRangeError`). Each message
 * names the fix.
 *
 * @example
 * ```ts
 * import { fft, ifft, init } from "shoal";
 * const world = await init();
 * const n = 1 << 20;
 * const signal = await world.array("f64", 2 * n);          // n complex numbers
 * const first = signal.globalIndex(world.pe, 0) / 2;       // this PE's first complex number
 * for (let k = 0; k < signal.local.length / 2; k++) signal.local[2 * k] = Math.cos((2 * Math.PI * 5 * (first + k)) / n);
 * await fft(signal);                                       // peaks at 5 and n − 5
 * await ifft(signal);                                      // the signal again
 * ```
 */
export async function fft(array: DistArray<"f64">, options: FftOptions = {}): Promise<void> {
  const inverse = inverseOf("fft", options);
  const what = inverse ? "ifft" : "fft";
  const n = complexLength(what, array);
  const team = teamOf(what, array);
  await running(what, team, async () => {
    const pes = team.numPes;
    const call = `${what} of ${n} points`;
    const local = array.local;
    const bits = Math.log2(n);
    const cols = 2 ** Math.floor(bits / 2);
    const rows = n / cols;
    if (pes > cols) {
      await gathered(team, call, local, [n], inverse);
      return;
    }
    // The vector as a rows × cols matrix; this PE holds rows/P of its rows.
    const rowsPer = rows / pes;
    const colsPer = cols / pes;
    const plan = planFor(team, `fft ${n}`, () => new FftPlan(team, rowsPer, colsPer, rows));
    // 1. Its columns cut into P blocks, block q for rank q: after the exchange, C/P whole columns.
    plan.cutColumns(local, rowsPer, cols);
    let chunks = await plan.exchange(call, colsPer);
    plan.ownFromLocal(chunks, local, 2 * team.pe * colsPer, 2 * cols);
    // 2. FFTs of length R down each column b, times ω^(b·k) of n, each cut by rows for the next exchange.
    plan.columnPass(chunks, rowsPer, colsPer, inverse, twiddlesOf(n), team.pe * colsPer, false);
    chunks = await plan.exchange(call, rowsPer);
    // 3. FFTs of length C along each row k1, whose element k2 is X[k1 + R·k2], cut into pieces for
    //    the owners of k2, each piece written as a column: the transpose back into natural order.
    plan.columnPass(chunks, colsPer, rowsPer, inverse, undefined, 0, true);
    chunks = await plan.exchange(call, rowsPer);
    // 4. This PE's part, X[k2·R + k1] for its C/P values of k2: the chunks side by side.
    plan.unpack(chunks, local, colsPer, rowsPer);
  });
  await team.barrier();
}

/**
 * Collective: the inverse of {@link fft}, in place: `x[j] = (1/n) Σ_k X[k]·e^(+2πi jk/n)`. The same
 * as `fft(array, { inverse: true })`, with the same layout and errors.
 *
 * @example
 * ```ts
 * await fft(signal);
 * // … filter the spectrum: each PE zeroes some of its own numbers …
 * await ifft(signal); // back to the (filtered) signal
 * ```
 */
export function ifft(array: DistArray<"f64">): Promise<void> {
  return fft(array, { inverse: true });
}

/**
 * Collective: the 2-D discrete Fourier transform of a complex matrix, in place: every row's FFT,
 * then every column's. `shape` is `[rows, cols]`, both powers of two; the array is
 * `world.array("f64", 2 * rows * cols)`, block-distributed (each PE holds rows/P whole rows),
 * row-major and interleaved: element (r, c) is `[2 (r·cols + c)]` and the next number. Every PE
 * calls it with the same shape and options.
 *
 * Algorithm: FFTs of each PE's own rows; a transpose (`alltoallv`) that gives each PE cols/P whole
 * columns; their FFTs; a transpose back. With fewer rows or columns than PEs, every PE gathers the
 * (small) matrix instead. Errors are those of {@link fft}, and a shape whose size is not the
 * array's (`ShoalRangeError`).
 *
 * @example
 * ```ts
 * import { fft2d, init } from "shoal";
 * const world = await init();
 * const [rows, cols] = [1024, 512];
 * const image = await world.array("f64", 2 * rows * cols);
 * const mine = image.localView([rows / world.numPes, cols, 2]); // this PE's rows, as complex
 * const firstRow = image.globalIndex(world.pe, 0) / (2 * cols);
 * for (let r = 0; r < mine.shape[0]!; r++) mine.set(r, (firstRow + r) % cols, 0, 1); // a diagonal line
 * await fft2d(image, [rows, cols]);
 * ```
 */
export async function fft2d(array: DistArray<"f64">, shape: readonly [number, number], options: FftOptions = {}): Promise<void> {
  const inverse = inverseOf("fft2d", options);
  const what = inverse ? "ifft2d" : "fft2d";
  const n = complexLength(what, array, true);
  if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((side) => typeof side === "number" && Number.isSafeInteger(side) && side >= 1)) {
    const got = Array.isArray(shape) ? `[${shape.map((side) => describeValue(side)).join(", ")}]` : describeValue(shape);
    throw new ShoalTypeError(`${what}: expected a shape [rows, cols] of two positive integers, got ${got}`);
  }
  const [rows, cols] = shape;
  for (const [name, side] of [["rows", rows], ["cols", cols]] as const) {
    if (!isPowerOfTwo(side)) throw new ShoalRangeError(`${what}: expected ${name} to be a power of two, got ${side}; pad the matrix with zeros to ${nextPowerOfTwo(side)} ${name}`);
  }
  if (rows * cols !== n) {
    throw new ShoalRangeError(`${what}: shape [${rows}, ${cols}] has ${rows * cols} complex numbers (${2 * rows * cols} f64), but the array holds ${n} (length ${array.length}); create it with world.array("f64", 2 * rows * cols)`);
  }
  const team = teamOf(what, array);
  await running(what, team, async () => {
    const pes = team.numPes;
    const call = `${what} of ${rows} × ${cols}`;
    const local = array.local;
    if (pes > rows || pes > cols) {
      await gathered(team, call, local, [rows, cols], inverse);
      return;
    }
    const rowsPer = rows / pes;
    const colsPer = cols / pes;
    const plan = planFor(team, `fft2d ${rows} ${cols}`, () => new FftPlan(team, rowsPer, colsPer, Math.max(rows, cols)));
    // 1. FFTs of this PE's rows, each cut by columns: after the exchange, cols/P whole columns.
    plan.rowPass(local, rowsPer, cols, inverse);
    let chunks = await plan.exchange(call, colsPer);
    // 2. FFTs down each column, cut into pieces for the owners of the rows, each written as a column.
    plan.columnPass(chunks, rowsPer, colsPer, inverse, undefined, 0, true);
    chunks = await plan.exchange(call, colsPer);
    // 3. The chunks side by side: this PE's rows.
    plan.unpack(chunks, local, rowsPer, colsPer);
  });
  await team.barrier();
}

/**
 * Collective: the inverse of {@link fft2d}, in place (divided by rows·cols). The same as
 * `fft2d(array, shape, { inverse: true })`.
 *
 * @example
 * ```ts
 * await fft2d(image, [rows, cols]);
 * await ifft2d(image, [rows, cols]); // the image again
 * ```
 */
export function ifft2d(array: DistArray<"f64">, shape: readonly [number, number]): Promise<void> {
  return fft2d(array, shape, { inverse: true });
}

// ------------------------------------------------------------------------------------- checks

function inverseOf(what: string, options: FftOptions): boolean {
  if (typeof options !== "object" || options === null) throw new ShoalTypeError(`${what}: expected options { inverse?: boolean }, got ${describeValue(options)}`);
  const inverse = options.inverse ?? false;
  if (typeof inverse !== "boolean") throw new ShoalTypeError(`${what}: expected inverse to be true or false, got ${describeValue(inverse)}`);
  return inverse;
}

/** The number of complex numbers `array` holds, once it is known to be a block f64 array of whole ones (a power of two of them, unless `anyCount`). */
function complexLength(what: string, array: DistArray<"f64">, anyCount = false): number {
  if (!(array instanceof DistArray)) {
    throw new ShoalTypeError(`${what}: expected a DistArray of f64 holding interleaved complex numbers (from world.array("f64", 2 * n)), got ${describeValue(array)}`);
  }
  const dtype: string = array.dtype;
  if (dtype !== "f64") {
    throw new ShoalTypeError(`${what}: expected an f64 array of interleaved complex numbers (re, im, re, im, …), got an array of dtype ${dtype}; create it with world.array("f64", 2 * n) and copy the values in`);
  }
  if (array.dist !== "block") {
    throw new ShoalTypeError(`${what}: expected a block-distributed array, got a ${array.dist} one; the transposes move contiguous runs of complex numbers: create the array with world.array("f64", 2 * n) (block is the default) and copy the values in`);
  }
  const length = array.length;
  if (length % 2 !== 0) {
    throw new ShoalRangeError(`${what}: expected an even length, two f64 (re, im) per complex number, got ${length}; an array of n complex numbers has length 2 * n`);
  }
  const n = length / 2;
  if (n === 0) throw new ShoalRangeError(`${what}: expected at least one complex number, got an empty array`);
  if (!anyCount && !isPowerOfTwo(n)) {
    const padded = nextPowerOfTwo(n);
    throw new ShoalRangeError(`${what}: expected a power-of-two number of complex numbers, got ${n} (length ${length}); pad with zeros to ${padded} (length ${2 * padded})`);
  }
  return n;
}

/** The array's team, once it is known to have a power-of-two number of PEs. */
function teamOf(what: string, array: DistArray<"f64">): Team {
  const team = array.team;
  const pes = team.numPes;
  if (!isPowerOfTwo(pes)) {
    const fewer = 2 ** Math.floor(Math.log2(pes));
    throw new ShoalRangeError(
      `${what}: expected the array's team to have a power-of-two number of PEs (1, 2, 4, 8, …), which split the complex numbers evenly, got ${pes}; ` +
      `run on ${fewer} or ${2 * fewer} PEs, or create the array on a team of ${fewer}: world.array("f64", 2 * n, { team: await world.team({ start: 0, stride: 1, size: ${fewer} }) })`,
    );
  }
  return team;
}

/** Runs `body`, refusing a second transform on `team` while one runs on this PE. */
async function running(what: string, team: Team, body: () => Promise<void>): Promise<void> {
  if (kRunning.has(team)) {
    throw new StateError(`${what}: another FFT on this team has not finished on this PE; await each transform before starting the next`);
  }
  kRunning.add(team);
  try {
    await body();
  } finally {
    kRunning.delete(team);
  }
}

/**
 * A transform too small to cut over the PEs (fewer rows or columns than PEs): every PE gathers the
 * whole array (`allgather`, which also checks that every member made the same call), transforms
 * it, and keeps its part.
 */
async function gathered(team: Team, call: string, local: Float64Array, shape: readonly number[], inverse: boolean): Promise<void> {
  const parts = await team.allgather<[string, Float64Array]>([call, local.slice()]);
  let length = 0;
  for (const [rank, [theirs, part]] of parts.entries()) {
    if (theirs !== call) {
      throw new CollectiveError(`${call}: rank ${rank} of the array's team called ${theirs} while rank ${team.pe} called ${call}; every member must make the same call`);
    }
    length += part.length;
  }
  const whole = new Float64Array(length);
  let at = 0;
  let mine = 0;
  for (const [rank, [, part]] of parts.entries()) {
    if (rank === team.pe) mine = at;
    whole.set(part, at);
    at += part.length;
  }
  const n = length / 2;
  if (shape.length === 1) {
    const out = new Float64Array(length);
    transformInto(n, out, whole, inverse);
    local.set(out.subarray(mine, mine + local.length));
    return;
  }
  const [rows, cols] = shape as [number, number];
  const view = ndarray(whole, [rows, cols, 2]);
  fftRows(view, { inverse });
  fftRows(view.transpose(1, 0, 2), { inverse });
  local.set(whole.subarray(mine, mine + local.length));
}
