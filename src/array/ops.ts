/**
 * The element operations and their kernels: one loop per operation and dtype kind, chosen when a
 * batch starts, never per element. Every operation is atomic per element:
 * - 8 to 32-bit integers and 64-bit BigInts use `Atomics` directly (`add`, `sub`, `and`, `or`,
 *   `xor`, `exchange`, `compareExchange`), and a compare-exchange loop for `mul div min max`;
 * - floats are updated by compare-exchange on their bits, through an integer view of the same
 *   memory (`Int32Array` for f32, `BigInt64Array` for f64).
 *
 * A kernel applies `n` operations at buffer positions `offset + positions[k]`. The operand of
 * operation `k` is `values[k]`, or `scalar` when there is no `values` list; likewise `expected`.
 * Fetching operations write each element's previous value to `out[k]`, in input order.
 *
 * @module
 */
import type { AnyTypedArray, DtypeInfo } from "./dtype.js";

/** Operation codes; they travel in array messages. */
export const Op = {
  load: 0, store: 1, swap: 2, add: 3, sub: 4, mul: 5, div: 6, min: 7, max: 8,
  bitAnd: 9, bitOr: 10, bitXor: 11, compareExchange: 12,
} as const;
export type OpCode = (typeof Op)[keyof typeof Op];

/** Whether operation `op` needs integers. */
export function isBitwise(op: OpCode): boolean {
  return op === Op.bitAnd || op === Op.bitOr || op === Op.bitXor;
}

/** The memory an operation works on: a process's buffer of every local part. */
export interface Target {
  readonly info: DtypeInfo;
  /** Elements, over the whole buffer. */
  readonly data: AnyTypedArray;
  /** For floats: the same memory as integers of the same width. */
  readonly bits: Int32Array | BigInt64Array | undefined;
}

export function makeTarget(info: DtypeInfo, buffer: SharedArrayBuffer): Target {
  const data = new info.Array(buffer);
  const bits = info.Bits === undefined ? undefined : new info.Bits(buffer) as Int32Array | BigInt64Array;
  return { info, data, bits };
}

/** The arguments of one kernel run. */
export interface OpRun {
  op: OpCode;
  positions: Uint32Array;
  offset: number;
  n: number;
  values: AnyTypedArray | undefined;
  scalar: number | bigint;
  expected: AnyTypedArray | undefined;
  expectedScalar: number | bigint;
  out: AnyTypedArray | undefined;
}

/** Applies `run` to `target`. */
export function applyOp(target: Target, run: OpRun): void {
  switch (target.info.kind) {
    case "int": intKernel(target.data as IntArray, run); return;
    case "bigint": bigintKernel(target.data as BigArray, run); return;
    case "float": floatKernel(target, run); return;
  }
}

type IntArray = Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array;
type BigArray = BigInt64Array | BigUint64Array;

function intKernel(data: IntArray, run: OpRun): void {
  const { positions, offset, n } = run;
  const values = run.values as IntArray | Float64Array | undefined;
  const scalar = run.scalar as number;
  const out = run.out as IntArray | undefined;
  switch (run.op) {
    // Plain reads and writes: tear-free for integer elements of up to 32 bits (the memory model's
    // NoTear), which is all a single load or store needs; an `Atomics` call costs far more.
    case Op.load:
      for (let k = 0; k < n; k++) out![k] = data[offset + positions[k]!]!;
      return;
    case Op.store:
      for (let k = 0; k < n; k++) data[offset + positions[k]!] = values === undefined ? scalar : values[k]!;
      return;
    case Op.swap:
      for (let k = 0; k < n; k++) {
        const old = Atomics.exchange(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.add:
      if (out === undefined) {
        for (let k = 0; k < n; k++) Atomics.add(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
      } else {
        for (let k = 0; k < n; k++) out[k] = Atomics.add(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
      }
      return;
    case Op.sub:
      for (let k = 0; k < n; k++) {
        const old = Atomics.sub(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitAnd:
      for (let k = 0; k < n; k++) {
        const old = Atomics.and(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitOr:
      for (let k = 0; k < n; k++) {
        const old = Atomics.or(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitXor:
      for (let k = 0; k < n; k++) {
        const old = Atomics.xor(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.compareExchange: {
      const expected = run.expected as IntArray | undefined;
      const expectedScalar = run.expectedScalar as number;
      for (let k = 0; k < n; k++) {
        out![k] = Atomics.compareExchange(data, offset + positions[k]!,
          expected === undefined ? expectedScalar : expected[k]!, values === undefined ? scalar : values[k]!);
      }
      return;
    }
    case Op.mul:
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let old = Atomics.load(data, at);
        // Math.imul is the product modulo 2^32; storing it wraps it to the element's width.
        while (Atomics.compareExchange(data, at, old, Math.imul(old, v)) !== old) old = Atomics.load(data, at);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.div:
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let old = Atomics.load(data, at);
        while (Atomics.compareExchange(data, at, old, Math.trunc(old / v)) !== old) old = Atomics.load(data, at);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.min:
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let old = Atomics.load(data, at);
        while (v < old && Atomics.compareExchange(data, at, old, v) !== old) old = Atomics.load(data, at);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.max:
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let old = Atomics.load(data, at);
        while (v > old && Atomics.compareExchange(data, at, old, v) !== old) old = Atomics.load(data, at);
        if (out !== undefined) out[k] = old;
      }
      return;
  }
}

function bigintKernel(data: BigArray, run: OpRun): void {
  const { positions, offset, n } = run;
  const values = run.values as BigArray | undefined;
  const scalar = run.scalar as bigint;
  const out = run.out as BigArray | undefined;
  switch (run.op) {
    case Op.load:
      for (let k = 0; k < n; k++) out![k] = Atomics.load(data, offset + positions[k]!);
      return;
    case Op.store:
      for (let k = 0; k < n; k++) Atomics.store(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
      return;
    case Op.swap:
      for (let k = 0; k < n; k++) {
        const old = Atomics.exchange(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.add:
      for (let k = 0; k < n; k++) {
        const old = Atomics.add(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.sub:
      for (let k = 0; k < n; k++) {
        const old = Atomics.sub(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitAnd:
      for (let k = 0; k < n; k++) {
        const old = Atomics.and(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitOr:
      for (let k = 0; k < n; k++) {
        const old = Atomics.or(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.bitXor:
      for (let k = 0; k < n; k++) {
        const old = Atomics.xor(data, offset + positions[k]!, values === undefined ? scalar : values[k]!);
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.compareExchange: {
      const expected = run.expected as BigArray | undefined;
      const expectedScalar = run.expectedScalar as bigint;
      for (let k = 0; k < n; k++) {
        out![k] = Atomics.compareExchange(data, offset + positions[k]!,
          expected === undefined ? expectedScalar : expected[k]!, values === undefined ? scalar : values[k]!);
      }
      return;
    }
    default: {
      // mul, div, min, max: a compare-exchange loop; storing wraps the result to 64 bits.
      const op = run.op;
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let old = Atomics.load(data, at);
        for (;;) {
          let next: bigint;
          if (op === Op.mul) next = old * v;
          else if (op === Op.div) next = old / v;
          else if (op === Op.min) next = v < old ? v : old;
          else next = v > old ? v : old;
          const seen = Atomics.compareExchange(data, at, old, next);
          if (seen === old) break;
          old = seen;
        }
        if (out !== undefined) out[k] = old;
      }
    }
  }
}

// Float <-> bits, through one 8-byte scratch buffer per thread.
const kScratch = new ArrayBuffer(8);
const kF64 = new Float64Array(kScratch);
const kB64 = new BigInt64Array(kScratch);
const kF32 = new Float32Array(kScratch);
const kB32 = new Int32Array(kScratch);

function f64ToBits(value: number): bigint {
  kF64[0] = value;
  return kB64[0]!;
}
function bitsToF64(bits: bigint | number): number {
  kB64[0] = bits as bigint;
  return kF64[0]!;
}
function f32ToBits(value: number): number {
  kF32[0] = value;
  return kB32[0]!;
}
function bitsToF32(bits: bigint | number): number {
  kB32[0] = bits as number;
  return kF32[0]!;
}

type Combine = (old: number, operand: number) => number;
const kFloatCombine: Partial<Record<OpCode, Combine>> = {
  [Op.add]: (a, b) => a + b,
  [Op.sub]: (a, b) => a - b,
  [Op.mul]: (a, b) => a * b,
  [Op.div]: (a, b) => a / b,
  [Op.min]: Math.min,
  [Op.max]: Math.max,
};

function floatKernel(target: Target, run: OpRun): void {
  const bits = target.bits as Int32Array & BigInt64Array;
  const wide = target.info.bytes === 8;
  const toBits = (wide ? f64ToBits : f32ToBits) as (value: number) => never;
  const fromBits = wide ? bitsToF64 : bitsToF32;
  const { positions, offset, n } = run;
  const values = run.values as Float32Array | Float64Array | undefined;
  const scalar = run.scalar as number;
  const out = run.out as Float32Array | Float64Array | undefined;
  switch (run.op) {
    case Op.load:
      for (let k = 0; k < n; k++) out![k] = fromBits(Atomics.load(bits, offset + positions[k]!));
      return;
    case Op.store:
      for (let k = 0; k < n; k++) Atomics.store(bits, offset + positions[k]!, toBits(values === undefined ? scalar : values[k]!));
      return;
    case Op.swap:
      for (let k = 0; k < n; k++) {
        const old = fromBits(Atomics.exchange(bits, offset + positions[k]!, toBits(values === undefined ? scalar : values[k]!)));
        if (out !== undefined) out[k] = old;
      }
      return;
    case Op.compareExchange: {
      // Compares values, not bits: 0 matches -0, and NaN matches nothing.
      const expected = run.expected as Float32Array | Float64Array | undefined;
      const expectedScalar = run.expectedScalar as number;
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const want = expected === undefined ? expectedScalar : expected[k]!;
        const next = toBits(values === undefined ? scalar : values[k]!);
        let seen = Atomics.load(bits, at);
        let old = fromBits(seen);
        while (old === want) {
          const now = Atomics.compareExchange(bits, at, seen, next);
          if (now === seen) break;
          seen = now;
          old = fromBits(seen);
        }
        out![k] = old;
      }
      return;
    }
    default: {
      const combine = kFloatCombine[run.op]!;
      for (let k = 0; k < n; k++) {
        const at = offset + positions[k]!;
        const v = values === undefined ? scalar : values[k]!;
        let seen = Atomics.load(bits, at);
        let old = fromBits(seen);
        for (;;) {
          const now = Atomics.compareExchange(bits, at, seen, toBits(combine(old, v)));
          if (now === seen) break;
          seen = now;
          old = fromBits(seen);
        }
        if (out !== undefined) out[k] = old;
      }
    }
  }
}
