// Element and batch operations of distributed arrays, on every dtype, block and cyclic, on every PE
// count, with operations on other PEs' parts applied directly (the default) and as active messages
// to the owner (SHOAL_ARRAY_OPS=am). One job per PE count and mode runs every seeded call of the plan
// (test/fixtures/array-ops-plan.ts); this file replays the same plan on a sequential model of the
// array and checks each call's result and the final contents.
//
// The model's semantics, from the documentation:
// - integers wrap like the typed array: every result is taken modulo 2^width (mul included), and
//   division truncates toward zero;
// - floats compute in f64, and an f32 element stores the result rounded to f32;
// - fetching forms resolve to the previous values, a batch's as a typed array of the dtype, in
//   input order; the other forms resolve to undefined;
// - a batch applies its entries in input order, so a repeated index sees the earlier entries;
// - compareExchange stores the value when the element equals the expected one, and resolves to the
//   element's value before.
import type { Dtype, Scalar } from "shoal";
import { beforeAll, describe, expect, it } from "vitest";

import {
  arrayLength, dtypeInfo, encodeResult, encodeScalar, expectedOf, initialValues, kBatchMethods, kDists, kDtypes, kElementMethods,
  kRounds, methodsFor, planRound, probeOf, shapesOf, type Call, type Method, type Operator,
} from "./fixtures/array-ops-plan.js";
import { kMultiProcessShapes, kPeCounts, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const range = (n: number) => [...Array(n).keys()];

const kTypedArrays: Record<Dtype, new (length: number) => { [k: number]: Scalar; readonly length: number }> = {
  i8: Int8Array, u8: Uint8Array, i16: Int16Array, u16: Uint16Array, i32: Int32Array, u32: Uint32Array,
  f32: Float32Array, f64: Float64Array, i64: BigInt64Array, u64: BigUint64Array,
};

const typedArrayName = (dtype: Dtype) => new kTypedArrays[dtype](0).constructor.name;

/** `operator` applied to an element holding `old` with operand `operand`: the value to store. */
function combine(dtype: Dtype, operator: Operator, old: Scalar, operand: Scalar): Scalar {
  const { kind, bits, signed } = dtypeInfo(dtype);
  if (operator === "store" || operator === "swap") return operand;
  if (kind === "float") {
    const a = old as number;
    const b = operand as number;
    const exact = { add: a + b, sub: a - b, mul: a * b, div: a / b, min: b < a ? b : a, max: b > a ? b : a }[operator as "add"];
    return dtype === "f32" ? Math.fround(exact) : exact;
  }
  // Integers: exact in BigInt, then wrapped to the width.
  const a = BigInt(old);
  const b = BigInt(operand);
  let exact: bigint;
  switch (operator) {
    case "add": exact = a + b; break;
    case "sub": exact = a - b; break;
    case "mul": exact = a * b; break;
    case "div": exact = a / b; break; // BigInt division truncates toward zero
    case "min": exact = b < a ? b : a; break;
    case "max": exact = b > a ? b : a; break;
    case "bitAnd": exact = a & b; break;
    case "bitOr": exact = a | b; break;
    case "bitXor": exact = a ^ b; break;
    default: throw new Error(`no operator ${operator}`);
  }
  const wrapped = signed ? BigInt.asIntN(bits, exact) : BigInt.asUintN(bits, exact);
  return kind === "bigint" ? wrapped : Number(wrapped);
}

/** A sequential model of one array: a typed array of the dtype, operations applied one at a time. */
class Model {
  readonly data: { [k: number]: Scalar; readonly length: number };
  readonly dtype: Dtype;

  constructor(dtype: Dtype, initial: readonly Scalar[]) {
    this.dtype = dtype;
    this.data = new kTypedArrays[dtype](initial.length);
    initial.forEach((value, i) => (this.data[i] = value));
  }

  /** Applies one operation to element `index` and returns the value it held before. */
  apply(operator: Operator, index: number, operand: Scalar | undefined, expected: Scalar | undefined): Scalar {
    const old = this.data[index]!;
    if (operator === "load") return old;
    if (operator === "compareExchange") {
      if (old === expected) this.data[index] = operand!;
      return old;
    }
    this.data[index] = combine(this.dtype, operator, old, operand!);
    return old;
  }

  /** Makes `call` and returns what it must resolve to. */
  call(call: Call): unknown {
    const { method, shape } = call;
    const expected = method.operator === "compareExchange" ? expectedOf(this.dtype, call, probeOf(call).map((i) => this.data[i]!)) : undefined;
    // A batch has an entry per index of its list, or per value of its list; an element call, and a
    // batchLoad of one index, have one.
    const list = shape === "manyIndices" || shape === "zipped" ? call.index : shape === "manyValues" && call.value !== undefined ? call.value : [call.index];
    const entries = (list as readonly unknown[]).length;
    /** Entry k of an argument: of its list, or the one value it is. */
    const at = <T>(argument: T | readonly T[], k: number): T => (Array.isArray(argument) ? (argument as readonly T[])[k]! : argument as T);
    const previous = range(entries).map((k) => this.apply(method.operator, at(call.index, k), at(call.value, k), at(expected, k)));
    if (!method.fetch) return undefined;
    if (!method.batch) return previous[0];
    const out = new kTypedArrays[this.dtype](entries);
    previous.forEach((value, k) => (out[k] = value));
    return out;
  }
}

/** Where a call is, for failure messages. */
interface Replayed {
  readonly where: string;
  readonly dtype: Dtype;
  readonly dist: string;
  readonly pe: number;
  readonly call: Call;
  /** What the call must resolve to, and what its elements must hold after it, encoded like the fixture's records. */
  readonly expected: [unknown, unknown];
  readonly round: number;
  readonly position: number;
}

interface Replay {
  /** Every call of every PE, dtype and distribution, with what it must resolve to. */
  readonly calls: Replayed[];
  /** The final contents of each array, by `${dtype} ${dist}`. */
  readonly final: Map<string, unknown>;
}

/** Replays the whole plan of a `pes`-PE job. The regions of the PEs are disjoint, so PE by PE. */
function replay(pes: number): Replay {
  const calls: Replayed[] = [];
  const final = new Map<string, unknown>();
  const length = arrayLength(pes);
  for (const dtype of kDtypes) {
    for (const dist of kDists) {
      const model = new Model(dtype, initialValues(dtype, length));
      for (let pe = 0; pe < pes; pe++) {
        for (let round = 0; round < kRounds; round++) {
          planRound(dtype, dist, pes, pe, round).forEach((call, position) => {
            const where = `${dtype} ${dist}, PE ${pe}, round ${round}, call ${position} (${call.method.name}, ${call.shape})`;
            const result = encodeResult(model.call(call));
            const indices = typeof call.index === "number" ? [call.index] : call.index;
            const after = { type: typedArrayName(dtype), values: indices.map((i) => encodeScalar(model.data[i]!)) };
            const expected: [unknown, unknown] = [result, after];
            calls.push({ where, dtype, dist, pe, call, expected, round, position });
          });
        }
      }
      final.set(`${dtype} ${dist}`, range(length).map((i) => encodeScalar(model.data[i]!)));
    }
  }
  return { calls, final };
}

const kReplays = new Map<number, Replay>();
function replayOf(pes: number): Replay {
  let found = kReplays.get(pes);
  if (found === undefined) kReplays.set(pes, (found = replay(pes)));
  return found;
}

describe("the sequential model", () => {
  it("wraps integer results to the dtype's width and truncates division toward zero", () => {
    expect(combine("i8", "add", 127, 1)).toBe(-128);
    expect(combine("u8", "sub", 0, 1)).toBe(255);
    expect(combine("i32", "mul", 65536, 65536)).toBe(0);
    expect(combine("u32", "mul", 4294967295, 4294967295)).toBe(1);
    expect(combine("i16", "div", -7, 2)).toBe(-3);
    expect(combine("i32", "div", -2147483648, -1)).toBe(-2147483648);
    expect(combine("i64", "mul", 2n ** 62n, 4n)).toBe(0n);
    expect(combine("u64", "sub", 0n, 1n)).toBe(2n ** 64n - 1n);
  });

  it("rounds f32 results to f32 and keeps f64 results", () => {
    expect(combine("f32", "add", 1, 0.1)).toBe(Math.fround(1.1));
    expect(combine("f64", "add", 1, 0.1)).toBe(1.1);
  });
});

const kJobs: [number, "direct" | "am", number][] = [
  ...kPeCounts.map((pes) => [pes, "direct", 1] as [number, "direct", number]), [2, "am", 1], [3, "am", 1], [8, "am", 1],
  ...kMultiProcessShapes.map(({ pes, procs }) => [pes, "direct", procs] as [number, "direct", number]),
];

describe.each(kJobs)("array operations on %i PEs, SHOAL_ARRAY_OPS=%s, in %i process(es)", (pes, mode, procs) => {
  let job: JobResult;
  let records: Map<string, Record<string, unknown>>;
  beforeAll(async () => {
    job = await runJob(pes, "array-ops.ts", { procs, env: { SHOAL_ARRAY_OPS: mode } });
    records = new Map(recordsOf(job, "ops").map((r) => [`${String(r["dtype"])} ${String(r["dist"])} ${String(r["pe"])}`, r]));
  });

  /**
   * Checks every call of `method` against the model's replay: what it resolved to (`part` 0) or
   * what its elements held after it (`part` 1).
   */
  function checkMethod(method: Method, part: 0 | 1): void {
    const replayed = replayOf(pes).calls.filter((c) => c.call.method.name === method.name);
    const mismatches: { where: string; got: unknown; expected: unknown }[] = [];
    for (const { where, dtype, dist, pe, expected, round, position } of replayed) {
      const record = records.get(`${dtype} ${dist} ${pe}`);
      const got = (record?.["rounds"] as unknown[][][] | undefined)?.[round]?.[position]?.[part];
      if (JSON.stringify(got) !== JSON.stringify(expected[part])) mismatches.push({ where, got, expected: expected[part] });
    }
    expect(mismatches.slice(0, 3), `${mismatches.length} of ${replayed.length} calls differ from the model`).toEqual([]);
    // Every applicable dtype, both distributions, every shape and every PE were exercised.
    const dtypes = new Set(replayed.map((c) => c.dtype));
    expect([...dtypes]).toEqual(kDtypes.filter((dtype) => methodsFor(dtype, [method]).length > 0));
    expect(new Set(replayed.map((c) => c.call.shape))).toEqual(new Set(shapesOf(method)));
  }

  it("runs to completion: exit code 0, nothing on stderr, one record per PE, dtype and distribution", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
    expect(records.size).toBe(pes * kDtypes.length * kDists.length);
  });

  for (const method of kElementMethods) {
    if (method.operator === "load") {
      it("load resolves to the element's value and leaves it as it was, on every dtype, block and cyclic", () => {
        checkMethod(method, 0);
        checkMethod(method, 1);
      });
      continue;
    }
    it(`${method.name} updates the element as the sequential model does, on every dtype, block and cyclic`, () => {
      checkMethod(method, 1);
    });
    it(`${method.name} resolves to ${method.fetch ? "the element's previous value" : "undefined"}, on every dtype, block and cyclic`, () => {
      checkMethod(method, 0);
    });
  }

  for (const method of kBatchMethods) {
    if (method.operator === "load") {
      it("batchLoad (a list of indices with repeats, or one index) resolves to the elements' values in input order, as a typed array of the dtype", () => {
        checkMethod(method, 0);
        checkMethod(method, 1);
      });
      continue;
    }
    it(`${method.name} applies its entries in input order, with many indices and one value, one index and many values, or zipped lists`, () => {
      checkMethod(method, 1);
    });
    const resolves = method.fetch ? "the previous values in input order, as a typed array of the dtype" : "undefined";
    it(`${method.name} resolves to ${resolves}, in every shape, on every dtype, block and cyclic`, () => {
      checkMethod(method, 0);
    });
  }

  it("leaves every element as the sequential replay leaves it: read back with batchLoad on PE 0, and through each PE's local part", () => {
    const { final } = replayOf(pes);
    for (const dtype of kDtypes) {
      for (const dist of kDists) {
        const expected = final.get(`${dtype} ${dist}`) as string[];
        const everything = records.get(`${dtype} ${dist} 0`)?.["everything"];
        expect(everything, `${dtype} ${dist}: batchLoad of every index`).toEqual({ type: typedArrayName(dtype), values: expected });
        for (let pe = 0; pe < pes; pe++) {
          // The parts under the definition of each distribution (test/array-layout.test.ts).
          const base = Math.floor(expected.length / pes);
          const extra = expected.length % pes;
          const start = pe * base + Math.min(pe, extra);
          const size = base + (pe < extra ? 1 : 0);
          const part = dist === "block" ? expected.slice(start, start + size) : range(size).map((k) => expected[k * pes + pe]);
          const local = records.get(`${dtype} ${dist} ${pe}`)?.["local"] as { values?: unknown } | undefined;
          expect(local?.values, `${dtype} ${dist}: local part of PE ${pe}`).toEqual(part);
        }
      }
    }
  });

  it("compares float values in compareExchange: 0 matches -0 both ways, and NaN matches nothing", () => {
    const steps = recordsOf(job, "floatCompare");
    expect(steps).toHaveLength(pes * 2 * kDists.length);
    for (const record of steps) {
      expect(record["steps"], `${String(record["dtype"])} ${String(record["dist"])}, PE ${String(record["pe"])}`).toEqual({
        negativeZeroExpectingZero: "-0", afterNegativeZero: "5",
        zeroExpectingNegativeZero: "0", afterZero: "6",
        nanExpectingNan: "NaN", afterNan: "NaN",
        batchNanExpectingNan: { type: record["dtype"] === "f32" ? "Float32Array" : "Float64Array", values: ["NaN", "NaN"] }, afterBatchNan: "NaN",
        batchNegativeZero: { type: record["dtype"] === "f32" ? "Float32Array" : "Float64Array", values: ["-0", "7"] }, afterBatchNegativeZero: "8",
      });
    }
  });
});
