// Views of DistArray: `local` (the PE's part, a typed array on shared memory), `localView` (an
// ndarray over it), and Arrow interchange (`toArrow`, `DistArray.fromArrow`), on every dtype, both
// distributions, lengths 0, 1, shorter than the PE count and a prime. One job per shape (PE count,
// in one process or spread over several) runs every case (test/fixtures/array-views.ts); each `it`
// reads its records. The views are of the PE's own part, which is in its own process's buffer on
// every shape; the other PEs' elements (get, load, toArrow()) come by active message from another
// process. Either way a PE count gives the same records in one process as in several.
import { beforeAll, describe, expect, it } from "vitest";
import type { Distribution, Scalar } from "shoal";

import {
  afterElementOps, gridValuesOf, kArrowTypeOf, kGridColumns, kGridPerPe, kGridRows, vectorPlansOf, vectorValues, viewPlanOf,
} from "./fixtures/array-views-plan.js";
import { casesFor, encode, encodeAll, kArrayOf, kDistributions, kDtypeNames, type WholeCase } from "./fixtures/array-whole-plan.js";
import { expectPlacement, kShapes, onePerPe, recordsOf, runJob, type JobResult } from "./helpers/job.js";
import { ownedIndices } from "./helpers/layout-oracle.js";

type JobRecord = Record<string, unknown>;


/** `values` at the indices PE `pe` owns, in the order of its part. */
const partOf = (values: readonly Scalar[], pes: number, dist: Distribution, pe: number): Scalar[] =>
  ownedIndices(values.length, pes, dist, pe).map((i) => values[i]!);

/** The records of `kind` for each name in `names`, one per PE each (the test fails otherwise). */
function eachNamed<T>(job: JobResult, pes: number, kind: string, entries: readonly [string, T][]): [T, JobRecord[]][] {
  const all = recordsOf(job, kind);
  return entries.map(([name, entry]) => {
    const records = all.filter((r) => r["case"] === name);
    expect(records.map((r) => r["pe"]), `${kind} records of ${name}`).toEqual([...Array(pes).keys()]);
    return [entry, records];
  });
}

const eachCase = (job: JobResult, pes: number, kind: string): [WholeCase, JobRecord[]][] =>
  eachNamed(job, pes, kind, casesFor(pes).map((c) => [c.name, c] as [string, WholeCase]));

const gridCases = kDtypeNames.flatMap((dtype) => kDistributions.map((dist) => ({ name: `${dtype} ${dist} grid`, dtype, dist })));

describe.each(kShapes)("array views on $name", ({ pes, procs }) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-views.ts", { procs });
  });

  it("runs to completion: exit code 0, nothing on stderr, every PE done", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
    onePerPe(job, "done", pes);
  });

  it(`runs PEs p·T..p·T+T-1 in process p of ${procs}, with T = ${pes / procs} PEs per process`, () => {
    expectPlacement(job, pes, procs);
  });

  describe("local", () => {
    it("is a typed array of the dtype on shared memory, as long as the PE's part", () => {
      for (const [c, records] of eachCase(job, pes, "local")) {
        for (const record of records) {
          const length = ownedIndices(c.length, pes, c.dist, Number(record["pe"])).length;
          expect(record, c.name).toMatchObject({ type: kArrayOf[c.dtype].name, shared: true, length, localLength: length });
        }
      }
    });

    it("written by its owner is seen by every PE's get and load after a barrier", () => {
      for (const [c, records] of eachCase(job, pes, "readLocalWrites")) {
        const expected = encodeAll(viewPlanOf(c).viaLocal);
        for (const record of records) {
          expect(record["get"], `${c.name} get on PE ${String(record["pe"])}`).toEqual(expected);
          expect(record["loads"], `${c.name} load on PE ${String(record["pe"])}`).toEqual(expected);
        }
      }
    });

    it("shows the stores and adds of other PEs after a barrier, element k being global index globalIndex(pe, k)", () => {
      for (const [c, records] of eachCase(job, pes, "localAfterOps")) {
        const values = afterElementOps(c.dtype, viewPlanOf(c));
        for (const record of records) {
          const pe = Number(record["pe"]);
          expect(record["local"], `${c.name} on PE ${pe}`).toEqual(encodeAll(partOf(values, pes, c.dist, pe)));
        }
      }
    });

    it("shows later writes through a vector made by toArrow({ local: true }) before them (no copy)", () => {
      const records = recordsOf(job, "lateWrite");
      let expectedCount = 0;
      for (const c of casesFor(pes)) {
        const late = encode(viewPlanOf(c).late);
        for (let pe = 0; pe < pes; pe++) {
          const mine = records.filter((r) => r["case"] === c.name && r["pe"] === pe);
          if (ownedIndices(c.length, pes, c.dist, pe).length === 0) {
            expect(mine, `${c.name} on PE ${pe}`).toEqual([]);
          } else {
            expectedCount++;
            expect(mine.map((r) => r["seen"]), `${c.name} on PE ${pe}`).toEqual([late]);
          }
        }
      }
      expect(records).toHaveLength(expectedCount);
    });
  });

  describe("localView", () => {
    it("with no shape is a 1-D ndarray over local's memory, holding local's values", () => {
      for (const [c, records] of eachCase(job, pes, "view")) {
        const values = afterElementOps(c.dtype, viewPlanOf(c));
        for (const record of records) {
          const pe = Number(record["pe"]);
          const part = partOf(values, pes, c.dist, pe);
          expect(record, `${c.name} on PE ${pe}`).toMatchObject({ shape: [part.length], sameMemory: true, before: encodeAll(part) });
        }
      }
    });

    it("written by its owner writes local, and every PE's get sees it after a barrier", () => {
      for (const [c, records] of eachCase(job, pes, "view")) {
        const { viaView } = viewPlanOf(c);
        for (const record of records) {
          const pe = Number(record["pe"]);
          expect(record["local"], `${c.name} on PE ${pe}`).toEqual(encodeAll(partOf(viaView, pes, c.dist, pe)));
        }
      }
      for (const [c, records] of eachCase(job, pes, "readViewWrites")) {
        for (const record of records) expect(record["get"], `${c.name} on PE ${String(record["pe"])}`).toEqual(encodeAll(viewPlanOf(c).viaView));
      }
    });

    it(`with shape [${kGridRows}, ${kGridColumns}] is row-major: set(r, c) writes local[r * ${kGridColumns} + c]`, () => {
      for (const [grid, records] of eachNamed(job, pes, "grid", gridCases.map((g) => [g.name, g]))) {
        const values = gridValuesOf(grid.dtype, grid.dist, pes);
        for (const record of records) {
          const pe = Number(record["pe"]);
          expect(record, `${grid.name} on PE ${pe}`).toMatchObject({
            shape: [kGridRows, kGridColumns], stride: [kGridColumns, 1], local: encodeAll(partOf(values, pes, grid.dist, pe)),
          });
        }
      }
    });

    it(`with shape [${kGridColumns}, ${kGridRows}] reads the same memory: get(r, c) is local[r * ${kGridRows} + c]`, () => {
      for (const [grid, records] of eachNamed(job, pes, "grid", gridCases.map((g) => [g.name, g]))) {
        const part = encodeAll(partOf(gridValuesOf(grid.dtype, grid.dist, pes), pes, grid.dist, 0));
        const record = records[0]!;
        expect(record["tallRows"], grid.name).toEqual(Array.from({ length: kGridColumns }, (_, r) => part.slice(r * kGridRows, (r + 1) * kGridRows)));
      }
    });

    it("written through 2-D views by every owner gives the whole array to every PE's get", () => {
      for (const [grid, records] of eachNamed(job, pes, "gridRead", gridCases.map((g) => [g.name, g]))) {
        const expected = encodeAll(gridValuesOf(grid.dtype, grid.dist, pes));
        expect(expected).toHaveLength(kGridPerPe * pes);
        for (const record of records) expect(record["get"], `${grid.name} on PE ${String(record["pe"])}`).toEqual(expected);
      }
    });

    it("with a shape whose product is not the part's length is a ShoalRangeError", () => {
      for (const [grid, records] of eachNamed(job, pes, "grid", gridCases.map((g) => [g.name, g]))) {
        for (const record of records) {
          for (const error of record["wrongShapes"] as JobRecord[]) {
            expect(error, grid.name).toMatchObject({ threw: true, name: "ShoalRangeError", code: "ERR_SHOAL_RANGE" });
          }
        }
      }
    });
  });

  describe("toArrow and fromArrow", () => {
    it("toArrow() gives every PE an apache-arrow Vector of the dtype's type with every element in order", () => {
      for (const [c, records] of eachCase(job, pes, "toArrow")) {
        const values = encodeAll(viewPlanOf(c).viaView);
        for (const record of records) {
          expect(record["whole"], `${c.name} on PE ${String(record["pe"])}`).toEqual({
            isVector: true, type: kArrowTypeOf[c.dtype], length: c.length, values,
          });
        }
      }
    });

    it("toArrow({ local: true }) gives a vector over the PE's part, on the array's shared memory", () => {
      for (const [c, records] of eachCase(job, pes, "toArrow")) {
        const { viaView } = viewPlanOf(c);
        for (const record of records) {
          const pe = Number(record["pe"]);
          const part = partOf(viaView, pes, c.dist, pe);
          expect(record["local"], `${c.name} on PE ${pe}`).toEqual({
            isVector: true, type: kArrowTypeOf[c.dtype], length: part.length, values: encodeAll(part), sharesMemory: true,
          });
        }
      }
    });

    it("fromArrow of toArrow's vector round-trips: same dtype, distribution, length and values, each PE holding its own part", () => {
      for (const [c, records] of eachCase(job, pes, "roundTrip")) {
        const { viaView } = viewPlanOf(c);
        for (const record of records) {
          const pe = Number(record["pe"]);
          expect(record, `${c.name} on PE ${pe}`).toMatchObject({
            dtype: c.dtype, dist: c.dist, length: c.length, get: encodeAll(viaView), local: encodeAll(partOf(viaView, pes, c.dist, pe)),
          });
        }
      }
    });

    it("fromArrow of vectors of one chunk, several chunks (one empty), sliced chunks, or none, holds the vector's values", () => {
      const entries = kDtypeNames.flatMap((dtype) => vectorPlansOf(dtype).flatMap((plan) =>
        kDistributions.map((dist) => [`${plan.name} ${dist}`, { plan, dist }] as [string, { plan: (typeof plan); dist: Distribution }])));
      let multiChunk = 0;
      for (const [{ plan, dist }, records] of eachNamed(job, pes, "fromArrow", entries)) {
        const values = vectorValues(plan);
        for (const record of records) {
          const pe = Number(record["pe"]);
          if (Number(record["chunks"]) > 1) multiChunk++;
          expect(record, `${plan.name} ${dist} on PE ${pe}`).toMatchObject({
            vectorLength: values.length, dtype: plan.dtype, dist, length: values.length, get: encodeAll(values),
            local: encodeAll(partOf(values, pes, dist, pe)),
          });
        }
      }
      expect(multiChunk, "records of vectors with several chunks").toBeGreaterThan(0);
    });

    it("fromArrow without a dist creates a block-distributed array", () => {
      const entries = kDtypeNames.flatMap((dtype) => vectorPlansOf(dtype).map((plan) => [`${plan.name} default`, plan] as [string, typeof plan]));
      for (const [plan, records] of eachNamed(job, pes, "fromArrow", entries)) {
        const values = vectorValues(plan);
        for (const record of records) {
          const pe = Number(record["pe"]);
          expect(record, `${plan.name} on PE ${pe}`).toMatchObject({
            dtype: plan.dtype, dist: "block", length: values.length, get: encodeAll(values), local: encodeAll(partOf(values, pes, "block", pe)),
          });
        }
      }
    });

    it("fromArrow refuses a vector with nulls, a Utf8 vector and what is not a vector, with a ShoalTypeError", () => {
      for (const record of onePerPe(job, "fromArrowRefused", pes)) {
        for (const what of ["nulls", "utf8", "typedArray", "object"]) {
          expect(record[what], what).toMatchObject({ threw: true, name: "ShoalTypeError", code: "ERR_SHOAL_TYPE" });
        }
        expect((record["nulls"] as JobRecord)["message"]).toMatch(/null/);
        expect((record["utf8"] as JobRecord)["message"]).toMatch(/Utf8/);
      }
    });
  });
});
