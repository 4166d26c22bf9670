/**
 * Arrow interchange: a distributed array from an `apache-arrow` vector, and back, with bulk copies
 * of the values buffers (a zero-copy vector over a PE's own part).
 *
 * @module
 */
import { Precision, Type, makeVector, type Vector } from "apache-arrow";

import { ShoalTypeError, describeValue } from "../errors.js";
import type { AnyTypedArray, Dtype } from "./dtype.js";
import type { Layout } from "./layout.js";

/** The shoal dtype of an Arrow vector's type, or a ShoalTypeError saying what is supported. */
export function dtypeOfVector(vector: unknown, what: string): Dtype {
  const type = (vector as Vector | undefined)?.type as { typeId?: number; bitWidth?: number; isSigned?: boolean; precision?: number } | undefined;
  if (typeof vector !== "object" || vector === null || type === undefined || !Array.isArray((vector as Vector).data)) {
    throw new ShoalTypeError(`${what}: expected an apache-arrow Vector, got ${describeValue(vector)}`);
  }
  if (type.typeId === Type.Int) {
    const bits = type.bitWidth;
    if (bits === 8 || bits === 16 || bits === 32 || bits === 64) return `${type.isSigned === true ? "i" : "u"}${bits}` as Dtype;
  }
  if (type.typeId === Type.Float) {
    if (type.precision === Precision.SINGLE) return "f32";
    if (type.precision === Precision.DOUBLE) return "f64";
  }
  throw new ShoalTypeError(`${what}: vectors of type ${String((vector as Vector).type)} have no shoal dtype; expected Int8..Int64, Uint8..Uint64, Float32 or Float64`);
}

/** Copies this PE's elements of the whole-array `vector` into `local`, chunk by chunk. */
export function copyFromVector(vector: Vector, layout: Layout, pe: number, local: AnyTypedArray): void {
  const partStart = layout.partOffset(pe);
  const partLength = layout.localLength(pe);
  const pes = layout.numPes;
  let chunkStart = 0;
  for (const data of vector.data) {
    const values = data.values as AnyTypedArray;
    const chunkEnd = chunkStart + data.length;
    if (layout.isBlock) {
      const from = Math.max(chunkStart, partStart);
      const to = Math.min(chunkEnd, partStart + partLength);
      if (to > from) (local as Float64Array).set((values as Float64Array).subarray(from - chunkStart, to - chunkStart), from - partStart);
    } else {
      // The chunk's elements owned by `pe`: global indices ≡ pe (mod pes).
      const source = values as Float64Array;
      const target = local as Float64Array;
      let g = chunkStart + ((pe - (chunkStart % pes) + pes) % pes);
      for (; g < chunkEnd; g += pes) target[(g - pe) / pes] = source[g - chunkStart]!;
    }
    chunkStart = chunkEnd;
  }
}

/** A vector over `values`, without a copy. */
export function vectorOf(values: AnyTypedArray): Vector {
  return makeVector(values as Float64Array) as unknown as Vector;
}
