// The FFT building blocks of kernels/fft.ts (fftRows, twiddleRows, copyComplex) on ndarray views of
// any strides, against direct sums computed here from seeded inputs; and a four-step FFT made of
// them on one block, against the direct DFT. No job: the kernels are plain functions.
import ndarray from "ndarray";
import { describe, expect, it } from "vitest";

import { copyComplex, fftRows, twiddleRows } from "../kernels/index.js";
import { ShoalRangeError, ShoalTypeError } from "../src/errors.js";
import { mulberry32 } from "./fixtures/am-random.js";

/** n seeded complex numbers in [−1, 1), interleaved. */
function randomComplex(seed: number, n: number): Float64Array {
  const random = mulberry32(seed);
  return Float64Array.from({ length: 2 * n }, () => 2 * random() - 1);
}

/** The direct DFT of `count` complex numbers at `x[offset + j·stride]`: Σ_j x_j·e^(∓2πi jk/n), /n when inverse. */
function directDft(x: Float64Array, offset: number, stride: number, n: number, inverse = false): Float64Array {
  const out = new Float64Array(2 * n);
  const sign = inverse ? 1 : -1;
  for (let k = 0; k < n; k++) {
    let re = 0;
    let im = 0;
    for (let j = 0; j < n; j++) {
      const angle = (sign * 2 * Math.PI * ((j * k) % n)) / n;
      const [xr, xi] = [x[offset + j * stride]!, x[offset + j * stride + 1]!];
      re += xr * Math.cos(angle) - xi * Math.sin(angle);
      im += xr * Math.sin(angle) + xi * Math.cos(angle);
    }
    out[2 * k] = inverse ? re / n : re;
    out[2 * k + 1] = inverse ? im / n : im;
  }
  return out;
}

/** max |a − b| over the numbers, relative to max |b| (1 when b is all zeros). */
function relativeError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let error = 0;
  let scale = 0;
  for (let i = 0; i < b.length; i++) {
    error = Math.max(error, Math.abs(a[i]! - b[i]!));
    scale = Math.max(scale, Math.abs(b[i]!));
  }
  return error / (scale || 1);
}

const row = (data: Float64Array, r: number, n: number): Float64Array => data.slice(2 * r * n, 2 * (r + 1) * n);

describe("fftRows", () => {
  it("transforms every row of a [rows, n, 2] view in place, like the direct DFT of each row", () => {
    const [rows, n] = [5, 64];
    const x = randomComplex(1, rows * n);
    const data = x.slice();
    fftRows(ndarray(data, [rows, n, 2]));
    for (let r = 0; r < rows; r++) expect(relativeError(row(data, r, n), directDft(x, 2 * r * n, 2, n))).toBeLessThan(1e-12);
  });

  it("with { inverse: true } gives the inverse DFT divided by n", () => {
    const [rows, n] = [3, 32];
    const x = randomComplex(2, rows * n);
    const data = x.slice();
    fftRows(ndarray(data, [rows, n, 2]), { inverse: true });
    for (let r = 0; r < rows; r++) expect(relativeError(row(data, r, n), directDft(x, 2 * r * n, 2, n, true))).toBeLessThan(1e-12);
  });

  it("transforms the columns through a transposed view (strided rows, gathered)", () => {
    const [rows, cols] = [16, 6];
    const x = randomComplex(3, rows * cols);
    const data = x.slice();
    fftRows(ndarray(data, [rows, cols, 2]).transpose(1, 0, 2));
    for (let c = 0; c < cols; c++) {
      const column = Float64Array.from({ length: 2 * rows }, (_, i) => data[2 * (Math.floor(i / 2) * cols + c) + (i % 2)]!);
      expect(relativeError(column, directDft(x, 2 * c, 2 * cols, rows))).toBeLessThan(1e-12);
    }
  });

  it("writes to out (any strides) and leaves the input as it was", () => {
    const n = 128;
    const x = randomComplex(4, n);
    const input = x.slice();
    const out = new Float64Array(4 * n);
    fftRows(ndarray(input, [n, 2]), { out: ndarray(out, [n, 2], [4, 1]) });
    expect(input).toEqual(x);
    const every = Float64Array.from({ length: 2 * n }, (_, i) => out[4 * Math.floor(i / 2) + (i % 2)]!);
    expect(relativeError(every, directDft(x, 0, 2, n))).toBeLessThan(1e-12);
  });

  it("leaves a vector of one point as it is", () => {
    const data = new Float64Array([0.25, -2]);
    fftRows(ndarray(data, [1, 2]));
    expect([...data]).toEqual([0.25, -2]);
  });

  it("refuses rows that are not a power of two long, naming the padded length", () => {
    expect(() => fftRows(ndarray(new Float64Array(2 * 12), [12, 2]))).toThrow(ShoalRangeError);
    expect(() => fftRows(ndarray(new Float64Array(2 * 12), [12, 2]))).toThrow(/got 12; pad each row with zeros to 16/);
  });

  it("refuses a view that is not over a Float64Array, or whose real and imaginary parts are not adjacent", () => {
    expect(() => fftRows(ndarray(new Float32Array(8), [4, 2]))).toThrow(ShoalTypeError);
    expect(() => fftRows(ndarray(new Float64Array(8), [2, 4]))).toThrow(/shape \[n, 2\] or \[rows, cols, 2\]/);
    expect(() => fftRows(ndarray(new Float64Array(8), [4, 2]).transpose(1, 0))).toThrow(ShoalRangeError);
  });

  it("refuses an out of another shape", () => {
    expect(() => fftRows(ndarray(new Float64Array(16), [8, 2]), { out: ndarray(new Float64Array(8), [4, 2]) })).toThrow(/8 complex, got 1 × 4/);
  });
});

describe("twiddleRows", () => {
  it("multiplies element (r, c) by e^(−2πi (rowStart + r)·c / n), and by its conjugate with inverse", () => {
    const [rows, cols, n, rowStart] = [4, 24, 1 << 12, 1000];
    for (const inverse of [false, true]) {
      const x = randomComplex(5, rows * cols);
      const data = x.slice();
      twiddleRows(ndarray(data, [rows, cols, 2]), n, { rowStart, inverse });
      const expected = new Float64Array(x.length);
      for (let r = 0; r < rows; r++) {
        for (let c = 0; c < cols; c++) {
          const angle = ((inverse ? 2 : -2) * Math.PI * (((rowStart + r) * c) % n)) / n;
          const at = 2 * (r * cols + c);
          expected[at] = x[at]! * Math.cos(angle) - x[at + 1]! * Math.sin(angle);
          expected[at + 1] = x[at]! * Math.sin(angle) + x[at + 1]! * Math.cos(angle);
        }
      }
      expect(relativeError(data, expected)).toBeLessThan(1e-14);
    }
  });

  it("refuses a transform length that is not a power of two", () => {
    expect(() => twiddleRows(ndarray(new Float64Array(8), [4, 2]), 12)).toThrow(/power of two, got 12/);
  });
});

describe("copyComplex", () => {
  it("copies a transposed view: out[j][i] is view[i][j], for sides that are not multiples of the tile", () => {
    const [rows, cols] = [13, 21];
    const x = randomComplex(6, rows * cols);
    const out = new Float64Array(x.length);
    copyComplex(ndarray(out, [cols, rows, 2]), ndarray(x, [rows, cols, 2]).transpose(1, 0, 2));
    for (let i = 0; i < rows; i++) {
      for (let j = 0; j < cols; j++) {
        expect([out[2 * (j * rows + i)], out[2 * (j * rows + i) + 1]]).toEqual([x[2 * (i * cols + j)], x[2 * (i * cols + j) + 1]]);
      }
    }
  });

  it("refuses views of different shapes", () => {
    expect(() => copyComplex(ndarray(new Float64Array(8), [4, 2]), ndarray(new Float64Array(6), [3, 2]))).toThrow(ShoalRangeError);
  });
});

it("a four-step FFT made of the building blocks on one block equals the direct DFT", () => {
  const [rows, cols] = [32, 16];
  const n = rows * cols;
  const x = randomComplex(7, n);
  const data = x.slice();
  const matrix = ndarray(data, [rows, cols, 2]); // x[cols·a + b] at (a, b)
  fftRows(matrix.transpose(1, 0, 2)); // FFTs of length rows down each column b
  twiddleRows(matrix.transpose(1, 0, 2), n); // (b, k1) times ω^(b·k1)
  fftRows(matrix); // FFTs of length cols along each row k1: (k1, k2) is X[k1 + rows·k2]
  const out = new Float64Array(2 * n);
  copyComplex(ndarray(out, [cols, rows, 2]), matrix.transpose(1, 0, 2)); // natural order
  expect(relativeError(out, directDft(x, 0, 2, n))).toBeLessThan(1e-12);
});
