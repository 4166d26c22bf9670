/**
 * shoal: data-parallel computing on many cores and many machines, for TypeScript.
 *
 * ## Glossary
 * - **PE** (processing element): one instance of the program. Every PE runs the same module
 *   (SPMD); `world.pe` tells them apart. Under `shoal run -n 4`, the PEs are 4 worker threads of
 *   one process sharing memory.
 * - **World**: every PE of the job, as seen from one of them; returned by {@link init}.
 * - **AM** (active message): a handler registered by name with {@link defineAm}, run on a PE
 *   chosen by the caller, with an argument that travels as bytes; no code is ever sent.
 * - **Activity**: an async function registered with {@link defineActivity} and run anywhere with
 *   `world.at` (APGAS); `world.finish` waits for all activities spawned inside it.
 * - **Collective**: a call that every PE must make (`init`, `barrier`). **One-sided**: a call one PE
 *   makes alone (`exec`, `send`, `at`).
 * - **Lamellae**: the transports that move bytes between PEs.
 *
 * @example
 * ```ts
 * import { defineAm, init } from "shoal";
 * const greet = defineAm("greet", (ctx, from: number) => `PE ${ctx.pe} greets PE ${from}`);
 * const world = await init();
 * const replies = await world.execAll(greet, world.pe);
 * await world.barrier();
 * ```
 *
 * @module
 */
export { init } from "./init.js";
export { defineActivity, defineAm } from "./am/index.js";
export type { Activity, Am, AmContext } from "./am/index.js";
export { World } from "./world.js";
export { Team, Topology } from "./team/index.js";
export type { Algorithm, AmArgs, CollectivePlan, LevelPlan, LinkKind, PeLocation, PlannedOp, ReductionOp, StridedShape, WorldStats } from "./team/index.js";
export { DistArray } from "./array/index.js";
export type {
  AnyTypedArray, ArrayOptions, Distribution, Dtype, ElementOf, FromArrowOptions, Indices, MapOptions, ReductionLike, ScanOptions,
  ToArrowOptions, TypedArrayOf, Values,
} from "./array/index.js";
export { bitAnd, bitOr, bitXor, defineReduction, max, min, prod, sum } from "../kernels/index.js";
export type { ReducibleValue, Reduction, ReductionDefinition, Scalar } from "../kernels/index.js";
export { copyComplex, countBins, fftRows, twiddleRows } from "../kernels/index.js";
export type { ComplexView, FftRowsOptions, TwiddleOptions } from "../kernels/index.js";
export { fft, fft2d, ifft, ifft2d } from "./fft/index.js";
export type { FftOptions } from "./fft/index.js";
export type { EngineCounters } from "./am/index.js";
export type { TransportCounters } from "./lamellae/index.js";
export type { ConnectionType, HistogramSnapshot } from "./stats/index.js";
export {
  CollectiveError, ConfigError, EncodeError, PeFailureError, RegistryError, RemoteError, ShoalError, ShoalRangeError,
  ShoalTypeError, StateError, TransportError,
} from "./errors.js";
export type { ShoalErrorCode } from "./errors.js";
export type { HistogramConfig, ShoalConfig } from "./config/index.js";
