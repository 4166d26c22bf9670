// Whole-array operations of DistArray: fill, get, put, forEach, map, reduce and scan, on every dtype,
// both distributions, lengths 0, 1, shorter than the PE count and a prime, against sequential
// oracles. One job per PE count (and per SHOAL_ARRAY_OPS mode) runs every case
// (test/fixtures/array-whole.ts); each `it` reads its records.
import { beforeAll, describe, expect, it } from "vitest";
import type { Dtype, Scalar } from "shoal";

import {
  afterPuts, bitsOf, builtinsOf, casesFor, decode, encode, encodeAll, getRangesOf, isBig, isFloat, isSigned, kMapTarget, kOutSlack,
  kUnknownReduction, kUserReductions, mapSame, mapToTarget, outSentinel, putPlanOf, scansOf, storedAs, typedOf, type WholeCase,
} from "./fixtures/array-whole-plan.js";
import { kShapes, onePerPe, recordsOf, runJob, type JobResult } from "./helpers/job.js";
import { ownedIndices } from "./helpers/layout-oracle.js";

type JobRecord = Record<string, unknown>;

// ------------------------------------------------------------------------------------- oracles


function largestOf(dtype: Dtype): Scalar {
  if (isFloat(dtype)) return Infinity;
  if (isBig(dtype)) return isSigned(dtype) ? 2n ** 63n - 1n : 2n ** 64n - 1n;
  return isSigned(dtype) ? 2 ** (bitsOf(dtype) - 1) - 1 : 2 ** bitsOf(dtype) - 1;
}

function smallestOf(dtype: Dtype): Scalar {
  if (isFloat(dtype)) return -Infinity;
  if (isBig(dtype)) return isSigned(dtype) ? -(2n ** 63n) : 0n;
  return isSigned(dtype) ? -(2 ** (bitsOf(dtype) - 1)) : 0;
}

/** The value that changes nothing: what an empty array reduces to. */
function identityOf(dtype: Dtype, op: string): Scalar {
  const user = kUserReductions[op as keyof typeof kUserReductions];
  if (user !== undefined) return user.identity(dtype);
  const big = isBig(dtype);
  switch (op) {
    case "sum": return big ? 0n : 0;
    case "prod": return big ? 1n : 1;
    case "min": return largestOf(dtype);
    case "max": return smallestOf(dtype);
    case "bitAnd": return isSigned(dtype) ? (big ? -1n : -1) : largestOf(dtype);
    case "bitOr":
    case "bitXor": return big ? 0n : 0;
  }
  throw new Error(`no oracle for ${op}`);
}

/**
 * One step of `op`, as the spec computes it: 8 to 32-bit integers and floats as JS numbers (f64,
 * no wrap), 64-bit integers as BigInts wrapped to 64 bits.
 */
function stepOf(dtype: Dtype, op: string): (acc: Scalar, x: Scalar) => Scalar {
  const user = kUserReductions[op as keyof typeof kUserReductions];
  if (user !== undefined) return user.combine;
  if (isBig(dtype)) {
    const wrap = (v: bigint) => (isSigned(dtype) ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));
    const big: Record<string, (a: bigint, x: bigint) => bigint> = {
      sum: (a, x) => wrap(a + x), prod: (a, x) => wrap(a * x), min: (a, x) => (x < a ? x : a), max: (a, x) => (x > a ? x : a),
      bitAnd: (a, x) => a & x, bitOr: (a, x) => a | x, bitXor: (a, x) => a ^ x,
    };
    const step = big[op]!;
    return (a, x) => step(a as bigint, x as bigint);
  }
  const unsigned32 = dtype === "u32";
  const bits = (v: number) => (unsigned32 ? v >>> 0 : v);
  const numbers: Record<string, (a: number, x: number) => number> = {
    sum: (a, x) => a + x, prod: (a, x) => a * x, min: Math.min, max: Math.max,
    bitAnd: (a, x) => bits(a & x), bitOr: (a, x) => bits(a | x), bitXor: (a, x) => bits(a ^ x),
  };
  const step = numbers[op]!;
  return (a, x) => step(a as number, x as number);
}

/** The sequential reduction of `values` with `op`, from the identity, left to right. */
function reduceOracle(dtype: Dtype, op: string, values: readonly Scalar[]): Scalar {
  const step = stepOf(dtype, op);
  return values.reduce<Scalar>((acc, x) => step(acc, x), identityOf(dtype, op));
}

/** The sequential scan of `values`, each running value stored in the dtype. */
function scanOracle(dtype: Dtype, op: string, values: readonly Scalar[], exclusive: boolean): Scalar[] {
  const step = stepOf(dtype, op);
  let acc = identityOf(dtype, op);
  return values.map((x) => {
    const next = step(acc, x);
    const stored = storedAs(dtype, exclusive ? acc : next);
    acc = next;
    return stored;
  });
}

/**
 * Expects the printed reduction `got` to be `expected`. Products of numbers are compared with a
 * relative tolerance (each PE multiplies its part, then the parts are combined in PE order); every
 * other reduction of the plan's data is exact in any order.
 */
function expectReduction(got: unknown, expected: Scalar, op: string, label: string): void {
  if (op === "prod" && typeof expected === "number" && Number.isFinite(expected) && expected !== 0) {
    const value = decode(got);
    expect(typeof value, label).toBe("number");
    expect(Math.abs((value as number) - expected), `${label}: ${String(value)} vs ${expected}`).toBeLessThanOrEqual(1e-12 * Math.abs(expected));
    return;
  }
  expect(got, label).toEqual(encode(expected));
}

// ------------------------------------------------------------------------------------- records

/** The records of `kind`, by case name (each case's records in PE order). */
function byCase(job: JobResult, kind: string): Map<string, JobRecord[]> {
  const map = new Map<string, JobRecord[]>();
  for (const record of recordsOf(job, kind)) {
    const name = String(record["case"]);
    map.set(name, [...(map.get(name) ?? []), record]);
  }
  return map;
}

/** Every case of a `pes`-PE job, with its records of `kind`: one per PE, or one in all (`single`). */
function eachCase(job: JobResult, pes: number, kind: string, single: boolean): [WholeCase, JobRecord[]][] {
  const records = byCase(job, kind);
  return casesFor(pes).map((c) => {
    const list = records.get(c.name) ?? [];
    if (single) expect(list, `${kind} records of ${c.name}`).toHaveLength(1);
    else expect(list.map((r) => r["pe"]), `${kind} records of ${c.name}`).toEqual([...Array(pes).keys()]);
    return [c, list];
  });
}

const valuesOf = (c: WholeCase, pes: number): Scalar[] => afterPuts(putPlanOf(c, pes));

// ---------------------------------------------------------------------------------------- tests

/** The behaviours of fill, put, get and reduce, which both modes of SHOAL_ARRAY_OPS must show. */
function basicBehaviours(pes: number, jobOf: () => JobResult, mode: "direct" | "am"): void {
  it("runs to completion: exit code 0, nothing on stderr, every PE done", () => {
    const job = jobOf();
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
    onePerPe(job, "done", pes);
    for (const record of onePerPe(job, "mode", pes)) expect(record["arrayOps"]).toBe(mode);
  });

  it("fill by one PE sets every element to the value, as every PE reads after a barrier", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "fill", false)) {
      const { fillValue } = putPlanOf(c, pes);
      for (const record of records) expect(record["values"], c.name).toEqual(encodeAll(Array.from({ length: c.length }, () => fillValue)));
    }
  });

  it("put of the whole array by one PE writes every element, as every PE reads after a barrier", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "putWhole", false)) {
      const { base } = putPlanOf(c, pes);
      for (const record of records) expect(record["values"], c.name).toEqual(encodeAll(base));
    }
  });

  it("puts of ranges by every PE at once (plain and typed, crossing part boundaries, empty) write exactly their ranges", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "putPieces", false)) {
      const expected = encodeAll(valuesOf(c, pes));
      for (const record of records) expect(record["values"], c.name).toEqual(expected);
    }
  });

  it("get of a range returns a typed array of the dtype with the elements in index order (empty ranges and the whole array too)", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "get", false)) {
      const values = valuesOf(c, pes);
      const type = typedOf(c.dtype, []).constructor.name;
      for (const record of records) {
        const pe = Number(record["pe"]);
        expect(record["gets"], `${c.name} on PE ${pe}`).toEqual(getRangesOf(c, pe).map(([start, count]) => ({
          start, count, type, values: encodeAll(values.slice(start, start + count)),
        })));
      }
    }
  });

  it("get into out writes the range to out's first elements, leaves the rest, and resolves to out", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "get", false)) {
      const values = valuesOf(c, pes);
      const sentinel = outSentinel(c.dtype);
      for (const record of records) {
        const pe = Number(record["pe"]);
        expect(record["outs"], `${c.name} on PE ${pe}`).toEqual(getRangesOf(c, pe).map(([start, count]) => ({
          start, count, returnsOut: true,
          out: encodeAll([...values.slice(start, start + count), ...Array.from({ length: kOutSlack }, () => sentinel)]),
        })));
      }
    }
  });

  it("reduce by each built-in name, called by one PE while the others wait in a barrier, is the sequential reduction: in f64 for 8 to 32-bit ints and floats, wrapped BigInt for 64-bit", () => {
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      const values = valuesOf(c, pes);
      const byName = record!["byName"] as JobRecord;
      for (const op of builtinsOf(c.dtype)) expectReduction(byName[op], reduceOracle(c.dtype, op, values), op, `${c.name} ${op}`);
    }
  });

  it("reduce by each built-in operator object gives the same as by its name", () => {
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      const values = valuesOf(c, pes);
      const byObject = record!["byObject"] as JobRecord;
      expect(Object.keys(byObject).sort(), c.name).toEqual([...builtinsOf(c.dtype), ...Object.keys(kUserReductions)].sort());
      for (const op of builtinsOf(c.dtype)) expectReduction(byObject[op], reduceOracle(c.dtype, op, values), op, `${c.name} ${op}`);
    }
  });

  it("sum(), prod(), min() and max() are the sum, product, smallest and largest element", () => {
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      const values = valuesOf(c, pes);
      const methods = record!["methods"] as JobRecord;
      for (const op of ["sum", "prod", "min", "max"]) expectReduction(methods[op], reduceOracle(c.dtype, op, values), op, `${c.name} ${op}()`);
    }
  });

  it("the sum of an 8 or 16-bit array is the exact total, past the dtype's range (it does not wrap)", () => {
    let pastRange = 0;
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      if (bitsOf(c.dtype) > 16 || isFloat(c.dtype)) continue;
      const total = valuesOf(c, pes).reduce((a: number, x) => a + Number(x), 0);
      expect((record!["methods"] as JobRecord)["sum"], c.name).toBe(total);
      if (total > (largestOf(c.dtype) as number) || total < (smallestOf(c.dtype) as number)) pastRange++;
    }
    expect(pastRange, "cases whose total is outside the dtype's range").toBeGreaterThan(0);
  });

  it("the sum of an f32 array is computed in f64, not rounded to f32", () => {
    let unrounded = 0;
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      if (c.dtype !== "f32") continue;
      const total = valuesOf(c, pes).reduce((a: number, x) => a + Number(x), 0);
      expect((record!["methods"] as JobRecord)["sum"], c.name).toBe(total);
      if (Math.fround(total) !== total) unrounded++;
    }
    expect(unrounded, "f32 cases whose total is not an f32").toBeGreaterThan(0);
  });

  it("the sum and product of a 64-bit array are BigInts wrapped to 64 bits", () => {
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      if (!isBig(c.dtype)) continue;
      const values = valuesOf(c, pes) as bigint[];
      const wrap = (v: bigint) => (isSigned(c.dtype) ? BigInt.asIntN(64, v) : BigInt.asUintN(64, v));
      const methods = record!["methods"] as JobRecord;
      expect(methods["sum"], c.name).toBe(encode(wrap(values.reduce((a, x) => a + x, 0n))));
      expect(methods["prod"], c.name).toBe(encode(wrap(values.reduce((a, x) => a * x, 1n))));
    }
  });

  it("reduce of an empty array is the identity: sum 0, prod 1, min the dtype's largest, max its smallest, bitAnd all ones, bitOr and bitXor 0", () => {
    const expected = (dtype: Dtype): Record<string, Scalar> => {
      const big = isBig(dtype);
      const identities: Record<string, Scalar> = { sum: big ? 0n : 0, prod: big ? 1n : 1, min: largestOf(dtype), max: smallestOf(dtype) };
      if (!isFloat(dtype)) {
        identities["bitAnd"] = big ? (isSigned(dtype) ? -1n : 2n ** 64n - 1n) : (isSigned(dtype) ? -1 : 2 ** bitsOf(dtype) - 1);
        identities["bitOr"] = big ? 0n : 0;
        identities["bitXor"] = big ? 0n : 0;
      }
      return identities;
    };
    let empty = 0;
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      if (c.length !== 0) continue;
      empty++;
      const byName = record!["byName"] as JobRecord;
      for (const [op, identity] of Object.entries(expected(c.dtype))) expect(byName[op], `${c.name} ${op}`).toEqual(encode(identity));
      expect(record!["methods"], c.name).toEqual({ sum: encode(expected(c.dtype)["sum"]!), prod: encode(expected(c.dtype)["prod"]!),
        min: encode(largestOf(c.dtype)), max: encode(smallestOf(c.dtype)) });
    }
    expect(empty).toBe(20);
  });

  it("reductions by every PE at once give every PE the same totals as the sequential reduction", () => {
    for (const [c, records] of eachCase(jobOf(), pes, "reduceAll", false)) {
      const values = valuesOf(c, pes);
      for (const record of records) {
        const byName = record["byName"] as JobRecord;
        for (const op of [...builtinsOf(c.dtype), ...Object.keys(kUserReductions)]) {
          expectReduction(byName[op], reduceOracle(c.dtype, op, values), op, `${c.name} ${op} on PE ${String(record["pe"])}`);
        }
      }
    }
  });

  it("a user reduction from defineReduction reduces in index order, by name and by object (firstNonZero is not commutative)", () => {
    for (const [c, [record]] of eachCase(jobOf(), pes, "reduceOne", true)) {
      const values = valuesOf(c, pes);
      for (const op of Object.keys(kUserReductions)) {
        const expected = encode(reduceOracle(c.dtype, op, values));
        expect((record!["byName"] as JobRecord)[op], `${c.name} ${op}`).toEqual(expected);
        expect((record!["byObject"] as JobRecord)[op], `${c.name} ${op}`).toEqual(expected);
      }
    }
  });
}

describe.each(kShapes)("whole-array operations on $name", ({ pes, procs }) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-whole.ts", { procs });
  });

  basicBehaviours(pes, () => job, "direct");

  it("forEach lets each PE visit its own elements, in the order of its part, with their global indices", () => {
    for (const [c, records] of eachCase(job, pes, "forEach", false)) {
      const values = valuesOf(c, pes);
      for (const record of records) {
        const pe = Number(record["pe"]);
        const owned = ownedIndices(c.length, pes, c.dist, pe);
        expect(record["visited"], `${c.name} on PE ${pe}`).toEqual(owned.map((i) => [i, encode(values[i]!)]));
      }
    }
  });

  it("map builds a new array of f(value, index) of the same dtype, length and distribution (stored in the dtype: ints wrap, f32 rounds)", () => {
    for (const [c, [record]] of eachCase(job, pes, "map", true)) {
      const values = valuesOf(c, pes);
      expect(record!["same"], c.name).toEqual({
        dtype: c.dtype, dist: c.dist, length: c.length, values: encodeAll(values.map((x, i) => storedAs(c.dtype, mapSame(x, i)))),
      });
    }
  });

  it("map with { dtype } stores f's results in an array of that dtype", () => {
    for (const [c, [record]] of eachCase(job, pes, "map", true)) {
      const values = valuesOf(c, pes);
      const target = kMapTarget[c.dtype];
      expect(record!["other"], c.name).toEqual({
        dtype: target, dist: c.dist, length: c.length, values: encodeAll(values.map((x, i) => storedAs(target, mapToTarget(target, x, i)))),
      });
    }
  });

  /** Expects each scan of `ops` (inclusive or exclusive) to be the sequential scan, stored in the dtype. */
  const expectScans = (opsOf: (c: WholeCase) => string[], exclusive: boolean) => {
    let checked = 0;
    for (const [c, [record]] of eachCase(job, pes, "scan", true)) {
      const values = valuesOf(c, pes);
      const scans = record!["scans"] as JobRecord;
      expect(Object.keys(scans).sort(), c.name).toEqual(scansOf(c.dtype, c.length).flatMap((op) => [`${op} inclusive`, `${op} exclusive`]).sort());
      for (const op of opsOf(c)) {
        const key = `${op} ${exclusive ? "exclusive" : "inclusive"}`;
        expect(scans[key], `${c.name} ${key}`).toEqual({
          dtype: c.dtype, dist: c.dist, length: c.length, values: encodeAll(scanOracle(c.dtype, op, values, exclusive)),
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(0);
  };
  const builtinScans = (c: WholeCase) => scansOf(c.dtype, c.length).filter((op) => !(op in kUserReductions));
  const userScans = (c: WholeCase) => scansOf(c.dtype, c.length).filter((op) => op in kUserReductions);

  it("scan is a new array, in global index order on both distributions, of the running sum, max, min or bitXor, stored in the dtype (ints wrap, f32 rounds)", () => {
    expectScans(builtinScans, false);
  });

  it("scan with { exclusive: true } gives element k the reduction of the elements before k: the identity first", () => {
    expectScans(builtinScans, true);
  });

  it("scan with a user reduction from defineReduction (by object or by name) combines in index order, inclusive and exclusive", () => {
    expectScans(userScans, false);
    expectScans(userScans, true);
  });

  it("an unknown reduction name is a RegistryError naming it, from reduce and from scan", () => {
    for (const record of onePerPe(job, "unknownReduction", pes)) {
      for (const call of ["reduce", "scan"]) {
        const error = record[call] as JobRecord;
        expect(error, call).toMatchObject({ threw: true, name: "RegistryError", code: "ERR_SHOAL_REGISTRY" });
        expect(error["message"], call).toContain(`"${kUnknownReduction}"`);
      }
    }
  });
});

describe.each([2, 3, 8])("fill, put, get and reduce with SHOAL_ARRAY_OPS=am (other PEs' parts by active messages) on %i PEs", (pes) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-whole.ts", { env: { SHOAL_ARRAY_OPS: "am" }, args: ["basic"] });
  });

  basicBehaviours(pes, () => job, "am");
});
