/**
 * Named compute kernels that every PE has: the reduction operators, the histogram, and the FFT
 * building blocks.
 *
 * @module
 */
export { bitAnd, bitOr, bitXor, combineValues, defineReduction, identityLike, max, min, prod, reductionNamed, sum, valueKernel } from "./reductions.js";
export type { ReducibleValue, Reduction, ReductionDefinition, ReductionKernel, Scalar } from "./reductions.js";
export { Twiddles, copyBlock, copyComplex, fftRows, isPowerOfTwo, nextPowerOfTwo, transformInto, twiddleRows, twiddlesOf } from "./fft.js";
export type { ComplexView, FftRowsOptions, TwiddleOptions } from "./fft.js";
export { countBins, kHistogramKernel } from "./histogram.js";
