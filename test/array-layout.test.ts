// Index math of distributed arrays: ownerOf, localIndex, globalIndex, localLength and local.length,
// under the block and cyclic distributions, on every PE count and on lengths that catch edge cases
// (0, 1, 2, primes, shorter than the PE count, long). One job per shape (PE count, in one process or
// spread over several) prints what every PE sees (test/fixtures/array-layout.ts); the test compares
// it with an oracle built from the definitions, which do not depend on the processes:
// - block: the first n % P PEs hold floor(n / P) + 1 contiguous elements, the others floor(n / P),
//   PE 0's first, then PE 1's, and so on;
// - cyclic: PE i % P holds element i, at local index floor(i / P).
import { beforeAll, describe, expect, it } from "vitest";

import { layoutLengths } from "./fixtures/array-layout-plan.js";
import { expectPlacement, kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const range = (n: number) => [...Array(n).keys()];
const kDists = ["block", "cyclic"] as const;
type Dist = (typeof kDists)[number];

/** What the layout of `length` elements over `pes` PEs must be, built from the definition. */
interface ExpectedLayout {
  /** The number of elements of each PE. */
  readonly localLength: number[];
  /** The owner and local index of each global index. */
  readonly ownerOf: number[];
  readonly localIndex: number[];
  /** The global index of each element of each PE's part, in local order. */
  readonly globalIndex: number[][];
}

function expectedLayout(length: number, pes: number, dist: Dist): ExpectedLayout {
  const localLength = range(pes).map((p) => Math.floor(length / pes) + (p < length % pes ? 1 : 0));
  const ownerOf: number[] = [];
  const localIndex: number[] = [];
  const globalIndex: number[][] = range(pes).map(() => []);
  if (dist === "block") {
    // Deal out contiguous runs: PE 0's run first, then PE 1's.
    let next = 0;
    for (let p = 0; p < pes; p++) {
      for (let k = 0; k < localLength[p]!; k++) {
        ownerOf[next] = p;
        localIndex[next] = k;
        globalIndex[p]!.push(next);
        next++;
      }
    }
  } else {
    for (let i = 0; i < length; i++) {
      ownerOf[i] = i % pes;
      localIndex[i] = Math.floor(i / pes);
      globalIndex[i % pes]!.push(i);
    }
  }
  return { localLength, ownerOf, localIndex, globalIndex };
}

describe("the layout oracle", () => {
  it("agrees with the definition on a worked example: 10 elements over 4 PEs", () => {
    const block = expectedLayout(10, 4, "block");
    expect(block.localLength).toEqual([3, 3, 2, 2]);
    expect(block.globalIndex).toEqual([[0, 1, 2], [3, 4, 5], [6, 7], [8, 9]]);
    const cyclic = expectedLayout(10, 4, "cyclic");
    expect(cyclic.localLength).toEqual([3, 3, 2, 2]);
    expect(cyclic.globalIndex).toEqual([[0, 4, 8], [1, 5, 9], [2, 6], [3, 7]]);
  });
});

describe.each(kShapes)("array layout on $name", ({ pes, procs }) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "array-layout.ts", { procs });
  });

  /** Every layout record, each with its expected layout; one per PE, length and distribution. */
  function cases(): { record: Record<string, unknown>; length: number; dist: Dist; where: string; expected: ExpectedLayout }[] {
    const records = recordsOf(job, "layout");
    expect(records, "one record per PE, length and distribution").toHaveLength(pes * layoutLengths(pes).length * kDists.length);
    return records.map((record) => {
      const length = Number(record["length"]);
      const dist = record["dist"] as Dist;
      return { record, length, dist, where: `${dist}, length ${length}, seen by PE ${String(record["pe"])}`, expected: expectedLayout(length, pes, dist) };
    });
  }

  it("runs to completion: exit code 0 and nothing on stderr", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
  });

  it(`runs PEs p·T..p·T+T-1 in process p of ${procs}, with T = ${pes / procs} PEs per process`, () => {
    expectPlacement(job, pes, procs);
  });

  it("covers every length on both distributions, from every PE", () => {
    const seen = recordsOf(job, "layout").map((r) => `${String(r["pe"])} ${String(r["dist"])} ${String(r["length"])}`).sort();
    const wanted = range(pes).flatMap((p) => kDists.flatMap((dist) => layoutLengths(pes).map((length) => `${p} ${dist} ${length}`))).sort();
    expect(seen).toEqual(wanted);
  });

  it("gives the first n % P PEs floor(n / P) + 1 elements and the others floor(n / P), under both distributions", () => {
    for (const { record, expected, where } of cases()) {
      expect(record["localLength"], where).toEqual(expected.localLength);
    }
  });

  it("makes local as long as localLength() of the PE that holds it", () => {
    for (const { record, expected, where } of cases()) {
      const me = Number(record["pe"]);
      expect(record["localSize"], where).toBe(expected.localLength[me]);
      expect(record["ownLength"], where).toBe(expected.localLength[me]);
    }
  });

  it("block: ownerOf and localIndex place each index in the contiguous run of its PE", () => {
    for (const { record, expected, where } of cases().filter((c) => c.dist === "block")) {
      expect(record["ownerOf"], where).toEqual(expected.ownerOf);
      expect(record["localIndex"], where).toEqual(expected.localIndex);
    }
  });

  it("cyclic: index i belongs to PE i % P, at local index floor(i / P)", () => {
    for (const { record, expected, where } of cases().filter((c) => c.dist === "cyclic")) {
      expect(record["ownerOf"], where).toEqual(expected.ownerOf);
      expect(record["localIndex"], where).toEqual(expected.localIndex);
    }
  });

  it("globalIndex(pe, k) names the k-th element of each PE's part", () => {
    for (const { record, expected, where } of cases()) {
      expect(record["globalIndex"], where).toEqual(expected.globalIndex);
    }
  });

  it("owns every global index exactly once, and localIndex and globalIndex round-trip", () => {
    for (const { record, length, where } of cases()) {
      const ownerOf = record["ownerOf"] as number[];
      const localIndex = record["localIndex"] as number[];
      const globalIndex = record["globalIndex"] as number[][];
      // Every (pe, k) names a distinct index, and together they name 0..length-1.
      const named = globalIndex.flat().sort((a, b) => a - b);
      expect(named, where).toEqual(range(length));
      globalIndex.forEach((indices, p) => indices.forEach((i, k) => {
        expect([ownerOf[i], localIndex[i]], `${where}: element ${k} of PE ${p} is index ${i}`).toEqual([p, k]);
      }));
    }
  });

  it("on lengths shorter than the PE count, gives one element to each of the first PEs and none to the rest", () => {
    const short = cases().filter((c) => c.length < pes);
    if (pes > 1) expect(short.length).toBeGreaterThan(0);
    for (const { record, length, where } of short) {
      expect(record["localLength"], where).toEqual(range(pes).map((p) => (p < length ? 1 : 0)));
    }
  });

  it("keeps each element where the index math says: what each PE wrote to local[k] is read back at globalIndex(pe, k)", () => {
    for (const { record, length, where } of cases()) {
      expect(record["loaded"], where).toEqual(range(length).map((i) => i + 1));
    }
  });

  it("gives every PE the same answers", () => {
    const strip = (r: Record<string, unknown>) => ({ ...r, pe: undefined, localSize: undefined, ownLength: undefined });
    for (const dist of kDists) {
      for (const length of layoutLengths(pes)) {
        const seen = recordsOf(job, "layout").filter((r) => r["dist"] === dist && r["length"] === length).map(strip);
        for (const other of seen.slice(1)) expect(other, `${dist}, length ${length}`).toEqual(seen[0]);
      }
    }
  });
});
