// Bad input to distributed arrays is refused on the calling PE with a typed error (a ShoalError
// subclass with a stable code, whose message names the bad index or value, the bounds, and what to
// do), before anything is applied: a batch with one bad entry changes nothing. What is merely
// unusual works: empty batches, empty arrays, float division by zero. One job per shape (PE count,
// in one process or spread over several) and mode runs every check on every PE
// (test/fixtures/array-bad-input.ts); the refusals and results are the same on every shape.
import { beforeAll, describe, expect, it } from "vitest";

import { expectPlacement, kMultiProcessShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const range = (n: number) => [...Array(n).keys()];

interface Refusal {
  readonly error: "ShoalRangeError" | "ShoalTypeError" | "StateError";
  /** Fragments the message must contain, on `pes` PEs, seen by PE `pe`. */
  readonly says: (pes: number, pe: number) => string[];
}

const kCodes = { ShoalRangeError: "ERR_SHOAL_RANGE", ShoalTypeError: "ERR_SHOAL_TYPE", StateError: "ERR_SHOAL_STATE" } as const;
const rangeError = (...says: string[]): Refusal => ({ error: "ShoalRangeError", says: () => says });
const typeError = (...says: string[]): Refusal => ({ error: "ShoalTypeError", says: () => says });

/** The parts of 10 elements over `pes` PEs (the definition, see test/array-layout.test.ts). */
const partOf0 = (pes: number) => Math.floor(10 / pes) + (10 % pes > 0 ? 1 : 0);

/** A bad index, and how a call given it must be refused (`call` names the method in the message). */
const kBadIndices: [string, (call: string) => Refusal][] = [
  ["-1", (call) => rangeError(`${call}: index is -1, out of range for an array of length 10`, "valid: 0..9")],
  ["10", (call) => rangeError(`${call}: index is 10, out of range for an array of length 10`, "valid: 0..9")],
  ["2.5", (call) => typeError(`${call}: index is 2.5, which is not an integer`, "valid: 0..9")],
  ["NaN", (call) => typeError(`${call}: index is NaN`, "expected an integer index", "valid: 0..9")],
  ["Infinity", (call) => typeError(`${call}: index is Infinity`, "expected an integer index", "valid: 0..9")],
  [`"3"`, (call) => typeError(`${call}: index is "3"`, "expected an integer index", "valid: 0..9")],
  ["3n", (call) => typeError(`${call}: index is the bigint 3n`, "convert it with Number()", "valid: 0..9")],
  ["undefined", (call) => typeError(`${call}: index is undefined`, "expected an integer index", "valid: 0..9")],
];
const kIndexedCalls: [string, string][] = [
  ["load", "load"], ["store", "store"], ["fetchAdd", "fetchAdd"], ["compareExchange", "compareExchange"],
  ["batchLoad one", "batchLoad"], ["batchAdd one", "batchAdd"],
];

/** Refused calls that must leave their array as it was, by the fixture's check name. */
const kBadIndexChecks: Record<string, Refusal> = Object.fromEntries(kBadIndices.flatMap(([label, refusal]) =>
  kIndexedCalls.flatMap(([check, call]) => ["block", "cyclic"].map((dist) => [`${check} index ${label} (${dist})`, refusal(call)]))));

const kBadBatchIndexChecks: Record<string, Refusal> = {
  "batchAdd with indices[2] = 10": rangeError("batchAdd: indices[2] is 10, out of range for an array of length 10", "valid: 0..9"),
  "batchStore with indices[1] = -1 (cyclic)": rangeError("batchStore: indices[1] is -1", "valid: 0..9"),
  "batchLoad with indices[1] = NaN in a Float64Array": typeError("batchLoad: indices[1] is NaN", "valid: 0..9"),
  "batchFetchAdd with indices[1] = 1.5": typeError("batchFetchAdd: indices[1] is 1.5, which is not an integer", "valid: 0..9"),
  [`batchSwap with indices[1] = "1"`]: typeError(`batchSwap: indices[1] is "1"`, "valid: 0..9"),
  "batchAdd with indices[1] = 1n": typeError("batchAdd: indices[1] is the bigint 1n", "Number()"),
  "batchAdd with a BigInt64Array of indices": typeError("batchAdd: indices are numbers, got a BigInt64Array", "convert them to a Uint32Array"),
  "batchCompareExchange with indices[3] = 99 (cyclic)": rangeError("batchCompareExchange: indices[3] is 99", "valid: 0..9"),
  "batchFetchSub with indices[4] = -3 in an Int32Array": rangeError("batchFetchSub: indices[4] is -3", "valid: 0..9"),
};

const kI32 = "an integer in -2147483648..2147483647 for an i32 array";
const kI64 = "a bigint in -9223372036854775808n..9223372036854775807n for an i64 array";
const kBadValueChecks: Record<string, Refusal> = {
  "store of the number 5 to an i64 array": typeError("store: value is the number 5", kI64, "write 5n or BigInt(5)"),
  "batchAdd with values[1] the number 2 on an i64 array": typeError("batchAdd: values[1] is the number 2", "write 2n or BigInt(2)"),
  "store of the bigint 5n to an f64 array": typeError("store: value is the bigint 5n", "a number for an f64 array", "convert it with Number()"),
  "batchStore with values[1] the bigint 2n on an f64 array": typeError("batchStore: values[1] is the bigint 2n", "convert it with Number()"),
  "store of 300 to a u8 array": rangeError("store: value is 300, out of range", "an integer in 0..255"),
  "add of -1 to a u8 array": rangeError("add: value is -1, out of range", "an integer in 0..255"),
  "batchStore with values[2] = 300 on a u8 array": rangeError("batchStore: values[2] is 300, out of range", "an integer in 0..255"),
  "store of 2^31 to an i32 array": rangeError("store: value is 2147483648, out of range", kI32),
  "store of 1.5 to an i32 array": typeError("store: value is 1.5", kI32),
  "batchAdd with values[1] = 0.5 on an i32 array": typeError("batchAdd: values[1] is 0.5", kI32),
  [`store of "1" to an i32 array`]: typeError(`store: value is "1"`, kI32),
  // A bigint of the right kind but out of range is a range error, like an out-of-range number.
  "store of 2^63 to an i64 array": rangeError("store: value is 9223372036854775808n", kI64),
  "store of -1n to a u64 array": rangeError("store: value is -1n", "a bigint in 0n..18446744073709551615n"),
  "compareExchange expecting 1.5 on an i32 array": typeError("compareExchange: expected is 1.5", kI32),
  "compareExchange of 256 into a u8 array": rangeError("compareExchange: value is 256, out of range", "an integer in 0..255"),
  "batchCompareExchange with expected[1] = 2n on an f32 array": typeError("batchCompareExchange: expected[1] is the bigint 2n", "a number for an f32 array"),
};

const kBadOperationChecks: Record<string, Refusal> = {
  "div by 0 on an i32 array": rangeError("div: value is 0: integer division by zero", "give a non-zero divisor"),
  "fetchDiv by -0 on an i32 array": rangeError("fetchDiv: value is 0: integer division by zero", "give a non-zero divisor"),
  "div by 0n on an i64 array": rangeError("div: value is 0", "integer division by zero", "give a non-zero divisor"),
  "batchDiv with values[1] = 0 on an i32 array": rangeError("batchDiv: values[1] is 0: integer division by zero", "give non-zero divisors"),
  "batchFetchDiv of many indices by 0": rangeError("batchFetchDiv: value is 0: integer division by zero", "give a non-zero divisor"),
  "batchDiv with values[1] = 0 in a Uint8Array on a u8 array": rangeError("batchDiv: values[1] is 0: integer division by zero"),
  "bitAnd on an f64 array": typeError("bitAnd: f64 arrays have no bitwise operations", "use an integer dtype"),
  "fetchBitOr on an f32 array": typeError("fetchBitOr: f32 arrays have no bitwise operations", "use an integer dtype"),
  "batchBitXor on an f64 array": typeError("batchBitXor: f64 arrays have no bitwise operations", "use an integer dtype"),
  "batchAdd with 3 indices and 2 values": rangeError("batchAdd: indices has 3 elements but values has 2", "give lists of the same length, or one value for all"),
  "batchStore with 2 indices and 3 values": rangeError("batchStore: indices has 2 elements but values has 3", "give lists of the same length"),
  "batchCompareExchange with 2 indices and 3 expected": rangeError("batchCompareExchange: indices has 2 elements but expected has 3", "give lists of the same length"),
  "batchCompareExchange of one index with 2 values and 1 expected": rangeError("batchCompareExchange: values has 2 elements but expected has 1", "give lists of the same length"),
};

/** Refused calls that change no array anyway (index math, empty arrays, creation, freed arrays). */
const kOtherChecks: Record<string, Refusal> = {
  "ownerOf index 10": rangeError("ownerOf: index is 10, out of range for an array of length 10", "valid: 0..9"),
  "localIndex index -1 (cyclic)": rangeError("localIndex: index is -1", "valid: 0..9"),
  "globalIndex of PE numPes": { error: "ShoalRangeError", says: (pes) => [`globalIndex: expected a PE in 0..${pes - 1}, got ${pes}`] },
  "globalIndex past the end of PE 0's part": {
    error: "ShoalRangeError", says: (pes) => [`globalIndex: localIndex is ${partOf0(pes)}, expected an integer in 0..${partOf0(pes) - 1}`],
  },
  "localLength of PE numPes": { error: "ShoalRangeError", says: (pes) => [`localLength: expected a PE in 0..${pes - 1}, got ${pes}`] },
  "load index 0 of an empty array": rangeError("load: index is 0, out of range for an array of length 0", "the array is empty, so no index is valid"),
  "store index 0 of an empty array": rangeError("store: index is 0", "the array is empty, so no index is valid"),
  "batchAdd of [0] to an empty array": rangeError("batchAdd: indices[0] is 0", "the array is empty, so no index is valid"),
  "batchLoad one index 0 of an empty array": rangeError("batchLoad: index is 0", "the array is empty, so no index is valid"),
  "ownerOf index 0 of an empty array": rangeError("ownerOf: index is 0", "the array is empty, so no index is valid"),
  "localIndex index 0 of an empty array": rangeError("localIndex: index is 0", "the array is empty, so no index is valid"),
  "globalIndex of element 0 of PE 0 of an empty array": rangeError("globalIndex: PE 0 owns no element of this array"),
  [`world.array of dtype "float64"`]: typeError("world.array: expected a dtype (i8, u8, i16, u16, i32, u32, f32, f64, i64, u64), got \"float64\""),
  "world.array of dtype undefined": typeError("world.array: expected a dtype", "got undefined"),
  "world.array of length -1": rangeError("world.array: expected a length that is an integer of at least 0, got -1"),
  // Not an integer, or not a number: the wrong kind of length, as for indices and PE numbers.
  "world.array of length 2.5": typeError("world.array: expected a length that is an integer of at least 0, got 2.5"),
  "world.array of length NaN": typeError("world.array: expected a length that is an integer of at least 0, got NaN"),
  [`world.array of length "10"`]: typeError(`world.array: expected a length that is an integer of at least 0, got "10"`),
  "world.array of length 2^33": rangeError("world.array: 8589934592 elements of i32 do not fit", "at most 4294967295 elements"),
  [`world.array of dist "blocked"`]: typeError(`world.array: expected dist "block" or "cyclic", got "blocked"`),
  "world.array with options null": typeError("world.array: expected options", "got null"),
  ...Object.fromEntries(["load", "store", "fetchAdd", "compareExchange", "batchLoad", "batchAdd", "batchCompareExchange", "fill", "get"].map((call) => [
    `${call} after free`, { error: "StateError", says: (_pes: number, pe: number) => [`${call}: this array has been freed on PE ${pe}`] } satisfies Refusal,
  ])),
  "sum after free": { error: "StateError", says: (_pes, pe) => [`this array has been freed on PE ${pe}`] },
};

/** PEs that ask for different arrays: only on more than one PE. */
const kMismatchChecks: Record<string, Refusal> = {
  "world.array of a different length on the last PE": {
    error: "ShoalRangeError",
    says: (pes) => [`PE 0 called world.array("i32", 10, { dist: "block" })`, `PE ${pes - 1} called world.array("i32", 11, { dist: "block" })`, "every PE must create the same arrays, in the same order"],
  },
  "world.array of a different dtype on PE 0": {
    error: "ShoalRangeError",
    says: (pes) => [`PE 0 called world.array("u8", 10, { dist: "block" })`, ...range(pes - 1).map((p) => `PE ${p + 1} called world.array("i32", 10, { dist: "block" })`)],
  },
  "world.array of a different dist on the last PE": {
    error: "ShoalRangeError",
    says: (pes) => [`PE ${pes - 1} called world.array("i32", 10, { dist: "cyclic" })`, "array creation is collective"],
  },
};

const kJobs: [number, "direct" | "am", number][] = [
  [1, "direct", 1], [3, "direct", 1], [3, "am", 1],
  ...kMultiProcessShapes.map(({ pes, procs }) => [pes, "direct", procs] as [number, "direct", number]),
];

describe.each(kJobs)("bad input to distributed arrays on %i PEs, SHOAL_ARRAY_OPS=%s, in %i process(es)", (pes, mode, procs) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-bad-input.ts", { procs, env: { SHOAL_ARRAY_OPS: mode } });
  });

  /** The records of `kind` for `check`, one per PE, in PE order. */
  function perPe(kind: string, check: string): Record<string, unknown>[] {
    const records = recordsOf(job, kind).filter((r) => r["check"] === check);
    expect(records.map((r) => r["pe"]), `one "${kind}" record per PE for "${check}"`).toEqual(range(pes));
    return records;
  }

  function expectRefused(check: string, refusal: Refusal): void {
    for (const record of perPe("refused", check)) {
      const pe = Number(record["pe"]);
      expect(record["refused"], `${check}: refused on PE ${pe}`).toBeUndefined();
      expect({ name: record["name"], code: record["code"] }, `${check} on PE ${pe}`).toEqual({ name: refusal.error, code: kCodes[refusal.error] });
      expect(record["instanceOf"]).toEqual(expect.arrayContaining(["ShoalError", refusal.error]));
      for (const fragment of refusal.says(pes, pe)) expect(record["message"], `${check} on PE ${pe}`).toContain(fragment);
    }
  }

  it("runs to completion: exit code 0 and nothing on stderr", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
  });

  it(`runs PEs p·T..p·T+T-1 in process p of ${procs}, with T = ${pes / procs} PEs per process`, () => {
    expectPlacement(job, pes, procs);
  });

  it("makes exactly the checks listed here", () => {
    const listed = [kBadIndexChecks, kBadBatchIndexChecks, kBadValueChecks, kBadOperationChecks, kOtherChecks, ...(pes > 1 ? [kMismatchChecks] : [])]
      .flatMap((checks) => Object.keys(checks));
    const made = new Set(recordsOf(job, "refused").map((r) => r["check"]));
    expect([...made].sort()).toEqual([...listed].sort());
  });

  const kGroups: [string, Record<string, Refusal>][] = [
    ["bad index", kBadIndexChecks], ["bad index in a batch", kBadBatchIndexChecks], ["bad value", kBadValueChecks], ["bad operation", kBadOperationChecks],
  ];
  for (const [group, checks] of kGroups) {
    for (const [check, refusal] of Object.entries(checks)) {
      it(`${group}: refuses ${check} with ${refusal.error} naming it and the bounds, and changes no element`, () => {
        expectRefused(check, refusal);
        for (const record of perPe("refused", check)) expect(record["unchanged"], `${check} on PE ${String(record["pe"])}`).toBe(true);
      });
    }
  }

  for (const [check, refusal] of Object.entries(kOtherChecks)) {
    it(`refuses ${check} with ${refusal.error}`, () => {
      expectRefused(check, refusal);
    });
  }

  if (pes > 1) {
    for (const [check, refusal] of Object.entries(kMismatchChecks)) {
      it(`refuses ${check} on every PE with an error naming what each PE asked for, instead of hanging`, () => {
        expectRefused(check, refusal);
      });
    }
  }

  it("creates the next array normally after PEs asked for different ones", () => {
    for (const record of perPe("works", "world.array after the mismatched ones")) {
      expect(record["result"]).toEqual({ type: "Int32Array", values: [...range(pes).map((p) => String(p + 1)), "0"] });
    }
  });

  it("leaves every array as it was created after all the refusals", () => {
    const created = (n: number) => range(10).map((i) => (n === 64 ? `${2n ** 40n + BigInt(i)}n` : String(3 * i + 1)));
    const expected: Record<string, unknown> = {
      ints: { type: "Int32Array", values: created(32) }, intsCyclic: { type: "Int32Array", values: created(32) },
      bytes: { type: "Uint8Array", values: created(8) }, big: { type: "BigInt64Array", values: created(64) },
      ubig: { type: "BigUint64Array", values: created(64) }, floats: { type: "Float64Array", values: created(32) },
      singles: { type: "Float32Array", values: created(32) },
    };
    const records = recordsOf(job, "final");
    expect(records).toHaveLength(pes * Object.keys(expected).length);
    for (const record of records) expect(record["contents"], `${String(record["array"])} seen by PE ${String(record["pe"])}`).toEqual(expected[String(record["array"])]);
  });

  const works = (check: string, result: unknown) => {
    for (const record of perPe("works", check)) {
      expect(record["refused"], `${check} on PE ${String(record["pe"])}: ${String(record["message"])}`).toBe(false);
      expect(record["result"], `${check} on PE ${String(record["pe"])}`).toEqual(result);
    }
  };
  const empty = (type: string) => ({ type, values: [] });

  it("resolves empty batches: to undefined, or for fetching forms to an empty typed array of the dtype", () => {
    works("batchAdd of no indices", "undefined");
    works("batchFetchAdd of no indices", empty("Int32Array"));
    works("batchLoad of no indices", empty("Int32Array"));
    works("batchFetchAdd of an empty Uint32Array on an i64 array", empty("BigInt64Array"));
    works("batchCompareExchange of empty lists on an f64 array", empty("Float64Array"));
    works("batchAdd of one index and no values", "undefined");
    works("batchFetchSub of one index and no values", empty("Int32Array"));
    works("batchStore of no indices and no values", "undefined");
  });

  it("changes nothing with empty batches", () => {
    works("the arrays after the empty batches", [...range(10).map(() => "0"), ...range(10).map(() => "0n"), ...range(10).map(() => "0")]);
  });

  it("divides floats by zero as IEEE arithmetic does: to infinities, without an error", () => {
    works("f64 div and fetchDiv by 0", ["Infinity", "Infinity", "-Infinity"]);
  });

  it("makes an empty array whose parts are empty and whose sum and product are the identities", () => {
    works("sum of an empty i32 array", "0");
    works("prod of an empty i32 array", "1");
    works("sum of an empty i64 array", "0n");
    works("localLength of every PE of an empty array", range(pes).map(() => "0"));
    works("local of an empty array", "0");
    works("batchLoad of no indices of an empty array", empty("BigInt64Array"));
  });
});
