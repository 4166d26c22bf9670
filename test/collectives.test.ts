// Collectives on the world team and on sub-teams, against sequential oracles computed here from
// the inputs of test/fixtures/collectives-plan.ts, on every process shape: 1 to 8 PEs in one
// process, N processes of one PE, 2 processes of 2 PEs. One job per shape runs every case.
import { describe, expect, it } from "vitest";

import { countsFor, digest, encode, inputsOf, kOps, type TeamInputs } from "./fixtures/collectives-plan.js";
import { kShapes, onePerPe, runJob } from "./helpers/job.js";

type Op = (typeof kOps)[number];

const int32 = (x: number): number => x | 0;

function step(op: Op, a: number, x: number): number {
  switch (op) {
    case "sum": return int32(a + x);
    case "prod": return int32(a * x);
    case "min": return Math.min(a, x);
    case "max": return Math.max(a, x);
    case "bitAnd": return a & x;
    case "bitOr": return a | x;
    case "bitXor": return a ^ x;
  }
}

/** Element-wise fold of typed arrays over `values`, in order, with `f`. */
function foldArrays<T extends ArrayLike<number> | ArrayLike<bigint>>(values: readonly T[], make: (n: number) => T, f: (a: never, x: never) => unknown): T {
  const out = make(values[0]!.length) as unknown as { [i: number]: unknown; length: number };
  for (let i = 0; i < out.length; i++) {
    let acc: unknown = values[0]![i];
    for (let k = 1; k < values.length; k++) acc = f(acc as never, values[k]![i] as never);
    out[i] = acc;
  }
  return out as unknown as T;
}

function blockOf<T extends { slice(a: number, b: number): T; length: number }>(data: T, counts: readonly number[], rank: number): T {
  let start = 0;
  for (let r = 0; r < rank; r++) start += counts[r]!;
  return data.slice(start, start + counts[rank]!);
}

/** What member `rank` of the team of world PEs `members` gets from each case of the fixture. */
function expectedFor(members: readonly number[], rank: number): Record<string, unknown> {
  const size = members.length;
  const inputs: TeamInputs[] = members.map((pe, r) => inputsOf(size, r, pe));
  const mine = inputs[rank]!;
  const upTo = inputs.slice(0, rank + 1);
  const before = inputs.slice(0, rank);
  const out: Record<string, unknown> = { rank, size, members: [...members] };
  out["broadcast"] = inputs[mine.broadcastRoot]!.broadcast;
  out["reduce"] = rank === mine.reduceRoot ? inputs.reduce((a, i) => a + i.reduce, 0) : undefined;
  for (const op of kOps) out[`allreduce.${op}`] = foldArrays(inputs.map((i) => i.allreduceInts), (n) => new Int32Array(n), (a: number, x: number) => step(op, a, x));
  out["allreduce.f64.sum"] = foldArrays(inputs.map((i) => i.allreduceFloats), (n) => new Float64Array(n), (a: number, x: number) => a + x);
  out["allreduce.f64.min"] = foldArrays(inputs.map((i) => i.allreduceFloats), (n) => new Float64Array(n), (a: number, x: number) => Math.min(a, x));
  out["allreduce.i64.sum"] = foldArrays(inputs.map((i) => i.allreduceBigs), (n) => new BigInt64Array(n), (a: bigint, x: bigint) => BigInt.asIntN(64, a + x));
  out["allreduce.bigint.max"] = inputs.map((i) => i.allreduceBig).reduce((a, x) => (x > a ? x : a));
  out["allreduce.absMax"] = inputs.map((i) => i.allreduceAbsMax).reduce((a, x) => Math.max(Math.abs(a), Math.abs(x)));
  out["allreduce.empty"] = new Float64Array(0);
  out["scan.sum"] = upTo.reduce((a, i) => a + i.scanSum, 0);
  out["scan.max"] = foldArrays(upTo.map((i) => i.scanMax), (n) => new Int32Array(n), (a: number, x: number) => Math.max(a, x));
  out["exscan.sum"] = before.reduce((a, i) => a + i.exscanSum, 0);
  out["exscan.ints"] = rank === 0 ? new Int32Array(2) : foldArrays(before.map((i) => i.exscanInts), (n) => new Int32Array(n), (a: number, x: number) => int32(a + x));
  out["gather"] = rank === mine.gatherRoot ? inputs.map((i) => i.gather) : undefined;
  out["allgather"] = inputs.map((i) => i.allgather);
  out["scatter"] = inputs[0]!.scatter[rank];
  out["alltoall"] = Int32Array.from({ length: 2 * size }, (_, k) => inputs[Math.floor(k / 2)]!.alltoall[2 * rank + (k % 2)]!);
  out["alltoall.empty"] = new Float64Array(0);
  out["alltoallv"] = inputs.map((i) => i.alltoallv[rank]);
  const summed = foldArrays(inputs.map((i) => i.reduceScatter), (n) => new Float64Array(n), (a: number, x: number) => a + x);
  const length = summed.length;
  const even = Array.from({ length: size }, (_, r) => Math.floor(length / size) + (r < length % size ? 1 : 0));
  out["reduceScatter"] = blockOf(summed, even, rank);
  out["reduceScatter.counts"] = blockOf(summed, countsFor(size, length), rank);
  out["allreduce.large"] = digest(foldArrays(inputs.map((i) => i.large), (n) => new Float64Array(n), (a: number, x: number) => a + x));
  out["reduce.large"] = rank === size - 1 ? digest(foldArrays(inputs.map((i) => i.largeInts), (n) => new Int32Array(n), (a: number, x: number) => Math.max(a, x))) : "undefined";
  return out;
}

/** The world PEs of each team the fixture makes, seen from world PE `pe` of `n` (undefined: not a member), in `procs` processes split into `modules` modules as `shoal run --modules` does. */
function teamsOf(pe: number, n: number, procs = 1, modules = 1): Record<string, number[] | undefined> {
  const all = [...Array(n).keys()];
  const parity = all.filter((p) => p % 2 === pe % 2).sort((a, b) => b - a); // key -pe
  const strided = n >= 2 && pe % 2 === 1 && pe < 2 * Math.floor(n / 2) ? all.filter((p) => p % 2 === 1 && p < 2 * Math.floor(n / 2)) : undefined;
  const nested = parity.indexOf(pe) < 2 ? parity.slice(0, 2) : undefined;
  // One host: the node's team is the world. Process p is in module floor(p * modules / procs).
  const moduleOf = (p: number): number => Math.floor((Math.floor(p / (n / procs)) * modules) / procs);
  return { world: all, parity, strided, nested, node: all, module: all.filter((p) => moduleOf(p) === moduleOf(pe)) };
}

const normal = (value: unknown): unknown => JSON.parse(JSON.stringify(encode(value))) as unknown;

/** One job per shape, shared by its tests. */
const jobs = new Map<string, ReturnType<typeof runJob>>();
function jobOf(shape: (typeof kShapes)[number]): ReturnType<typeof runJob> {
  let job = jobs.get(shape.name);
  if (job === undefined) jobs.set(shape.name, (job = runJob(shape.pes, "collectives.ts", { procs: shape.procs })));
  return job;
}

describe.each(kShapes)("collectives on $name", (shape) => {
  it("every collective on the world, split, strided, nested, node and module teams matches the sequential oracle", async () => {
    const result = await jobOf(shape);
    expect(result.code, result.stderr).toBe(0);
    const records = onePerPe(result, "collectives", shape.pes);
    for (const record of records) {
      const pe = record["pe"] as number;
      const teams = record["teams"] as Record<string, unknown>;
      const expected = teamsOf(pe, shape.pes);
      expect(Object.keys(teams).sort(), `teams of PE ${pe}`).toEqual(Object.keys(expected).filter((k) => expected[k] !== undefined).sort());
      for (const [name, members] of Object.entries(expected)) {
        if (members === undefined) continue;
        expect(teams[name], `team "${name}" on PE ${pe}`).toEqual(normal(expectedFor(members, members.indexOf(pe))));
      }
    }
  });

  it("a member whose input does not fit fails the call on every member, and the team works afterwards", async () => {
    const result = await jobOf(shape);
    expect(result.code, result.stderr).toBe(0);
    const n = shape.pes;
    for (const record of onePerPe(result, "collectives", n)) {
      const errors = record["errors"] as Record<string, string>;
      const mismatch = n > 1 ? "CollectiveError" : "none";
      for (const [name, call] of [["lengths", "allreduce"], ["types", "allreduce"], ["shape", "team"], ["scatter", "scatter"], ["alltoall", "alltoall"]] as const) {
        expect(errors[name]!.split(":")[0], `${name} on PE ${String(record["pe"])}: ${errors[name]}`).toBe(mismatch);
        if (n > 1) expect(errors[name]).toContain(`${call} on the world team`);
      }
      expect(errors["counts"]).toMatch(/^CollectiveError: reduceScatter on the world team: rank \d+ passed counts/);
      expect(errors["bitwise float"]).toMatch(/^CollectiveError: allreduce on the world team: .*bitAnd/);
      expect(errors["root"]).toBe("ShoalRangeError");
      expect(errors["operator"]).toBe("RegistryError");
      expect(record["after"]).toBe((n * (n + 1)) / 2);
    }
  });
});

/** Jobs across modules, at each SHOAL_HIER, and with a tiny SHOAL_GW_MTU (every array crossing modules is cut). */
const kHierJobs = [
  { pes: 4, procs: 4, modules: 2, env: { SHOAL_HIER: "0" } },
  { pes: 4, procs: 4, modules: 2, env: { SHOAL_HIER: "1" } },
  { pes: 4, procs: 4, modules: 2, env: { SHOAL_HIER: "2", SHOAL_GW_MTU: "8" } },
  { pes: 8, procs: 4, modules: 2, env: { SHOAL_HIER: "2" } },
  { pes: 6, procs: 3, modules: 3, env: { SHOAL_HIER: "1", SHOAL_GW_MTU: "16" } },
].map((job) => ({ ...job, name: `${job.pes} PEs in ${job.procs} processes, ${job.modules} modules, ${Object.entries(job.env).map(([k, v]) => `${k}=${v}`).join(" ")}` }));

describe.each(kHierJobs)("collectives on $name", (job) => {
  it("every collective on every team matches the sequential oracle", async () => {
    const result = await runJob(job.pes, "collectives.ts", { procs: job.procs, modules: job.modules, env: job.env });
    expect(result.code, result.stderr).toBe(0);
    for (const record of onePerPe(result, "collectives", job.pes)) {
      const pe = record["pe"] as number;
      const teams = record["teams"] as Record<string, unknown>;
      const expected = teamsOf(pe, job.pes, job.procs, job.modules);
      for (const [name, members] of Object.entries(expected)) {
        if (members === undefined) continue;
        expect(teams[name], `team "${name}" on PE ${pe}`).toEqual(normal(expectedFor(members, members.indexOf(pe))));
      }
      expect(record["after"]).toBe((job.pes * (job.pes + 1)) / 2);
    }
  });
});

describe("the hierarchy's point: 2 modules of 2 processes", () => {
  const gwJobs = new Map<string, ReturnType<typeof runJob>>();
  const gwJob = (hier: string): ReturnType<typeof runJob> => {
    let job = gwJobs.get(hier);
    if (job === undefined) gwJobs.set(hier, (job = runJob(4, "collectives-gw.ts", { procs: 4, modules: 2, env: { SHOAL_HIER: hier, SHOAL_HISTOGRAM: "1" } })));
    return job;
  };

  it("an 8-byte allreduce sends exactly the frames across modules its plan says, fewer with SHOAL_HIER=1 than flat", async () => {
    const [flat, aware] = await Promise.all([gwJob("0"), gwJob("1")]);
    const crossing: Record<string, number> = {};
    for (const [name, result] of [["0", flat], ["1", aware]] as const) {
      expect(result.code, result.stderr).toBe(0);
      const records = onePerPe(result, "gw", 4);
      for (const record of records) expect(record["sum"]).toBe(10);
      const frames = records.reduce((n, r) => n + (r["frames"] as number), 0);
      // Every PE computes the same plan.
      expect(new Set(records.map((r) => r["planned"])).size).toBe(1);
      expect(frames, `SHOAL_HIER=${name}: frames across modules vs the plan`).toBe(records[0]!["planned"]);
      crossing[name] = frames;
    }
    // Flat: recursive doubling among 4, whose second round pairs ranks 0-2 and 1-3 across the
    // modules both ways (4 frames). Module-aware: the module leaders 0 and 2 exchange once (2 frames).
    expect(crossing["0"]).toBe(4);
    expect(crossing["1"]).toBe(2);
  });

  it("explains the plans: flat recursive doubling; module-aware trees inside the modules, then the leaders (allreduce and scan)", async () => {
    const [flat, aware] = await Promise.all([gwJob("0"), gwJob("1")]);
    expect(onePerPe(flat, "gw", 4)[0]!["levels"]).toEqual([["flat", "recursive doubling", [[0, 1, 2, 3]]]]);
    expect(onePerPe(aware, "gw", 4)[0]!["levels"]).toEqual([
      ["module", "binomial tree", [[0, 1], [2, 3]]],
      ["modules", "recursive doubling", [[0, 2]]],
    ]);
    // A scan: flat, every member exchanges with rank XOR 1 and XOR 2 (4 of the 8 cross); module-aware,
    // each module's second member sends its value up and gets its offset back, and the leaders exchange once each way.
    expect(onePerPe(flat, "gw", 4)[0]!["scanLevels"]).toEqual([["flat", "recursive doubling", [[0, 1, 2, 3]], 8, 4]]);
    expect(onePerPe(aware, "gw", 4)[0]!["scanLevels"]).toEqual([
      ["module", "linear", [[0, 1], [2, 3]], 4, 0],
      ["modules", "recursive doubling", [[0, 2]], 2, 2],
    ]);
  });
});
