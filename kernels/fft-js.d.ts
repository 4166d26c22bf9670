/**
 * Types of `fft.js` 4 (Fedor Indutny's radix-4 FFT), for what shoal calls of it. The package's own
 * declaration is generated from its JavaScript and types every parameter as `any`; this one says
 * what each function takes, so that a wrong call fails to compile. An ambient declaration of a
 * module takes precedence over the package's, so this one is used.
 *
 * Complex arrays are interleaved: element k is `[2k]` (real part) and `[2k + 1]` (imaginary part),
 * `2 * size` numbers in all, starting at index 0 (pass a `subarray` for a row of a larger array).
 */
declare module "fft.js" {
  /** The transforms of one size, a power of two of at least 2; its tables are built once, here. */
  export default class FFT {
    constructor(size: number);
    /** The number of complex points. */
    readonly size: number;
    /** `out` ← the forward DFT of `data` (exponent −2πi jk/size, unscaled). `out` must not be `data`. */
    transform(out: Float64Array, data: Float64Array): void;
    /** `out` ← the inverse DFT of `data` (exponent +2πi jk/size), divided by `size`. `out` must not be `data`. */
    inverseTransform(out: Float64Array, data: Float64Array): void;
    /** `out` ← the first half of the spectrum of `size` real numbers in `data` (see `completeSpectrum`). */
    realTransform(out: Float64Array, data: Float64Array): void;
    /** Fills the second half of a spectrum from `realTransform` by symmetry. */
    completeSpectrum(spectrum: Float64Array): void;
  }
}
