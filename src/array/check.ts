/**
 * Checks of indices and values, done on the calling PE before anything is sent or applied: a batch
 * with one bad element applies nothing. Messages name the element, the bounds, and the fix.
 *
 * @module
 */
import { ShoalRangeError, ShoalTypeError, describeValue } from "../errors.js";
import type { AnyTypedArray, DtypeInfo } from "./dtype.js";
import type { Layout } from "./layout.js";

/** A list of indices or values: a plain array or a typed array. */
export type ArrayLikeOf<T> = ArrayLike<T>;

function bounds(length: number): string {
  return length === 0 ? "the array is empty, so no index is valid" : `valid: 0..${length - 1}`;
}

/** The error for a bad index `index`, named `name` (e.g. "index" or "indices[3]"). */
export function indexError(what: string, name: string, index: unknown, length: number): Error {
  if (typeof index === "bigint") {
    return new ShoalTypeError(`${what}: ${name} is the bigint ${index}n; indices are numbers, convert it with Number() (${bounds(length)})`);
  }
  if (typeof index !== "number") {
    return new ShoalTypeError(`${what}: ${name} is ${describeValue(index)}; expected an integer index (${bounds(length)})`);
  }
  if (!Number.isInteger(index)) {
    return new ShoalTypeError(`${what}: ${name} is ${String(index)}, which is not an integer; expected an integer index (${bounds(length)})`);
  }
  return new ShoalRangeError(`${what}: ${name} is ${index}, out of range for an array of length ${length} (${bounds(length)})`);
}

/** Checks one index and returns it. */
export function checkIndex(what: string, index: unknown, length: number): number {
  if (typeof index === "number" && index >= 0 && index < length && Math.floor(index) === index) return index;
  throw indexError(what, "index", index, length);
}

/** Checks a count or start of a range: an integer in 0..limit. */
export function checkRange(what: string, name: string, value: unknown, limit: number): number {
  if (typeof value === "number" && value >= 0 && value <= limit && Math.floor(value) === value) return value;
  if (typeof value === "number" && Number.isInteger(value)) {
    throw new ShoalRangeError(`${what}: ${name} is ${value}, expected an integer in 0..${limit}`);
  }
  throw new ShoalTypeError(`${what}: ${name} is ${describeValue(value)}, expected an integer in 0..${limit}`);
}

/** Whether `value` can be read like an array (a plain array or a typed array). */
export function isList(value: unknown): value is ArrayLike<unknown> {
  return Array.isArray(value) || (ArrayBuffer.isView(value) && !(value instanceof DataView));
}

/**
 * Checks every index of `indices` and writes the buffer position of each into `positions`.
 * Throws at the first bad one, before anything is applied.
 */
export function resolveIndices(what: string, indices: ArrayLike<unknown>, layout: Layout, positions: Uint32Array, checkOnly = false): void {
  const length = layout.length;
  const n = indices.length;
  if (indices instanceof BigInt64Array || indices instanceof BigUint64Array) {
    throw new ShoalTypeError(`${what}: indices are numbers, got a ${indices.constructor.name}; convert them to a Uint32Array or Float64Array`);
  }
  if (Array.isArray(indices)) {
    for (let k = 0; k < n; k++) {
      const i = indices[k] as unknown;
      if (!(typeof i === "number" && i >= 0 && i < length && Math.floor(i) === i)) throw indexError(what, `indices[${k}]`, i, length);
    }
  } else if (indices instanceof Uint32Array) {
    // Already non-negative integers: only the end can be wrong.
    for (let k = 0; k < n; k++) {
      const i = indices[k]!;
      if (!(i < length)) throw indexError(what, `indices[${k}]`, i, length);
    }
  } else {
    const list = indices as ArrayLike<number>;
    for (let k = 0; k < n; k++) {
      const i = list[k]!;
      if (!(i >= 0 && i < length && Math.floor(i) === i)) throw indexError(what, `indices[${k}]`, i, length);
    }
  }
  if (checkOnly) return;
  const list = indices as ArrayLike<number>;
  if (layout.isBlock) {
    for (let k = 0; k < n; k++) positions[k] = list[k]!;
  } else {
    const pes = layout.numPes;
    const offsets = layout.offsets;
    for (let k = 0; k < n; k++) {
      const i = list[k]!;
      // Indices are below 2^32, so the truncated quotient is the floor.
      const q = (i / pes) >>> 0;
      positions[k] = offsets[i - q * pes]! + q;
    }
  }
}

const kNoPositions = new Uint32Array(0);

/**
 * A batch load on the shared buffer in one pass: checks each index, maps it to its position and
 * reads it. Reads are plain element reads, which the memory model makes tear-free for integer
 * elements of up to 32 bits (floats are read as their bits): a load has no effect, so checking
 * and reading in one loop cannot leave anything half applied.
 */
export function gather(what: string, indices: ArrayLike<unknown>, layout: Layout, source: ArrayLike<number>, out: { [k: number]: number }): void {
  if (Array.isArray(indices) || indices instanceof BigInt64Array || indices instanceof BigUint64Array) {
    // Plain lists may hold anything: check them first, as every batch does.
    resolveIndices(what, indices, layout, kNoPositions, true);
  }
  const list = indices as ArrayLike<number>;
  const n = list.length;
  const length = layout.length;
  const pes = layout.numPes;
  const offsets = layout.offsets;
  if (list instanceof Uint32Array) {
    // The common case, written out: no integer check is needed, and a block index is its position.
    if (layout.isBlock) {
      for (let k = 0; k < n; k++) {
        const i = list[k]!;
        if (!(i < length)) throw indexError(what, `indices[${k}]`, i, length);
        out[k] = source[i]!;
      }
    } else {
      for (let k = 0; k < n; k++) {
        const i = list[k]!;
        if (!(i < length)) throw indexError(what, `indices[${k}]`, i, length);
        const q = (i / pes) >>> 0;
        out[k] = source[offsets[i - q * pes]! + q]!;
      }
    }
    return;
  }
  for (let k = 0; k < n; k++) {
    const i = list[k]!;
    if (!(i >= 0 && i < length && Math.floor(i) === i)) throw indexError(what, `indices[${k}]`, i, length);
    if (layout.isBlock) {
      out[k] = source[i]!;
    } else {
      const q = (i / pes) >>> 0;
      out[k] = source[offsets[i - q * pes]! + q]!;
    }
  }
}

/** "an i8", "a u8": the article of a dtype name as it is read aloud. */
export function article(dtype: string): string {
  return dtype.startsWith("i") || dtype.startsWith("f") ? "an" : "a";
}

function kindName(info: DtypeInfo): string {
  if (info.kind === "bigint") return `a bigint in ${info.min}n..${info.max}n`;
  if (info.kind === "float") return "a number";
  return `an integer in ${info.min}..${info.max}`;
}

/** The error for a bad value named `name` for an array of dtype `info`. */
export function valueError(what: string, name: string, value: unknown, info: DtypeInfo): Error {
  const expected = `expected ${kindName(info)} for ${article(info.name)} ${info.name} array`;
  if (info.kind === "bigint" && typeof value === "number") {
    const fix = Number.isInteger(value) ? `; write ${value}n or BigInt(${value})` : "";
    return new ShoalTypeError(`${what}: ${name} is the number ${value}, ${expected}${fix}`);
  }
  if (info.kind !== "bigint" && typeof value === "bigint") {
    return new ShoalTypeError(`${what}: ${name} is the bigint ${value}n, ${expected}; convert it with Number()`);
  }
  if ((typeof value === "number" && Number.isInteger(value)) || typeof value === "bigint") {
    return new ShoalRangeError(`${what}: ${name} is ${typeof value === "bigint" ? `${value}n` : value}, out of range: ${expected}`);
  }
  return new ShoalTypeError(`${what}: ${name} is ${describeValue(value)}, ${expected}`);
}

/** Checks one value for dtype `info` and returns it. */
export function checkValue(what: string, name: string, value: unknown, info: DtypeInfo): number | bigint {
  switch (info.kind) {
    case "float":
      if (typeof value === "number") return value;
      break;
    case "int":
      if (typeof value === "number" && value >= (info.min as number) && value <= (info.max as number) && Math.floor(value) === value) return value;
      break;
    case "bigint":
      if (typeof value === "bigint" && value >= (info.min as bigint) && value <= (info.max as bigint)) return value;
      break;
  }
  throw valueError(what, name, value, info);
}

/**
 * Checks a list of values for dtype `info` and returns them as a typed array an operation can read:
 * the list itself when it already is one of the dtype (or, for floats, any float array), else a
 * checked copy (Float64Array for floats, so an f32 operand is not rounded before the operation).
 */
export function checkValues(what: string, name: string, values: ArrayLike<unknown>, info: DtypeInfo): AnyTypedArray {
  if (values.constructor === info.Array) return values as AnyTypedArray;
  if (info.kind === "float" && (values instanceof Float64Array || values instanceof Float32Array)) return values;
  const n = values.length;
  const out = info.kind === "float" ? new Float64Array(n) : new info.Array(n);
  for (let k = 0; k < n; k++) out[k] = checkValue(what, `${name}[${k}]`, values[k], info) as never;
  return out;
}
