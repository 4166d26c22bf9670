/**
 * coll: an IMB-style table of one collective (allreduce, bcast or barrier) over message sizes,
 * for each hierarchy level (SHOAL_HIER 0, 1, 2; see `world.explain`), on every PE of the job:
 * t_min, t_max and t_avg in µs per call are the smallest, largest and mean over the PEs of each
 * PE's time per call (its median over the repetitions), as the Intel MPI Benchmarks print them.
 *
 * Baseline, in the same run: a raw SharedArrayBuffer spin ping-pong between two threads (a round
 * trip through shared memory with no runtime at all: the floor of any exchange between two PEs of
 * one process). Target (BENCHMARKS.md): an 8-byte allreduce on 2 PEs ≤ 1 µs.
 *
 *   npx shoal bench coll [--pes 2] [--procs 1] [--op allreduce|bcast|barrier] [--max-bytes 4194304]
 *                        [--iters 2000] [--reps 5] [--hier 0,1,2] [--json]
 *
 * Checked: every allreduce returned the sum of every PE's values (each PE passes pe + 1 in every
 * element, plus the iteration number), every bcast the root's array, in every element.
 */
import { init } from "shoal";

import { choiceOption, endBenchmark, integerOption, settle, spinPingPong, summarize, wantsJson } from "./harness.js";

const world = await init();
const op = choiceOption("op", ["allreduce", "bcast", "barrier"] as const, "allreduce");
const maxBytes = integerOption("max-bytes", 4 * 1024 * 1024);
const iterBase = integerOption("iters", 2000);
const reps = integerOption("reps", 5);
const hierArg = process.argv[process.argv.indexOf("--hier") + 1];
const levels = (process.argv.includes("--hier") && hierArg !== undefined ? hierArg.split(",") : ["0", "1", "2"]).map((h) => {
  if (h !== "0" && h !== "1" && h !== "2") throw new Error(`coll: --hier expects levels among 0,1,2, got ${hierArg}`);
  return Number(h) as 0 | 1 | 2;
});

/** The sizes: 0, then 8 B growing by 8× up to max-bytes (and max-bytes itself); one row for a barrier. */
function sizes(): number[] {
  if (op === "barrier") return [0];
  const out = [0];
  for (let bytes = 8; bytes < maxBytes; bytes *= 8) out.push(bytes);
  out.push(maxBytes);
  return out;
}

const n = world.numPes;
const total = (n * (n + 1)) / 2;

/** This PE's time per call of `iters` calls of `bytes`, µs; checks every result. */
async function timeCalls(bytes: number, iters: number): Promise<number> {
  const elements = bytes / 8;
  const data = new Float64Array(elements);
  await world.barrier();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    if (op === "barrier") {
      await world.barrier();
    } else if (op === "allreduce") {
      if (elements > 0) data[0] = world.pe + 1 + i;
      const got = await world.allreduce(data, "sum");
      if (elements > 0 && got[0] !== total + n * i) throw new Error(`coll: allreduce ${i} of ${bytes} B gave ${got[0]}, expected ${total + n * i}`);
    } else {
      if (world.pe === 0 && elements > 0) data[0] = i;
      const got = await world.broadcast(world.pe === 0 ? data : undefined, 0);
      if (got.length !== elements || (elements > 0 && got[0] !== i)) throw new Error(`coll: bcast ${i} of ${bytes} B gave ${got[0]}, expected ${i}`);
    }
  }
  return Number(process.hrtime.bigint() - start) / 1000 / iters;
}

/** The full check after the timed calls: every element. */
async function checkAll(bytes: number): Promise<void> {
  if (op === "barrier" || bytes === 0) return;
  const data = new Float64Array(bytes / 8).fill(world.pe + 1);
  const got = op === "allreduce" ? await world.allreduce(data, "sum") : await world.broadcast(world.pe === 0 ? data : undefined, 0);
  const want = op === "allreduce" ? total : 1;
  for (let k = 0; k < got.length; k++) if (got[k] !== want) throw new Error(`coll: ${op} of ${bytes} B: element ${k} is ${got[k]}, expected ${want}`);
}

interface CollRow {
  benchmark: "coll";
  op: string;
  hier: number;
  bytes: number;
  repetitions: number;
  t_min: number;
  t_max: number;
  t_avg: number;
  unit: "µs";
}

const rows: CollRow[] = [];
for (const hier of levels) {
  world.useHierarchy(hier);
  for (const bytes of sizes()) {
    const iters = Math.max(10, Math.min(iterBase, Math.floor((iterBase * 4096) / Math.max(4096, bytes))));
    await timeCalls(bytes, Math.max(1, iters >> 3)); // warm-up
    const samples: number[] = [];
    for (let rep = 0; rep < reps; rep++) samples.push(await timeCalls(bytes, iters));
    await checkAll(bytes);
    const mine = summarize(samples).median;
    const all = await world.allgather(mine);
    rows.push({
      benchmark: "coll", op, hier, bytes, repetitions: reps * iters, unit: "µs",
      t_min: Math.min(...all), t_max: Math.max(...all), t_avg: all.reduce((a, b) => a + b, 0) / all.length,
    });
  }
}

await settle(world);
if (world.pe === 0) {
  const spins: number[] = [];
  for (let rep = 0; rep < reps; rep++) spins.push(await spinPingPong(20000));
  const spin = summarize(spins);
  const eight = rows.find((row) => row.bytes === 8 && row.hier === levels[levels.length - 1]);
  const check = op === "barrier" ? "every barrier completed" : `every ${op} result matched its oracle in every call (first element) and after each size (every element)`;
  if (wantsJson) {
    // The harness's fields (median, min, max over the PEs) beside IMB's; the 8-byte allreduce at
    // the top level also carries the target and its ratio to the spin round trip.
    for (const row of rows) {
      const what = `${op} of ${row.bytes} B, SHOAL_HIER=${row.hier}, ${n} PEs`;
      const headline = op === "allreduce" && row === eight ? { ratio: row.t_avg / spin.median, ratioOf: "shoal / spin", target: "≤ 1 µs on 2 PEs" } : {};
      process.stdout.write(`${JSON.stringify({ ...row, what, median: row.t_avg, min: row.t_min, max: row.t_max, ...headline, check })}\n`);
    }
    process.stdout.write(`${JSON.stringify({ benchmark: "coll", what: "baseline: SAB spin ping-pong round trip, 2 threads", unit: "µs", ...spin, check })}\n`);
  } else {
    const placement = `${n} PE${n === 1 ? "" : "s"} in ${world.numProcesses} process${world.numProcesses === 1 ? "" : "es"}, ${world.topology.numNodes} node${world.topology.numNodes === 1 ? "" : "s"}, ${world.topology.numModules} module${world.topology.numModules === 1 ? "" : "s"}`;
    process.stdout.write(`# ${op}, ${placement}; t_min/t_max/t_avg over the PEs of each PE's median time per call\n`);
    const header = ["hier", "#bytes", "#repetitions", "t_min[µs]", "t_max[µs]", "t_avg[µs]"];
    const lines = rows.map((row) => [String(row.hier), String(row.bytes), String(row.repetitions), row.t_min.toFixed(2), row.t_max.toFixed(2), row.t_avg.toFixed(2)]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
    const render = (cells: string[]): string => cells.map((cell, i) => cell.padStart(widths[i]!)).join("  ");
    process.stdout.write(`${render(header)}\n`);
    for (const line of lines) process.stdout.write(`${render(line)}\n`);
    process.stdout.write(`baseline: SAB spin ping-pong round trip between 2 threads: median ${spin.median.toFixed(3)} µs (min ${spin.min.toFixed(3)}, max ${spin.max.toFixed(3)})\n`);
    if (op === "allreduce" && eight !== undefined) {
      process.stdout.write(`8-byte allreduce at SHOAL_HIER=${eight.hier}: t_avg ${eight.t_avg.toFixed(2)} µs = ${(eight.t_avg / spin.median).toFixed(1)}× the spin round trip; target (2 PEs) ≤ 1 µs\n`);
    }
    process.stdout.write(`check: ok: ${check}\n`);
  }
}
await endBenchmark(world);
