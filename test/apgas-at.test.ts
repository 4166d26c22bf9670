// world.at (APGAS): runs a registered activity on any PE with any number of arguments and
// resolves to its result. The fixture prints what came back; the expected values are computed
// here from the same seeded inputs.
import { beforeAll, describe, expect, it } from "vitest";

import { atInputs, largeInput, sumOf } from "./fixtures/apgas-data.js";
import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

/** The records of `kind`, ordered by (pe, to). */
function byPair(result: JobResult, kind: string): Record<string, unknown>[] {
  return recordsOf(result, kind).sort((x, y) => Number(x["pe"]) - Number(y["pe"]) || Number(x["to"]) - Number(y["to"]));
}

function allPairs(pes: number): [number, number][] {
  const pairs: [number, number][] = [];
  for (let from = 0; from < pes; from++) for (let to = 0; to < pes; to++) pairs.push([from, to]);
  return pairs;
}

for (const { pes, procs, name } of kShapes) {
  describe(`world.at on ${name}`, () => {
    let result: JobResult;
    beforeAll(async () => {
      result = await runJob(pes, "apgas-at.ts", { procs });
    });

    it("ends with exit code 0 and nothing on stderr", () => {
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    });

    it("runs every activity on the PE it names, from every PE, itself included", () => {
      const records = byPair(result, "at");
      expect(records.map((r) => [r["pe"], r["to"]])).toEqual(allPairs(pes));
      for (const record of records) expect(record["here"]).toBe(record["to"]);
    });

    it("hands an activity numbers, strings, typed arrays, booleans and bigints, and resolves to its result", () => {
      for (const record of byPair(result, "at")) {
        const from = Number(record["pe"]);
        const to = Number(record["to"]);
        const { a, s, xs, ys, flag, big } = atInputs(from, to);
        expect(record["combined"]).toEqual({
          pe: to,
          text: `${s}@${to}`,
          dot: a * sumOf(xs) + sumOf(ys),
          flag: !flag,
          big: (big * 2n).toString(),
          types: ["Float64Array", "Int32Array", "bigint"],
        });
      }
    });

    it("resolves to an array of the arguments when an async activity returns them", () => {
      for (const record of byPair(result, "at")) {
        const { a, s, xs, ys, flag, big } = atInputs(Number(record["pe"]), Number(record["to"]));
        expect(record["echoed"]).toEqual([
          a, s,
          { type: "Float64Array", values: Array.from(xs) },
          { type: "Int32Array", values: Array.from(ys) },
          flag,
          { type: "bigint", value: big.toString() },
        ]);
      }
    });

    it("resolves to typed arrays of the right type and values, small and large", () => {
      for (const record of byPair(result, "at")) {
        const from = Number(record["pe"]);
        const to = Number(record["to"]);
        const { xs, ys } = atInputs(from, to);
        expect(record["scaled"]).toEqual({ type: "Float64Array", values: Array.from(xs, (x) => x * (to + 0.5)) });
        expect(record["reversed"]).toEqual({ type: "Int32Array", values: Array.from(ys).reverse() });
        const large = largeInput(from).map((x) => x * 2);
        expect(record["large"]).toEqual({ type: "Float64Array", length: large.length, sum: sumOf(large) });
      }
    });

    it("lets an activity and an AM handler run an activity on their own PE and await it", () => {
      const records = byPair(result, "at-self");
      expect(records.map((r) => [r["pe"], r["to"]])).toEqual(allPairs(pes));
      for (const record of records) {
        const from = Number(record["pe"]);
        const to = Number(record["to"]);
        const x = 3 + from + to;
        expect(record["x"]).toBe(x);
        expect(record["viaActivity"]).toBe(x * x + to);
        expect(record["viaAm"]).toBe(x * x + from);
        expect(record["viaActivityInFinish"]).toBe(x * x + to);
      }
    });
  });
}

describe("world.at, right after init and with large arguments", () => {
  for (const { pes, procs, name } of kShapes) {
    // No barrier after init(): activities arrive while the other PEs are just leaving init(), and
    // must run only once the program's `const world = await init()` has completed.
    it(`runs an activity that uses the module's world when it arrives right after init(), on ${name}`, async () => {
      const result = await runJob(pes, "apgas-early.ts", { procs });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const pe = [...Array(pes).keys()];
      expect(recordsOf(result, "early")).toEqual([{ kind: "early", pe: 0, answers: [...pe, ...pe, ...pe] }]);
    });
  }

  for (const { pes, procs, name } of kShapes.filter((shape) => shape.procs > 1 || shape.pes <= 3)) {
    // The string makes the frame larger than a ring record, so it travels by reference together
    // with the typed array's own payload; to its own PE the frame is larger than the scratch buffer.
    it(`passes a large typed array and a 600 kB string to an activity on another PE and on its own, on ${name}`, async () => {
      const result = await runJob(pes, "apgas-large-args.ts", { procs });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const expected = { length: 10_000, sum: (10_000 * 9_999) / 2, chars: 600_000 };
      expect(recordsOf(result, "large").map((r) => [r["to"], r["result"]])).toEqual([[1 % pes, expected], [0, expected]]);
    });
  }
});
