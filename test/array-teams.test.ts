// Distributed arrays on sub-teams (test/fixtures/array-teams.ts), on every process shape, against
// oracles computed here from the distributions' definitions (test/helpers/layout-oracle.ts).
import { describe, expect, it } from "vitest";
import type { Distribution } from "shoal";

import { kShapes, onePerPe, runJob } from "./helpers/job.js";
import { ownedIndices } from "./helpers/layout-oracle.js";

const kLength = 37;

/** The owner rank of each element of an array of `length` on `size` ranks. */
function ownersOf(length: number, size: number, dist: Distribution): number[] {
  const owner = new Array<number>(length);
  for (let rank = 0; rank < size; rank++) for (const i of ownedIndices(length, size, dist, rank)) owner[i] = rank;
  return owner;
}

function expectedFor(members: readonly number[], rank: number): Record<string, unknown> {
  const size = members.length;
  const out: Record<string, unknown> = { rank, size, members: [...members] };
  for (const dist of ["block", "cyclic"] as Distribution[]) {
    const owners = ownersOf(kLength, size, dist).map((r) => r + 1);
    const counts = new Array<number>(kLength).fill(0);
    for (let r = 0; r < size; r++) for (let k = 0; k < 10; k++) counts[(r * 5 + k) % kLength]!++;
    const written = new Array<number>(kLength).fill(0);
    for (let r = 0; r < size; r++) written[r * 3] = written[r * 3 + 1] = r + 1;
    const prefix: number[] = [];
    written.reduce((acc, x) => (prefix.push(acc + x), acc + x), 0);
    out[dist] = {
      localLength: ownedIndices(kLength, size, dist, rank).length,
      owners,
      counts,
      sum: counts.reduce((a, b) => a + b, 0),
      written,
      prefix,
      // Every rank's fetchAdd on the last element: the tickets are a permutation of its value plus 0..size-1.
      ticket: "checked below",
      last: written[kLength - 1]! + size,
    };
  }
  return out;
}

function teamsOf(pe: number, n: number): Record<string, number[] | undefined> {
  const all = [...Array(n).keys()];
  const ordered = [...all.filter((p) => p % 2 === 0), ...all.filter((p) => p % 2 === 1)];
  const parity = all.filter((p) => p % 2 === pe % 2).sort((a, b) => b - a);
  const oddCount = Math.floor(n / 2);
  const odds = n >= 2 && pe % 2 === 1 && pe < 2 * oddCount ? all.filter((p) => p % 2 === 1 && p < 2 * oddCount) : undefined;
  return { world: all, ordered, parity, odds };
}

describe.each(kShapes)("arrays on teams, $name", (shape) => {
  it("each team's members own the parts by rank, and every operation matches the oracle", async () => {
    const result = await runJob(shape.pes, "array-teams.ts", { procs: shape.procs });
    expect(result.code, result.stderr).toBe(0);
    const records = onePerPe(result, "array-teams", shape.pes);
    const tickets = new Map<string, number[]>();
    for (const record of records) {
      const pe = record["pe"] as number;
      const teams = record["teams"] as Record<string, Record<string, Record<string, unknown>>>;
      for (const [name, members] of Object.entries(teamsOf(pe, shape.pes))) {
        if (members === undefined) {
          expect(teams[name], `PE ${pe} is in no "${name}" team`).toBeUndefined();
          continue;
        }
        const got = teams[name]!;
        const want = expectedFor(members, members.indexOf(pe));
        for (const dist of ["block", "cyclic"]) {
          const key = `${name}/${members.join(",")}/${dist}`;
          tickets.set(key, [...(tickets.get(key) ?? []), got[dist]!["ticket"] as number]);
          (got[dist] as Record<string, unknown>)["ticket"] = "checked below";
        }
        expect(got, `team "${name}" on PE ${pe}`).toEqual(want);
      }
    }
    for (const [key, list] of tickets) {
      const size = Number(key.split("/")[1]!.split(",").length);
      const base = Math.min(...list);
      expect(list.sort((a, b) => a - b), `tickets of ${key}`).toEqual(Array.from({ length: size }, (_, k) => base + k));
    }
  });
});

describe("arrays on teams with SHOAL_ARRAY_OPS=am (every operation on another member's part is a message to it)", () => {
  it("gives the same results on 4 PEs in one process", async () => {
    const result = await runJob(4, "array-teams.ts", { env: { SHOAL_ARRAY_OPS: "am" } });
    expect(result.code, result.stderr).toBe(0);
    for (const record of onePerPe(result, "array-teams", 4)) {
      const pe = record["pe"] as number;
      const teams = record["teams"] as Record<string, Record<string, Record<string, unknown>>>;
      for (const [name, members] of Object.entries(teamsOf(pe, 4))) {
        if (members === undefined) continue;
        const got = teams[name]!;
        for (const dist of ["block", "cyclic"]) (got[dist] as Record<string, unknown>)["ticket"] = "checked below";
        expect(got, `team "${name}" on PE ${pe}`).toEqual(expectedFor(members, members.indexOf(pe)));
      }
    }
  });
});

describe("a one-sided reduction follows the machine: 8 PEs in 4 processes of 2 modules", () => {
  const run = (hier: string): ReturnType<typeof runJob> =>
    runJob(8, "array-reduce-tree.ts", { procs: 4, modules: 2, env: { SHOAL_HIER: hier, SHOAL_HISTOGRAM: "1" } });

  it("sums to the same value, with 1 request and 1 reply across modules per reduction instead of one per PE of the other module", async () => {
    const [flat, tree] = await Promise.all([run("0"), run("1")]);
    // Block of 1000 over 8: 125 each, PE p's elements hold p + 1.
    const sum = Array.from({ length: 8 }, (_, p) => 125 * (p + 1)).reduce((x, y) => x + y, 0);
    const frames: number[] = [];
    for (const result of [flat, tree]) {
      expect(result.code, result.stderr).toBe(0);
      const records = onePerPe(result, "reduce-tree", 8);
      expect(records[0]!["sum"]).toBe(sum);
      expect(records[0]!["max"]).toBe(8);
      frames.push(records.reduce((n, r) => n + (r["frames"] as number), 0));
    }
    // Two reductions. Flat: a request to each of PEs 4..7 and their replies, 8 frames each.
    // Tree: PE 0 asks PE 4, the other module's leader, which asks its own process leaders: 2 each.
    expect(frames).toEqual([16, 4]);
  });
});
