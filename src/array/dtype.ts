/**
 * The dtype table: each element type of a distributed array, with its typed array, its value type,
 * its range, and how its atomic operations are done. Chosen once per array, never per element.
 *
 * @module
 */

/**
 * The element types of a {@link DistArray}. 64-bit integers are BigInts.
 *
 * @example
 * ```ts
 * const dtype: Dtype = "u32";
 * const counts = await world.array(dtype, 1024);
 * ```
 */
export type Dtype = "i8" | "u8" | "i16" | "u16" | "i32" | "u32" | "f32" | "f64" | "i64" | "u64";

/**
 * The JavaScript type of one element: `bigint` for `i64` and `u64`, `number` otherwise.
 *
 * @example
 * ```ts
 * const one: ElementOf<"i64"> = 1n;
 * const half: ElementOf<"f32"> = 0.5;
 * ```
 */
export type ElementOf<D extends Dtype> = D extends "i64" | "u64" ? bigint : number;

/**
 * The typed array that holds elements of dtype `D`.
 *
 * @example
 * ```ts
 * const part: TypedArrayOf<"u64"> = (await world.array("u64", 8)).local; // a BigUint64Array
 * ```
 */
export type TypedArrayOf<D extends Dtype> = {
  i8: Int8Array; u8: Uint8Array; i16: Int16Array; u16: Uint16Array; i32: Int32Array; u32: Uint32Array;
  f32: Float32Array; f64: Float64Array; i64: BigInt64Array; u64: BigUint64Array;
}[D];

/**
 * Any typed array shoal arrays hold.
 *
 * @example
 * ```ts
 * const parts: AnyTypedArray[] = [ints.local, floats.local];
 * ```
 */
export type AnyTypedArray =
  | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

/** A typed array constructor over a buffer. @internal */
export type TypedArrayConstructor = {
  new (length: number): AnyTypedArray;
  new (buffer: ArrayBufferLike, byteOffset?: number, length?: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

/**
 * How a dtype's elements are stored and updated:
 * - `int`: 8 to 32-bit integers, updated with `Atomics` directly;
 * - `bigint`: 64-bit integers, `Atomics` on BigInt arrays;
 * - `float`: updated by compare-exchange on the bits, through an integer view of the same memory.
 * @internal
 */
export type DtypeKind = "int" | "bigint" | "float";

/** @internal */
export interface DtypeInfo {
  readonly name: Dtype;
  readonly kind: DtypeKind;
  readonly Array: TypedArrayConstructor;
  readonly bytes: number;
  /** For floats: the integer array of the same width, to update the bits atomically. */
  readonly Bits: TypedArrayConstructor | undefined;
  /** Smallest and largest value (integers only; floats: ±Infinity). */
  readonly min: number | bigint;
  readonly max: number | bigint;
  /** Whether the integer is signed (floats: true). */
  readonly signed: boolean;
}

function int(name: Dtype, Array: TypedArrayConstructor, signed: boolean): DtypeInfo {
  const bits = Array.BYTES_PER_ELEMENT * 8;
  const min = signed ? -(2 ** (bits - 1)) : 0;
  const max = signed ? 2 ** (bits - 1) - 1 : 2 ** bits - 1;
  return { name, kind: "int", Array, bytes: Array.BYTES_PER_ELEMENT, Bits: undefined, min, max, signed };
}

function big(name: Dtype, Array: TypedArrayConstructor, signed: boolean): DtypeInfo {
  const min = signed ? -(2n ** 63n) : 0n;
  const max = signed ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return { name, kind: "bigint", Array, bytes: 8, Bits: undefined, min, max, signed };
}

function float(name: Dtype, Array: TypedArrayConstructor, Bits: TypedArrayConstructor): DtypeInfo {
  return { name, kind: "float", Array, bytes: Array.BYTES_PER_ELEMENT, Bits, min: -Infinity, max: Infinity, signed: true };
}

/** Every dtype, by name. @internal */
export const kDtypes: Readonly<Record<Dtype, DtypeInfo>> = {
  i8: int("i8", Int8Array, true),
  u8: int("u8", Uint8Array, false),
  i16: int("i16", Int16Array, true),
  u16: int("u16", Uint16Array, false),
  i32: int("i32", Int32Array, true),
  u32: int("u32", Uint32Array, false),
  f32: float("f32", Float32Array, Int32Array),
  f64: float("f64", Float64Array, BigInt64Array),
  i64: big("i64", BigInt64Array, true),
  u64: big("u64", BigUint64Array, false),
};

/** The dtype names, in the order of the table. */
export const kDtypeNames = Object.keys(kDtypes) as readonly Dtype[];

/** The dtype whose typed array `value` is, or undefined. @internal */
export function dtypeOfTypedArray(value: unknown): DtypeInfo | undefined {
  if (!ArrayBuffer.isView(value)) return undefined;
  return kByConstructor.get(value.constructor);
}

const kByConstructor = new Map<unknown, DtypeInfo>(kDtypeNames.map((name) => [kDtypes[name].Array, kDtypes[name]]));
