/**
 * Named compute kernels that every PE has: the reduction operators.
 *
 * @module
 */
export { bitAnd, bitOr, bitXor, combineValues, defineReduction, identityLike, max, min, prod, reductionNamed, sum, valueKernel } from "./reductions.js";
export type { ReducibleValue, Reduction, ReductionDefinition, ReductionKernel, Scalar } from "./reductions.js";
