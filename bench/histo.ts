/**
 * histo (bale's histogram): every PE adds 1 to random elements of a distributed u32 table, with
 * `table.batchAdd(indices, 1)` in batches, and the figure is updates/s over all PEs, from a
 * barrier before the first batch to a barrier after every PE's last. The table has `--table`
 * elements per PE (1 M = 2^20 by default), spread cyclically (`--dist block` for blocks); each PE's
 * indices are drawn from a seeded generator before the clock starts, as bale does.
 *
 * Baseline, in the same run, alternating with it (which goes first alternates too): one thread's
 * `Atomics.add` loop over a plain `Uint32Array` (on a SharedArrayBuffer) as long as the whole
 * table, with PE 0's indices, run by PE 0 while the other PEs wait. The ratio compares shoal with
 * numPes times that rate: perfect scaling of the single-thread loop. A control row runs the same
 * loop on numPes plain threads at once (no shoal), each with one PE's indices: the scaling the
 * machine itself allows at that moment, which on a shared VM can be well below numPes.
 *
 *   npx shoal bench histo [--pes 2] [--table 1048576] [--updates 10000000] [--batch 10000]
 *     [--dist cyclic|block] [--reps 7] [--seed 1] [--json]
 *
 * Check, every repetition: the table's sum equals the number of updates; after the last one, every
 * element equals the count an oracle computed from every PE's seeded indices. Target
 * (BENCHMARKS.md): ≥ 0.6× numPes × the single-thread loop, on 2 PEs.
 */
import type { Worker } from "node:worker_threads";

import { init } from "shoal";

import { alternate, checkHistogram, choiceOption, generator, integerOption, printRows, secondsSince, startWorker, summarize, type Row } from "./harness.js";

const world = await init();
const perPe = integerOption("table", 1 << 20);
const updates = integerOption("updates", 10_000_000);
const batch = integerOption("batch", 10_000);
const reps = integerOption("reps", 7);
const seed = integerOption("seed", 1);
const dist = choiceOption("dist", ["cyclic", "block"], "cyclic");
const { pe, numPes } = world;
const length = perPe * numPes;

/** PE `owner`'s indices: `updates` seeded uniform draws from 0..length-1. */
function indicesOf(owner: number): Uint32Array {
  const next = generator(seed * 7919 + owner);
  const indices = new Uint32Array(updates);
  for (let k = 0; k < updates; k++) indices[k] = Math.floor(next() * length / 2 ** 32);
  return indices;
}

const table = await world.array("u32", length, { dist });
const indices = indicesOf(pe);

/** One repetition of shoal's histogram on every PE; updates per second over all PEs. */
async function shoalHisto(): Promise<number> {
  await world.barrier();
  const start = process.hrtime.bigint();
  for (let at = 0; at < updates; at += batch) await table.batchAdd(indices.subarray(at, at + batch), 1);
  await world.barrier();
  return (updates * numPes) / secondsSince(start);
}

const plain = new Uint32Array(new SharedArrayBuffer(length * 4));

/** One thread's histogram: `Atomics.add(table, indices[k], 1)`. Kept alone, so that it stays optimised. */
function addLoop(table: Uint32Array, indices: Uint32Array): void {
  for (let k = 0; k < indices.length; k++) Atomics.add(table, indices[k]!, 1);
}

/** The single-thread loop over PE 0's indices, on a plain typed array; updates per second. */
function baselineHisto(): number {
  plain.fill(0);
  const start = process.hrtime.bigint();
  addLoop(plain, indices);
  const rate = updates / secondsSince(start);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += plain[i]!;
  if (sum !== updates) throw new Error(`histo: the baseline's table sums to ${sum}, expected ${updates}`);
  return rate;
}

/**
 * The control: numPes plain threads at once (PE 0's and workers), each running the loop with one
 * PE's indices on one shared table. No shoal in it: it shows what numPes threads can do on this
 * machine at this moment (cores that other processes leave free, memory), the ceiling for shoal.
 */
const controlSource = `
const { parentPort, workerData } = require("node:worker_threads");
const table = new Uint32Array(workerData.table);
const indices = new Uint32Array(workerData.indices);
function addLoop(table, indices) {
  for (let k = 0; k < indices.length; k++) Atomics.add(table, indices[k], 1);
}
parentPort.on("message", () => {
  addLoop(table, indices);
  parentPort.postMessage(0);
});
`;
const workers = pe !== 0 ? [] : Array.from({ length: numPes - 1 }, (_, w) => {
  const theirs = new Uint32Array(new SharedArrayBuffer(updates * 4));
  theirs.set(indicesOf(w + 1));
  return startWorker(controlSource, { table: plain.buffer, indices: theirs.buffer });
});
const ask = (worker: Worker): Promise<unknown> => new Promise((resolve) => {
  worker.once("message", resolve);
  worker.postMessage(0);
});

/** The control: updates per second over numPes plain threads. */
async function controlHisto(): Promise<number> {
  plain.fill(0);
  const start = process.hrtime.bigint();
  const done = workers.map(ask);
  addLoop(plain, indices);
  await Promise.all(done);
  const rate = (updates * numPes) / secondsSince(start);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += plain[i]!;
  if (sum !== updates * numPes) throw new Error(`histo: the control's table sums to ${sum}, expected ${updates * numPes}`);
  return rate;
}

const shoal: number[] = [];
const baseline: number[] = [];
const control: number[] = [];
for (let rep = -1; rep < reps; rep++) {
  const [rate, base] = await alternate(world, rep, async () => {
    const measured = await shoalHisto();
    if (pe === 0) {
      await checkHistogram("histo", table, numPes, pe, updates, indices, indicesOf, rep === reps - 1);
      await table.fill(0);
    }
    return measured;
  }, async () => {
    // The baseline and the control also take turns going first.
    if (rep % 2 === 0) return [baselineHisto(), await controlHisto()] as const;
    const controlRate = await controlHisto();
    return [baselineHisto(), controlRate] as const;
  });
  if (pe === 0 && rep >= 0) {
    shoal.push(rate / 1e6);
    baseline.push(base![0] / 1e6);
    control.push(base![1] / 1e6);
  }
}
await Promise.all(workers.map((worker) => worker.terminate()));

if (pe === 0) {
  const s = summarize(shoal);
  const b = summarize(baseline);
  const c = summarize(control);
  const checked = `every repetition's table (and the baseline's and control's) summed to the updates; the last one matched the oracle element by element`;
  const rows: Row[] = [
    {
      benchmark: "histo", what: `shoal batchAdd(indices, 1), ${numPes} PEs, ${dist} u32 table of ${perPe}/PE, batches of ${batch}`,
      unit: "M updates/s", ...s, ratio: s.median / (numPes * b.median), ratioOf: `shoal / (${numPes} × baseline)`, target: "≥ 0.6×", check: checked,
    },
    { benchmark: "histo", what: `baseline: 1 thread, Atomics.add loop, table of ${length}`, unit: "M updates/s", ...b, check: checked },
    {
      benchmark: "histo", what: `control: ${numPes} plain thread${numPes === 1 ? "" : "s"}, Atomics.add loops on one shared table`, unit: "M updates/s", ...c,
      ratio: c.median / (numPes * b.median), ratioOf: `control / (${numPes} × baseline)`, check: checked,
    },
  ];
  printRows(rows);
}
await world.barrier();
