/**
 * Named compute kernels that every PE has: the reduction operators.
 *
 * @module
 */
export { bitAnd, bitOr, bitXor, defineReduction, max, min, prod, reductionNamed, sum } from "./reductions.js";
export type { Reduction, ReductionDefinition, ReductionKernel, Scalar } from "./reductions.js";
