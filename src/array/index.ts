export { DistArray } from "./dist-array.js";
export type { ArrayOptions, FromArrowOptions, Indices, MapOptions, ReductionLike, ScanOptions, ToArrowOptions, Values } from "./dist-array.js";
export { kDtypeNames } from "./dtype.js";
export type { AnyTypedArray, Dtype, ElementOf, TypedArrayOf } from "./dtype.js";
export type { Distribution } from "./layout.js";
export { FarOpServer } from "./far-ops.js";
