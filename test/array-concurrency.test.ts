// Element operations are atomic: when every PE updates the same few elements at once, no update is
// lost, every fetchAdd ticket is handed out exactly once, and every compareExchange contest has
// exactly one winner. On 2, 4 and 8 PEs, with operations on other PEs' parts applied directly and as
// active messages to the owner. One job per PE count and mode (test/fixtures/array-concurrency.ts).
import { beforeAll, describe, expect, it } from "vitest";

import { extremeCandidates, floatAddends, kTicketArrays, sharedElements, sharedLength, sizesFor } from "./fixtures/array-concurrency-plan.js";
import { recordsOf, runJob, type JobResult } from "./helpers/job.js";

const range = (n: number) => [...Array(n).keys()];
const sum = (values: readonly number[]) => values.reduce((a, b) => a + b, 0);

/**
 * How `values` fails to be a permutation of 0..n-1: their count, and the first few repeated values
 * and values outside 0..n-1 (a permutation has n values and neither).
 */
function permutationFlaws(values: readonly number[], n: number): { count: number; repeated: number[]; outside: number[] } {
  const sorted = [...values].sort((a, b) => a - b);
  const repeated = sorted.filter((v, k) => k > 0 && sorted[k - 1] === v).slice(0, 10);
  const outside = sorted.filter((v) => !(Number.isInteger(v) && v >= 0 && v < n)).slice(0, 10);
  return { count: values.length, repeated, outside };
}
const kPermutationOf = (n: number) => ({ count: n, repeated: [], outside: [] });

/** The integers of sorted runs [first, count], in order. */
function expand(runs: readonly [number, number][]): number[] {
  return runs.flatMap(([first, count]) => range(count).map((k) => first + k));
}

const kJobs: [number, "direct" | "am", number][] = [[2, "direct", 1], [4, "direct", 1], [8, "direct", 1], [2, "am", 1], [4, "am", 1], [8, "am", 1], [2, "direct", 2], [4, "direct", 2]];

describe.each(kJobs)("concurrent updates of shared elements on %i PEs, SHOAL_ARRAY_OPS=%s, in %i process(es)", (pes, mode, procs) => {
  const sizes = sizesFor(mode);
  const length = sharedLength(pes);
  const shared = sharedElements(pes);
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-concurrency.ts", { procs, env: { SHOAL_ARRAY_OPS: mode } });
  });

  /** The records of `kind` whose fields match `where`. */
  function matching(kind: string, where: Record<string, unknown>): Record<string, unknown>[] {
    return recordsOf(job, kind).filter((r) => Object.entries(where).every(([key, value]) => r[key] === value));
  }

  /** The one record of `kind` whose fields match `where` (PE 0 prints it). */
  function only(kind: string, where: Record<string, unknown> = {}): Record<string, unknown> {
    const found = matching(kind, where);
    expect(found, `one "${kind}" record for ${JSON.stringify(where)}`).toHaveLength(1);
    return found[0]!;
  }

  /** The records of `kind` whose fields match `where`, exactly one per PE, in PE order. */
  function perPe(kind: string, where: Record<string, unknown> = {}): Record<string, unknown>[] {
    const found = matching(kind, where);
    expect(found.map((r) => r["pe"]), `one "${kind}" record per PE for ${JSON.stringify(where)}`).toEqual(range(pes));
    return found;
  }

  /** `values` at the shared elements and 0 everywhere else. */
  function onlyShared(values: readonly number[]): number[] {
    return range(length).map((i) => (shared.includes(i) ? values[shared.indexOf(i)]! : 0));
  }

  it("runs to completion: exit code 0 and nothing on stderr", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
  });

  for (const { dtype, dist } of kTicketArrays) {
    const perElement = sizes.fetchAdds + 2 * sizes.batchEntries;
    it(`fetchAdd and batchFetchAdd of 1 from every PE hand out each ticket of a shared ${dtype} element (${dist}) exactly once`, () => {
      const records = perPe("tickets", { dtype });
      shared.forEach((at, e) => {
        const byPe = records.map((r) => expand((r["tickets"] as [number, number][][])[e]!));
        byPe.forEach((tickets, pe) => expect(tickets, `PE ${pe}, element ${at}`).toHaveLength(perElement));
        expect(permutationFlaws(byPe.flat(), pes * perElement), `the tickets of element ${at}`).toEqual(kPermutationOf(pes * perElement));
      });
    });

    it(`fetchAdd and batchFetchAdd of 1 from every PE lose no update of a shared ${dtype} element (${dist}), and touch no other`, () => {
      expect(only("ticketTotals", { dtype })["elements"]).toEqual(onlyShared(shared.map(() => pes * perElement)));
    });
  }

  for (const dtype of ["i32", "f64", "u64"]) {
    it(`compareExchange loops raising a shared ${dtype} counter give each step to exactly one PE`, () => {
      const records = perPe("counter", { dtype });
      const won = records.map((r) => expand(r["won"] as [number, number][]));
      expect(permutationFlaws(won.flat(), sizes.counterRounds), "the steps won").toEqual(kPermutationOf(sizes.counterRounds));
      // A PE needs one attempt per step it wins, and fails only when another PE moved the counter.
      records.forEach((r, pe) => expect(r["attempts"], `PE ${pe}`).toBeGreaterThanOrEqual(won[pe]!.length));
      // The counter is the middle shared element; nothing else changed.
      expect(only("counterTotal", { dtype })["elements"]).toEqual(range(length).map((i) => (i === shared[1] ? sizes.counterRounds : 0)));
    });
  }

  for (const form of ["compareExchange", "batchCompareExchange"] as const) {
    it(`${form} from every PE on the same elements lets exactly one PE win each, and the others see the winner's value`, () => {
      const field = form === "compareExchange" ? "elementSeen" : "batchSeen";
      const seen = perPe("contested").map((r) => [...(r[field] as string)].map(Number));
      const final = [...(only("contestedFinal")[form === "compareExchange" ? "element" : "batch"] as string)].map(Number);
      expect(final).toHaveLength(sizes.contested);
      const winners = range(sizes.contested).map((i) => range(pes).filter((pe) => seen[pe]![i] === 0));
      expect(winners.filter((w) => w.length !== 1), "elements that not exactly one PE saw as 0").toEqual([]);
      // The element holds the winner's pe + 1, and every other PE saw that value.
      expect(final).toEqual(winners.map((w) => w[0]! + 1));
      seen.forEach((values, pe) => expect(values, `seen by PE ${pe}`).toEqual(final.map((v) => (v === pe + 1 ? 0 : v))));
    });
  }

  it("float add, fetchAdd and batchAdd of integer values from every PE lose nothing, on f32 and f64", () => {
    const expected = shared.map((_, e) => sum(range(pes).flatMap((pe) => [0, 1, 2].flatMap((op) => floatAddends(sizes, pe, e, op)))));
    // The sums are exact in f32: they stay below 2^24.
    expect(Math.max(...expected)).toBeLessThan(2 ** 24);
    for (const dtype of ["f32", "f64"]) expect(only("floatSums", { dtype })["elements"], dtype).toEqual(onlyShared(expected));
  });

  it("max, min and batchMax from every PE keep the most extreme value offered", () => {
    const offered = (e: number) => range(pes).flatMap((pe) => extremeCandidates(sizes, pe, e));
    // The elements start at 0, which takes part.
    const expected = [Math.max(0, ...offered(0)), Math.max(0, ...offered(1)), Math.min(0, ...offered(2))];
    expect(only("extremes")["elements"]).toEqual(onlyShared(expected));
  });
});
