// world.finish (APGAS): waits for everything spawned inside it, transitively and on every PE. The
// fixture counts side effects on the PEs where activities and AMs ran; the expected counts are
// computed here by walking the same spawn tree.
import { beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

/**
 * The counts tree(depth, fanout) started on PE `start` leaves on each PE (see the fixture):
 * one on the PE of every activity, one on the PE of every bump it sends.
 */
function addTree(into: number[], start: number, depth: number, fanout: number): number[] {
  const n = into.length;
  into[start]!++;
  if (depth > 0) {
    for (let k = 0; k < fanout; k++) {
      addTree(into, (start + k + 1) % n, depth - 1, fanout);
      into[(start + 2 * k + 1) % n]!++;
    }
  }
  return into;
}

const zeros = (n: number): number[] => new Array<number>(n).fill(0);

for (const { pes, procs, name } of kShapes) {
  describe(`world.finish on ${name}`, () => {
    let result: JobResult;
    const record = (kind: string, pe: number): Record<string, unknown> => {
      const found = recordsOf(result, kind).find((r) => r["pe"] === pe);
      if (found === undefined) throw new Error(`no "${kind}" record from PE ${pe}; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      return found;
    };
    const eachPe = (check: (pe: number) => void): void => {
      for (let pe = 0; pe < pes; pe++) check(pe);
    };

    beforeAll(async () => {
      result = await runJob(pes, "apgas-finish.ts", { procs });
    });

    it("ends with exit code 0 and nothing on stderr", () => {
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    });

    it("waits for activities and AMs spawned un-awaited, transitively, on every PE", () => {
      eachPe((pe) => {
        const expected = zeros(pes);
        addTree(expected, (pe + 1) % pes, 3, 2);
        addTree(expected, pe, 1, 3);
        expected[(pe + 1) % pes]!++;
        expect(record("transitive", pe)["counts"]).toEqual(expected);
      });
    });

    it("waits for activities still running when the body has returned", () => {
      eachPe((pe) => expect(record("slow", pe)["counts"]).toEqual(new Array<number>(pes).fill(1)));
    });

    it("lets an inner finish wait for its own activities only, and the outer one for everything", () => {
      eachPe((pe) => {
        const nested = record("nested", pe);
        const inner = addTree(zeros(pes), (pe + 2) % pes, 2, 2);
        expect(nested["innerCounts"]).toEqual(inner);
        expect(nested["outerCounts"]).toEqual(addTree(zeros(pes), (pe + 1) % pes, 2, 2));
        expect(nested["afterCounts"]).toEqual(addTree(zeros(pes), (pe + 3) % pes, 1, 2));
      });
    });

    it("runs a finish inside an activity on another PE, which waits for its own tree", () => {
      eachPe((pe) => {
        const nested = record("nested", pe);
        // finishInside runs on pe+1 and starts its tree on pe+2.
        const inside = addTree(zeros(pes), (pe + 2) % pes, 2, 2);
        expect(nested["fromInside"]).toEqual(inside);
        expect(nested["insideCounts"]).toEqual(inside);
      });
    });

    it("resolves to the body's value, sync or async, nested or not", () => {
      eachPe((pe) => {
        expect(record("transitive", pe)["value"]).toBe("body");
        expect(record("nested", pe)["value"]).toBe("inner+outer");
        expect(record("values", pe)).toEqual({
          kind: "values", pe, sync: 42, async: `text from ${pe}`, awaitedAt: (12 + pe) ** 2, sameObject: true,
        });
      });
    });

    it("resolves to undefined for an empty body, sync or async, every time", () => {
      eachPe((pe) => expect(record("empty", pe)).toEqual({ kind: "empty", pe, sync: true, async: true, many: 100 }));
    });

    it("rejects with the error its body throws, after what the body spawned has completed", () => {
      eachPe((pe) => {
        expect(record("bodyThrows", pe)).toEqual({
          kind: "bodyThrows", pe, syncSame: true, asyncSame: true,
          countsAtRejection: addTree(zeros(pes), (pe + 1) % pes, 2, 2),
        });
      });
    });
  });
}
