/**
 * sum: `array.sum()` of a 1 GiB f64 array (`--mib` to change), block distribution, called by PE 0
 * alone: each PE reduces its own part, in parallel, and PE 0 combines the partial sums. The
 * figure is bandwidth (GB/s = 10^9 bytes of the array per second).
 *
 * Baseline, in the same run, alternating with it (which goes first rotates): one thread
 * summing a plain Float64Array of the same size with the same loop as shoal's sum kernel
 * (`total += values[i]`, one accumulator), on PE 0 while the other PEs are idle. A control row
 * runs the same loop on numPes plain threads at once (no shoal): the speedup the machine itself
 * allows at that moment, which on a shared VM can be well below numPes.
 *
 *   npx shoal bench sum [--pes 2] [--mib 1024] [--reps 7] [--json]
 *
 * The elements are small integers (element i holds i mod 1024), so both sums are exact: every
 * repetition checks them against the total computed in closed form. Target (BENCHMARKS.md):
 * ≥ 1.6× the single-thread loop, on 2 PEs.
 */
import type { Worker } from "node:worker_threads";

import { init } from "shoal";

import { endBenchmark, integerOption, printRows, secondsSince, settle, startWorker, summarize, type Row, type Summary } from "./harness.js";

const world = await init();
const mib = integerOption("mib", 1024);
const reps = integerOption("reps", 7);
const length = Math.floor((mib * 2 ** 20) / 8);
const bytes = length * 8;

/** Element i of both arrays. */
const valueAt = (i: number): number => i & 1023;
/** The sum of valueAt(i) for i < length, in closed form. */
const expected = Math.floor(length / 1024) * ((1023 * 1024) / 2) + ((length % 1024) * ((length % 1024) - 1)) / 2;

const array = await world.array("f64", length);
{
  // Every PE fills its own part (block: local element k is global element first + k).
  const first = array.localLength() === 0 ? 0 : array.globalIndex(world.pe, 0);
  const local = array.local;
  for (let k = 0; k < local.length; k++) local[k] = valueAt(first + k);
}
await world.barrier();

/** The loop of shoal's sum kernel (kernels/reductions.ts, sumNumbers). */
function sumLoop(values: Float64Array, start: number, end: number): number {
  let total = 0;
  for (let i = start; i < end; i++) total += values[i]!;
  return total;
}

/**
 * The control: the same loop on `threads` plain threads at once (this one and workers), each over
 * its share of a SharedArrayBuffer. No shoal in it: it shows how much two threads can gain on this
 * machine at this moment (memory bandwidth, and cores that other processes leave free).
 */
const controlSource = `
const { parentPort, workerData } = require("node:worker_threads");
const values = new Float64Array(workerData.buffer);
function sumLoop(values, start, end) {
  let total = 0;
  for (let i = start; i < end; i++) total += values[i];
  return total;
}
parentPort.on("message", () => parentPort.postMessage(sumLoop(values, workerData.start, workerData.end)));
`;

if (world.pe === 0) {
  const plain = new Float64Array(length);
  for (let i = 0; i < length; i++) plain[i] = valueAt(i);
  const threads = world.numPes;
  const shared = new Float64Array(new SharedArrayBuffer(bytes));
  shared.set(plain);
  const bounds = Array.from({ length: threads + 1 }, (_, t) => Math.floor((t * length) / threads));
  const workers = Array.from({ length: threads - 1 }, (_, w) => startWorker(controlSource, { buffer: shared.buffer, start: bounds[w + 1], end: bounds[w + 2] }));
  const ask = (worker: Worker): Promise<number> => new Promise((resolve) => {
    worker.once("message", resolve);
    worker.postMessage(0);
  });

  /** Seconds of shoal's sum, checked. */
  const shoalSum = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    const total = await array.sum();
    const seconds = secondsSince(start);
    if (total !== expected) throw new Error(`sum: array.sum() gave ${total}, expected ${expected}`);
    return seconds;
  };
  /** Seconds of the single-thread loop, checked. */
  const plainSum = (): Promise<number> => {
    const start = process.hrtime.bigint();
    const total = sumLoop(plain, 0, length);
    const seconds = secondsSince(start);
    if (total !== expected) throw new Error(`sum: the baseline loop gave ${total}, expected ${expected}`);
    return Promise.resolve(seconds);
  };
  /** Seconds of the control, checked. */
  const controlSum = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    const replies = workers.map(ask);
    let total = sumLoop(shared, bounds[0]!, bounds[1]!);
    for (const part of await Promise.all(replies)) total += part;
    const seconds = secondsSince(start);
    if (total !== expected) throw new Error(`sum: the control gave ${total}, expected ${expected}`);
    return seconds;
  };
  await Promise.all(workers.map(ask)); // warm the workers up

  // The three take turns going first; each waits until no PE polls.
  const steps = [shoalSum, plainSum, controlSum];
  const samples: number[][] = [[], [], []];
  for (let rep = -1; rep < reps; rep++) {
    for (let j = 0; j < steps.length; j++) {
      const step = (rep + 1 + j) % steps.length;
      await settle(world);
      const seconds = await steps[step]!();
      if (rep >= 0) samples[step]!.push(bytes / seconds / 1e9);
    }
  }
  await Promise.all(workers.map((worker) => worker.terminate()));
  const [s, b, c] = samples.map(summarize) as [Summary, Summary, Summary];
  const checked = `every sum, shoal's, the baseline's and the control's, equalled ${expected}`;
  const rows: Row[] = [
    {
      benchmark: "sum", what: `shoal array.sum() from PE 0, f64, ${mib} MiB, ${world.numPes} PEs`, unit: "GB/s", ...s,
      ratio: s.median / b.median, ratioOf: "shoal / baseline", target: "≥ 1.6× on 2 PEs", check: checked,
    },
    { benchmark: "sum", what: `baseline: 1 thread, the same loop over a plain Float64Array`, unit: "GB/s", ...b, check: checked },
    {
      benchmark: "sum", what: `control: ${threads} plain thread${threads === 1 ? "" : "s"}, the same loop, each over its share`, unit: "GB/s", ...c,
      ratio: c.median / b.median, ratioOf: "control / baseline", check: checked,
    },
  ];
  printRows(rows);
}
await endBenchmark(world);
