/**
 * FFT building blocks that every PE has: complex FFTs of the rows of a block (over the `fft.js`
 * package, radix-4), the four-step algorithm's twiddle factors, and copies between complex
 * matrices, of which a transpose is one. The distributed FFT (`fft`, `fft2d` in `shoal`) is made
 * of them, and so can a user's own distributed transform be.
 *
 * **Layout.** A complex number is two adjacent f64, real part first (`re, im, re, im, …`), which
 * is fft.js's own layout: a block of a shoal array is transformed where it lies, with no
 * conversion. A `rows × cols` complex matrix is an `ndarray` view of shape `[rows, cols, 2]` over
 * a `Float64Array` (a PE's part: `array.localView([rows, cols, 2])`), and a single complex vector
 * one of shape `[n, 2]`. Its transpose is `view.transpose(1, 0, 2)`: no copy is made to look at a
 * block as a matrix either way round. The loops read a view's descriptor (data, shape, stride,
 * offset) once and index the typed array directly; none calls `get` or `set` per element, and none
 * allocates per element.
 *
 * Like every kernel, these are plain functions that each PE imports: nothing is registered at run
 * time, and nothing travels but data.
 *
 * @module
 */
import FFT from "fft.js";
import type ndarray from "ndarray";

import { ShoalRangeError, ShoalTypeError, describeValue } from "../src/errors.js";

/**
 * A complex vector or matrix: an `ndarray` view of shape `[n, 2]` or `[rows, cols, 2]` over a
 * `Float64Array`, whose last axis (real, imaginary) has stride 1. `array.localView([rows, cols, 2])`
 * gives one over a PE's part of an f64 array, and `view.transpose(1, 0, 2)` its transpose.
 *
 * @example
 * ```ts
 * import ndarray from "ndarray";
 * const signal: ComplexView = ndarray(new Float64Array(2 * 1024), [1024, 2]);
 * const block: ComplexView = a.localView([rows, cols, 2]);
 * ```
 */
export type ComplexView = ndarray.NdArray<ndarray.Data<number>>;

/**
 * Options of {@link fftRows}.
 *
 * @example
 * ```ts
 * const options: FftRowsOptions = { inverse: true, out: spectrumView };
 * fftRows(view, options);
 * ```
 */
export interface FftRowsOptions {
  /** The inverse transform (exponent +2πi jk/n, divided by n) instead of the forward one. Default false. */
  readonly inverse?: boolean;
  /** Where the results go: a view of the same shape (default: the input view itself, in place). */
  readonly out?: ComplexView;
}

/**
 * Options of {@link twiddleRows}.
 *
 * @example
 * ```ts
 * const options: TwiddleOptions = { rowStart: 64, inverse: false };
 * twiddleRows(view, 1 << 20, options);
 * ```
 */
export interface TwiddleOptions {
  /** The global index of the view's first row (default 0): row r is multiplied as row `rowStart + r`. */
  readonly rowStart?: number;
  /** Conjugate factors, for an inverse transform. Default false. */
  readonly inverse?: boolean;
}

// ------------------------------------------------------------------------------ local transforms

/** fft.js transforms of this thread, by size (each holds its size's tables). */
const kTransforms = new Map<number, FFT>();

/** Whether `n` is a positive power of two (1 included). @internal */
export function isPowerOfTwo(n: number): boolean {
  return Number.isSafeInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 2 ** 31;
}

/**
 * `out` ← the DFT of `data` (`size` complex points each, interleaved, distinct arrays of exactly
 * `2 * size` numbers): forward (unscaled), or with `inverse` the inverse divided by `size`.
 * `size` is a power of two; fft.js needs at least 2, and a transform of 1 point is a copy.
 * @internal
 */
export function transformInto(size: number, out: Float64Array, data: Float64Array, inverse: boolean): void {
  if (size === 1) {
    out[0] = data[0]!;
    out[1] = data[1]!;
    return;
  }
  let fft = kTransforms.get(size);
  if (fft === undefined) {
    fft = new FFT(size);
    kTransforms.set(size, fft);
  }
  if (inverse) fft.inverseTransform(out, data);
  else fft.transform(out, data);
}

// ------------------------------------------------------------------------------------ twiddles

/** Columns per block of {@link Twiddles.apply}. */
const kTwiddleBlock = 16;

/**
 * The factors ω^m = e^(−2πi m/n) of one power-of-two `n`, from two tables of about √n entries each
 * (ω^m = ω^(high part of m) · ω^(low part of m)), so that a factor costs one complex product
 * instead of a sine and a cosine, and stays within a few ulps wherever m is. @internal
 */
export class Twiddles {
  readonly n: number;
  readonly #shift: number;
  readonly #mask: number;
  /** ω^l for l < 2^shift, interleaved. */
  readonly #low: Float64Array;
  /** ω^(h·2^shift) for h < n / 2^shift, interleaved. */
  readonly #high: Float64Array;
  /** The factors of a row's first 16 columns, and of its current block (scratch of `apply`). */
  readonly #small = new Float64Array(2 * kTwiddleBlock);
  readonly #block = new Float64Array(2);

  constructor(n: number) {
    this.n = n;
    const bits = Math.round(Math.log2(n));
    this.#shift = Math.ceil(bits / 2);
    const lowSize = 2 ** this.#shift;
    this.#mask = lowSize - 1;
    const highSize = n / lowSize;
    this.#low = new Float64Array(2 * lowSize);
    this.#high = new Float64Array(2 * highSize);
    for (let l = 0; l < lowSize; l++) {
      const angle = (-2 * Math.PI * l) / n;
      this.#low[2 * l] = Math.cos(angle);
      this.#low[2 * l + 1] = Math.sin(angle);
    }
    for (let h = 0; h < highSize; h++) {
      const angle = (-2 * Math.PI * h * lowSize) / n;
      this.#high[2 * h] = Math.cos(angle);
      this.#high[2 * h + 1] = Math.sin(angle);
    }
  }

  /**
   * Multiplies the complex numbers at `data[at]`, `at = offset + c * stride` for c < count, by
   * ω^(step·c mod n), or by its conjugate when `inverse`. The factors go by blocks of 16: ω^(step·c)
   * = ω^(step·16h) · ω^(step·l) for c = 16h + l, so the tables are read 16 times per row and once
   * per block, and each number costs two complex products.
   */
  apply(data: Float64Array, offset: number, stride: number, count: number, step: number, inverse: boolean): void {
    const n = this.n;
    const sign = inverse ? -1 : 1;
    const small = this.#small;
    const increment = step % n;
    // small[l] = ω^(step·l) for l < 16.
    for (let l = 0, m = 0; l < kTwiddleBlock; l++) {
      this.#factor(m, small, 2 * l, sign);
      m += increment;
      if (m >= n) m -= n;
    }
    const blockIncrement = (kTwiddleBlock * increment) % n;
    const block = this.#block;
    let mBlock = 0;
    for (let c0 = 0, at = offset; c0 < count; c0 += kTwiddleBlock) {
      this.#factor(mBlock, block, 0, sign);
      const ar = block[0]!;
      const ai = block[1]!;
      const end = Math.min(kTwiddleBlock, count - c0);
      for (let l = 0; l < end; l++, at += stride) {
        const br = small[2 * l]!;
        const bi = small[2 * l + 1]!;
        const wr = ar * br - ai * bi;
        const wi = ar * bi + ai * br;
        const xr = data[at]!;
        const xi = data[at + 1]!;
        data[at] = xr * wr - xi * wi;
        data[at + 1] = xr * wi + xi * wr;
      }
      mBlock += blockIncrement;
      if (mBlock >= n) mBlock -= n;
    }
  }

  /** Writes ω^m (m < n) to `out[at]`, `out[at + 1]`, its imaginary part times `sign`. */
  #factor(m: number, out: Float64Array, at: number, sign: number): void {
    const h = (m >>> this.#shift) << 1;
    const l = (m & this.#mask) << 1;
    const high = this.#high;
    const low = this.#low;
    out[at] = high[h]! * low[l]! - high[h + 1]! * low[l + 1]!;
    out[at + 1] = sign * (high[h]! * low[l + 1]! + high[h + 1]! * low[l]!);
  }
}

const kTwiddles = new Map<number, Twiddles>();

/** The twiddle tables of `n` (a power of two), built once per thread. @internal */
export function twiddlesOf(n: number): Twiddles {
  let twiddles = kTwiddles.get(n);
  if (twiddles === undefined) {
    twiddles = new Twiddles(n);
    kTwiddles.set(n, twiddles);
  }
  return twiddles;
}

// ---------------------------------------------------------------------------------------- copies

/** The side of the tiles a strided copy (a transpose) goes by: 8 × 8 complex numbers, two cache lines a row. */
const kTile = 8;
/** Rows at least this long (complex numbers) are copied with `TypedArray.set` when both sides are contiguous. */
const kSetWidth = 16;

/**
 * Copies a `rows × cols` complex matrix: element (i, j) of the source, at
 * `src[sOff + i * sRow + j * sCol]` (real) and the next number (imaginary), to the same place of
 * the destination's strides. Strides count numbers, so a contiguous row has a column stride of 2.
 * Rows that are contiguous on both sides are copied with `set`; any other shape (a transpose) goes
 * by tiles of {@link kTile} × {@link kTile}, so that the lines of both sides stay in cache while a
 * tile is copied. The two must not overlap. @internal
 */
export function copyBlock(
  dst: Float64Array, dOff: number, dRow: number, dCol: number,
  src: Float64Array, sOff: number, sRow: number, sCol: number,
  rows: number, cols: number,
): void {
  if (dCol === 2 && sCol === 2 && cols >= kSetWidth) {
    const width = 2 * cols;
    for (let i = 0, s = sOff, d = dOff; i < rows; i++, s += sRow, d += dRow) dst.set(src.subarray(s, s + width), d);
    return;
  }
  for (let i0 = 0; i0 < rows; i0 += kTile) {
    const i1 = Math.min(rows, i0 + kTile);
    for (let j0 = 0; j0 < cols; j0 += kTile) {
      const j1 = Math.min(cols, j0 + kTile);
      for (let i = i0; i < i1; i++) {
        let s = sOff + i * sRow + j0 * sCol;
        let d = dOff + i * dRow + j0 * dCol;
        for (let j = j0; j < j1; j++) {
          dst[d] = src[s]!;
          dst[d + 1] = src[s + 1]!;
          s += sCol;
          d += dCol;
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------- the views

/** A complex view read once: its data and its shape and strides as a matrix (a vector is one row). */
interface Matrix {
  readonly data: Float64Array;
  readonly offset: number;
  readonly rows: number;
  readonly cols: number;
  readonly rowStride: number;
  readonly colStride: number;
}

function matrixOf(what: string, name: string, view: unknown): Matrix {
  const v = view as Partial<ComplexView> | null;
  const shape = v?.shape;
  const stride = v?.stride;
  if (typeof v !== "object" || v === null || !Array.isArray(shape) || !Array.isArray(stride) || typeof v.offset !== "number") {
    throw new ShoalTypeError(`${what}: expected ${name} to be an ndarray view of shape [n, 2] or [rows, cols, 2], got ${describeValue(view)}`);
  }
  if (!(v.data instanceof Float64Array)) {
    throw new ShoalTypeError(`${what}: expected ${name} to be a view over a Float64Array (interleaved complex f64), got one over ${describeValue(v.data)}`);
  }
  const dims = shape.length;
  if ((dims !== 2 && dims !== 3) || shape[dims - 1] !== 2 || stride[dims - 1] !== 1) {
    throw new ShoalRangeError(
      `${what}: expected ${name} to have shape [n, 2] or [rows, cols, 2] with the real and imaginary parts adjacent (last stride 1), ` +
      `got shape [${shape.join(", ")}] and strides [${stride.join(", ")}]; view a part as array.localView([rows, cols, 2])`,
    );
  }
  return dims === 2
    ? { data: v.data, offset: v.offset, rows: 1, cols: shape[0]!, rowStride: 0, colStride: stride[0]! }
    : { data: v.data, offset: v.offset, rows: shape[0]!, cols: shape[1]!, rowStride: stride[0]!, colStride: stride[1]! };
}

function sameShape(what: string, a: Matrix, b: Matrix): void {
  if (a.rows !== b.rows || a.cols !== b.cols) {
    throw new ShoalRangeError(`${what}: expected out to have the input's shape, ${a.rows} × ${a.cols} complex, got ${b.rows} × ${b.cols}`);
  }
}

/** Scratch rows of this thread, for rows that are not contiguous and for fft.js's output. */
let scratchIn = new Float64Array(0);
let scratchOut = new Float64Array(0);

/**
 * The FFT of every row of a complex matrix view (`[rows, n, 2]`), or of a complex vector (`[n, 2]`),
 * with `n` a power of two: in place, or into `options.out`. A row whose numbers are adjacent is read
 * where it lies; another (a column of the underlying matrix, through a transposed view) is
 * gathered first. Forward transforms are unscaled; `{ inverse: true }` divides by `n`.
 *
 * Column FFTs are row FFTs of the transposed view, and a 2-D FFT of a local block is both:
 *
 * @example
 * ```ts
 * import { fftRows } from "shoal";
 * const block = a.localView([rows, cols, 2]); // this PE's part, as a rows × cols complex matrix
 * fftRows(block);                             // along each row
 * fftRows(block.transpose(1, 0, 2));          // along each column: a 2-D FFT of the block
 * ```
 */
export function fftRows(view: ComplexView, options: FftRowsOptions = {}): void {
  const what = "fftRows";
  const src = matrixOf(what, "the view", view);
  const dst = options.out === undefined ? src : matrixOf(what, "out", options.out);
  sameShape(what, src, dst);
  const n = src.cols;
  if (!isPowerOfTwo(n)) {
    throw new ShoalRangeError(`${what}: expected rows of a power-of-two number of complex points, got ${n}; pad each row with zeros to ${nextPowerOfTwo(n)}`);
  }
  const inverse = options.inverse === true;
  const width = 2 * n;
  if (scratchIn.length < width) {
    scratchIn = new Float64Array(width);
    scratchOut = new Float64Array(width);
  }
  const rowIn = scratchIn.subarray(0, width);
  const rowOut = scratchOut.subarray(0, width);
  for (let r = 0; r < src.rows; r++) {
    const from = src.offset + r * src.rowStride;
    let input: Float64Array;
    if (src.colStride === 2) {
      input = src.data.subarray(from, from + width);
    } else {
      copyBlock(rowIn, 0, 0, 2, src.data, from, 0, src.colStride, 1, n);
      input = rowIn;
    }
    transformInto(n, rowOut, input, inverse);
    copyBlock(dst.data, dst.offset + r * dst.rowStride, 0, dst.colStride, rowOut, 0, 0, 2, 1, n);
  }
}

/**
 * The four-step FFT's twiddle factors: multiplies element (r, c) of a complex matrix view by
 * ω^((rowStart + r)·c), with ω = e^(−2πi/n) (its conjugate with `inverse`) and `n` a power of two:
 * the total length of the transform the view is a part of. Between the two passes of the four-step
 * algorithm over an `R × C` matrix (n = R·C), this turns `C` FFTs of length R into pieces of one
 * FFT of length n.
 *
 * @example
 * ```ts
 * import { fftRows, twiddleRows } from "shoal";
 * // The middle of a four-step FFT of length n = R * C, on rows b of the transposed input:
 * fftRows(rowsOfB);                               // FFTs of length R
 * twiddleRows(rowsOfB, R * C, { rowStart: firstB }); // element (b, k) times ω^(b·k)
 * ```
 */
export function twiddleRows(view: ComplexView, n: number, options: TwiddleOptions = {}): void {
  const what = "twiddleRows";
  const m = matrixOf(what, "the view", view);
  if (!isPowerOfTwo(n)) throw new ShoalRangeError(`${what}: expected n, the transform's length, to be a power of two, got ${describeValue(n)}`);
  const rowStart = options.rowStart ?? 0;
  if (!Number.isSafeInteger(rowStart) || rowStart < 0) {
    throw new ShoalRangeError(`${what}: expected rowStart to be an integer of at least 0, got ${describeValue(rowStart)}`);
  }
  const twiddles = twiddlesOf(n);
  const inverse = options.inverse === true;
  for (let r = 0; r < m.rows; r++) twiddles.apply(m.data, m.offset + r * m.rowStride, m.colStride, m.cols, (rowStart + r) % n, inverse);
}

/**
 * Copies the complex matrix (or vector) `view` into `out`, a view of the same shape over any
 * strides: with a transposed view on either side, a transpose. Strided copies go by small tiles,
 * so that both sides' cache lines are used whole.
 *
 * @example
 * ```ts
 * import { copyComplex } from "shoal";
 * import ndarray from "ndarray";
 * const block = a.localView([rows, cols, 2]);
 * const transposed = ndarray(new Float64Array(2 * rows * cols), [cols, rows, 2]);
 * copyComplex(transposed, block.transpose(1, 0, 2));
 * ```
 */
export function copyComplex(out: ComplexView, view: ComplexView): void {
  const what = "copyComplex";
  const src = matrixOf(what, "the view", view);
  const dst = matrixOf(what, "out", out);
  sameShape(what, src, dst);
  copyBlock(dst.data, dst.offset, dst.rowStride, dst.colStride, src.data, src.offset, src.rowStride, src.colStride, src.rows, src.cols);
}

/** The least power of two of at least `n` (1 for n ≤ 1). @internal */
export function nextPowerOfTwo(n: number): number {
  return n <= 1 ? 1 : 2 ** Math.ceil(Math.log2(n));
}
