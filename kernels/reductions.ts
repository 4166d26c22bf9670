/**
 * Reduction operators: what `array.reduce(op)`, `array.sum()` and `array.scan(op)` combine with.
 *
 * An operator is registered by name, so a PE can ask another to reduce its part with it without
 * sending code. The built-in operators (`sum prod min max bitAnd bitOr bitXor`) have a loop per
 * dtype kind, chosen once per operation; {@link defineReduction} adds user operators.
 *
 * Values: elements of 8 to 32-bit integer and float arrays are reduced as JavaScript numbers (f64
 * arithmetic: an integer sum is exact below 2^53, an f32 sum is not rounded to f32 on the way);
 * 64-bit integers as BigInts, wrapped to 64 bits like the array's own arithmetic.
 *
 * @module
 */
import { RegistryError, ShoalTypeError } from "../src/errors.js";
import { dtypeOfTypedArray, kDtypes, type AnyTypedArray, type Dtype, type DtypeInfo } from "../src/array/dtype.js";

/**
 * A number, or a bigint for 64-bit integer arrays.
 *
 * @example
 * ```ts
 * const total: Scalar = await a.sum();
 * ```
 */
export type Scalar = number | bigint;

/** A reduction operator specialised for one dtype. @internal */
export interface ReductionKernel {
  readonly identity: Scalar;
  combine(a: Scalar, b: Scalar): Scalar;
  /** Reduces `data[start..end)` onto `acc`. */
  reduce(data: AnyTypedArray, start: number, end: number, acc: Scalar): Scalar;
  /**
   * Writes the running reduction of `src[srcStart..srcStart+n)`, starting from `carry`, to
   * `dst[dstStart..)`: inclusive (element k includes src k) or exclusive (element k is the
   * reduction of the elements before k).
   */
  scan(src: AnyTypedArray, srcStart: number, dst: AnyTypedArray, dstStart: number, n: number, carry: Scalar, exclusive: boolean): void;
  /** `out[i] = a[i] ⊕ b[i]` for every element, as a loop of its own (the collectives' element-wise combination); absent: a call of `combine` per element. */
  combineArrays?(a: AnyTypedArray, b: AnyTypedArray, out: AnyTypedArray): void;
}

/**
 * How a user operator is defined: see {@link defineReduction}.
 *
 * @example
 * ```ts
 * const definition: ReductionDefinition = { identity: () => 0, combine: (a, b) => Number(a) + Number(b) };
 * const total = defineReduction("myTotal", definition);
 * ```
 */
export interface ReductionDefinition {
  /** The value that changes nothing when combined (0 for a sum), for an array of dtype `dtype`. */
  identity(dtype: Dtype): Scalar;
  /** Combines two values; must be associative. Called with numbers, or bigints for 64-bit arrays. */
  combine(a: Scalar, b: Scalar): Scalar;
}

/**
 * A reduction operator registered by name: pass it, or its name, to `array.reduce` and `array.scan`.
 *
 * @example
 * ```ts
 * import { max } from "shoal";
 * const largest = await a.reduce(max); // the same as a.reduce("max")
 * ```
 */
export interface Reduction {
  /** The name it was registered under. */
  readonly name: string;
  /** @internal The operator for one dtype. */
  kernel(dtype: DtypeInfo): ReductionKernel;
}

const kRegistryKey = Symbol.for("shoal.reductions");

function reductions(): Map<string, Reduction> {
  const holder = globalThis as Record<symbol, unknown>;
  let map = holder[kRegistryKey] as Map<string, Reduction> | undefined;
  if (map === undefined) {
    map = new Map();
    holder[kRegistryKey] = map;
  }
  return map;
}

function register(name: string, make: (dtype: DtypeInfo) => ReductionKernel): Reduction {
  const map = reductions();
  if (map.has(name)) throw new RegistryError(`defineReduction: a reduction named "${name}" is already defined; choose another name`);
  const kernels = new Map<string, ReductionKernel>();
  const reduction: Reduction = {
    name,
    kernel(dtype: DtypeInfo): ReductionKernel {
      let kernel = kernels.get(dtype.name);
      if (kernel === undefined) {
        kernel = make(dtype);
        kernels.set(dtype.name, kernel);
      }
      return kernel;
    },
  };
  map.set(name, reduction);
  return reduction;
}

/**
 * Registers a reduction operator under `name`, for `array.reduce` and `array.scan`. Like active
 * messages, define it at module top level so that every PE has it: the name travels, the code
 * does not.
 *
 * @example
 * ```ts
 * import { defineReduction, init } from "shoal";
 * // The largest absolute value.
 * const maxAbs = defineReduction("maxAbs", {
 *   identity: () => 0,
 *   combine: (a, b) => Math.max(Math.abs(Number(a)), Math.abs(Number(b))),
 * });
 * const world = await init();
 * const values = await world.array("f64", 1000);
 * if (world.pe === 0) console.log(await values.reduce(maxAbs));
 * ```
 */
export function defineReduction(name: string, definition: ReductionDefinition): Reduction {
  if (typeof name !== "string" || name === "") throw new ShoalTypeError(`defineReduction: expected a non-empty name, got ${String(name)}`);
  if (typeof definition?.identity !== "function" || typeof definition.combine !== "function") {
    throw new ShoalTypeError(`defineReduction("${name}"): expected { identity(dtype), combine(a, b) }, both functions`);
  }
  const { combine } = definition;
  return register(name, (dtype) => {
    const identity = definition.identity(dtype.name);
    return {
      identity,
      combine,
      reduce(data, start, end, acc) {
        for (let i = start; i < end; i++) acc = combine(acc, data[i]!);
        return acc;
      },
      scan(src, srcStart, dst, dstStart, n, carry, exclusive) {
        let acc = carry;
        for (let k = 0; k < n; k++) {
          const next = combine(acc, src[srcStart + k]!);
          dst[dstStart + k] = (exclusive ? acc : next) as never;
          acc = next;
        }
      },
    };
  });
}

/** The reduction registered under `name`, or a RegistryError naming the known ones. @internal */
export function reductionNamed(name: string, where: string): Reduction {
  const reduction = reductions().get(name);
  if (reduction === undefined) {
    throw new RegistryError(`${where}: no reduction named "${name}" (known: ${[...reductions().keys()].join(", ")}); define it with defineReduction at module top level, so every PE has it`);
  }
  return reduction;
}

// ------------------------------------------------------------------------------ collective values

/**
 * What a collective reduction combines: a number (combined as an f64; bitwise operators on its
 * 32-bit integer value), a bigint (as an i64, wrapped to 64 bits), or a typed array of a shoal
 * dtype (element by element, with that dtype's operator).
 *
 * @example
 * ```ts
 * const total: ReducibleValue = await world.allreduce(new Float64Array([1, 2]), "sum");
 * ```
 */
export type ReducibleValue = number | bigint | AnyTypedArray;

/**
 * How values like `sample` are combined with `reduction`: the operator for its dtype, and a
 * description of the value for messages; or, when it cannot be reduced, why. @internal
 */
export function valueKernel(reduction: Reduction, sample: unknown): { kernel: ReductionKernel; dtype: DtypeInfo } | string {
  // The common case, once per reduction and kind of value: from the cache.
  const kind = typeof sample === "object" && sample !== null ? sample.constructor : typeof sample;
  let cache = kValueKernels.get(reduction);
  if (cache === undefined) kValueKernels.set(reduction, (cache = new Map()));
  let found = cache.get(kind);
  if (found === undefined) cache.set(kind, (found = findValueKernel(reduction, sample)));
  return found;
}

const kValueKernels = new WeakMap<Reduction, Map<unknown, { kernel: ReductionKernel; dtype: DtypeInfo } | string>>();

function findValueKernel(reduction: Reduction, sample: unknown): { kernel: ReductionKernel; dtype: DtypeInfo } | string {
  let dtype: DtypeInfo | undefined;
  if (typeof sample === "number") {
    dtype = kDtypes.f64;
    if (reduction.name === "bitAnd" || reduction.name === "bitOr" || reduction.name === "bitXor") dtype = kDtypes.i32;
  } else if (typeof sample === "bigint") {
    dtype = kDtypes.i64;
  } else {
    dtype = dtypeOfTypedArray(sample);
    if (dtype === undefined) return `expected a number, a bigint or a typed array of a shoal dtype, got ${describeKind(sample)}`;
  }
  try {
    return { kernel: reduction.kernel(dtype), dtype };
  } catch (error) {
    return (error as Error).message;
  }
}

function describeKind(value: unknown): string {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return (value as object).constructor?.name ?? "an object";
}

/**
 * `a ⊕ b` for two values that {@link valueKernel} accepted with the same kernel: scalars, or typed
 * arrays of one length (a new array; neither input changes). @internal
 */
export function combineValues(kernel: ReductionKernel, a: ReducibleValue, b: ReducibleValue): ReducibleValue {
  if (typeof a !== "object") return kernel.combine(a, b as Scalar);
  const x = a;
  const y = b as AnyTypedArray;
  const out = new (x.constructor as new (length: number) => AnyTypedArray)(x.length);
  if (kernel.combineArrays !== undefined) {
    kernel.combineArrays(x, y, out);
    return out;
  }
  const combine = kernel.combine;
  for (let i = 0; i < x.length; i++) out[i] = combine(x[i]!, y[i]!) as never;
  return out;
}

/** A value like `sample` filled with the operator's identity. @internal */
export function identityLike(kernel: ReductionKernel, sample: ReducibleValue): ReducibleValue {
  if (typeof sample !== "object") return kernel.identity;
  const out = new (sample.constructor as new (length: number) => AnyTypedArray)(sample.length);
  out.fill(kernel.identity as never);
  return out;
}

// ------------------------------------------------------------------------------ built-in operators

type NumberStep = (acc: number, x: number) => number;
type BigStep = (acc: bigint, x: bigint) => bigint;

/**
 * A built-in operator over numbers. `reduce` may be given as a loop of its own: the closures made
 * here share one call site of `step`, which the compiler cannot inline once several operators
 * have run, and a sum is the loop that must run at memory speed.
 */
function numberKernel(identity: number, step: NumberStep, reduce?: ReductionKernel["reduce"], combineArrays?: ReductionKernel["combineArrays"]): ReductionKernel {
  return {
    ...(combineArrays === undefined ? {} : { combineArrays }),
    identity,
    combine: step as (a: Scalar, b: Scalar) => Scalar,
    reduce: reduce ?? function reduce(data, start, end, acc) {
      const values = data as Float64Array;
      let total = acc as number;
      for (let i = start; i < end; i++) total = step(total, values[i]!);
      return total;
    },
    scan(src, srcStart, dst, dstStart, n, carry, exclusive) {
      const from = src as Float64Array;
      const to = dst as Float64Array;
      let acc = carry as number;
      if (exclusive) {
        for (let k = 0; k < n; k++) {
          to[dstStart + k] = acc;
          acc = step(acc, from[srcStart + k]!);
        }
      } else {
        for (let k = 0; k < n; k++) {
          acc = step(acc, from[srcStart + k]!);
          to[dstStart + k] = acc;
        }
      }
    },
  };
}

function bigKernel(identity: bigint, step: BigStep, wrap: (value: bigint) => bigint): ReductionKernel {
  return {
    identity,
    combine: (a, b) => wrap(step(a as bigint, b as bigint)),
    reduce(data, start, end, acc) {
      const values = data as BigInt64Array;
      let total = acc as bigint;
      for (let i = start; i < end; i++) total = step(total, values[i]!);
      return wrap(total);
    },
    scan(src, srcStart, dst, dstStart, n, carry, exclusive) {
      const from = src as BigInt64Array;
      const to = dst as BigInt64Array;
      let acc = carry as bigint;
      for (let k = 0; k < n; k++) {
        const next = step(acc, from[srcStart + k]!);
        to[dstStart + k] = exclusive ? acc : next; // storing wraps to 64 bits
        acc = next;
      }
    },
  };
}

function sumNumbers(data: AnyTypedArray, start: number, end: number, acc: Scalar): number {
  const values = data as Float64Array;
  let total = acc as number;
  for (let i = start; i < end; i++) total += values[i]!;
  return total;
}

function sumArrays(a: AnyTypedArray, b: AnyTypedArray, out: AnyTypedArray): void {
  const x = a as Float64Array;
  const y = b as Float64Array;
  const into = out as Float64Array;
  for (let i = 0; i < into.length; i++) into[i] = x[i]! + y[i]!;
}

function wrapperOf(dtype: DtypeInfo): (value: bigint) => bigint {
  return dtype.signed ? (value) => BigInt.asIntN(64, value) : (value) => BigInt.asUintN(64, value);
}

function integerOnly(name: string, dtype: DtypeInfo): void {
  if (dtype.kind === "float") {
    throw new ShoalTypeError(`${name}: ${dtype.name} arrays have no bitwise operations; use an integer dtype`);
  }
}

/**
 * The sum of the elements.
 *
 * @example
 * ```ts
 * import { sum } from "shoal";
 * const value = await a.reduce(sum); // or a.reduce("sum")
 * ```
 */
export const sum: Reduction = register("sum", (dtype) => dtype.kind === "bigint"
  ? bigKernel(0n, (a, x) => a + x, wrapperOf(dtype))
  : numberKernel(0, (a, x) => a + x, sumNumbers, sumArrays));

/**
 * The product of the elements (64-bit integers: wrapped to 64 bits at each step).
 *
 * @example
 * ```ts
 * import { prod } from "shoal";
 * const value = await a.reduce(prod); // or a.reduce("prod")
 * ```
 */
export const prod: Reduction = register("prod", (dtype) => {
  if (dtype.kind !== "bigint") return numberKernel(1, (a, x) => a * x);
  const wrap = wrapperOf(dtype);
  return bigKernel(1n, (a, x) => wrap(a * x), wrap);
});

/**
 * The smallest element (floats: like `Math.min`, NaN when any element is NaN).
 *
 * @example
 * ```ts
 * import { min } from "shoal";
 * const value = await a.reduce(min); // or a.reduce("min")
 * ```
 */
export const min: Reduction = register("min", (dtype) => dtype.kind === "bigint"
  ? bigKernel(dtype.max as bigint, (a, x) => (x < a ? x : a), (v) => v)
  : numberKernel(dtype.max as number, Math.min));

/**
 * The largest element (floats: like `Math.max`).
 *
 * @example
 * ```ts
 * import { max } from "shoal";
 * const value = await a.reduce(max); // or a.reduce("max")
 * ```
 */
export const max: Reduction = register("max", (dtype) => dtype.kind === "bigint"
  ? bigKernel(dtype.min as bigint, (a, x) => (x > a ? x : a), (v) => v)
  : numberKernel(dtype.min as number, Math.max));

/**
 * The bitwise AND of the elements (integer arrays).
 *
 * @example
 * ```ts
 * import { bitAnd } from "shoal";
 * const value = await a.reduce(bitAnd); // or a.reduce("bitAnd")
 * ```
 */
export const bitAnd: Reduction = register("bitAnd", (dtype) => {
  integerOnly("bitAnd", dtype);
  if (dtype.kind === "bigint") return bigKernel(dtype.signed ? -1n : (dtype.max as bigint), (a, x) => a & x, (v) => v);
  const ones = dtype.signed ? -1 : (dtype.max as number);
  return dtype.name === "u32" ? numberKernel(ones, (a, x) => (a & x) >>> 0) : numberKernel(ones, (a, x) => a & x);
});

/**
 * The bitwise OR of the elements (integer arrays).
 *
 * @example
 * ```ts
 * import { bitOr } from "shoal";
 * const value = await a.reduce(bitOr); // or a.reduce("bitOr")
 * ```
 */
export const bitOr: Reduction = register("bitOr", (dtype) => {
  integerOnly("bitOr", dtype);
  if (dtype.kind === "bigint") return bigKernel(0n, (a, x) => a | x, (v) => v);
  return dtype.name === "u32" ? numberKernel(0, (a, x) => (a | x) >>> 0) : numberKernel(0, (a, x) => a | x);
});

/**
 * The bitwise XOR of the elements (integer arrays).
 *
 * @example
 * ```ts
 * import { bitXor } from "shoal";
 * const value = await a.reduce(bitXor); // or a.reduce("bitXor")
 * ```
 */
export const bitXor: Reduction = register("bitXor", (dtype) => {
  integerOnly("bitXor", dtype);
  if (dtype.kind === "bigint") return bigKernel(0n, (a, x) => a ^ x, (v) => v);
  return dtype.name === "u32" ? numberKernel(0, (a, x) => (a ^ x) >>> 0) : numberKernel(0, (a, x) => a ^ x);
});
