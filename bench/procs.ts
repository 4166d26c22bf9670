/**
 * procs: shoal between 2 processes on one host, PE 0 in process 0 and PE 1 in process 1 (each
 * PE's frames go through its process's IO worker and one NNG ipc:// connection), each figure next
 * to a baseline measured in the same run, alternating with it (which goes first alternates too):
 * - **AM round trip**: PE 0 `await world.exec(1, echo, i)`, one at a time, µs each. Baseline: raw
 *   NNG through shoal's binding (`NngSocket`), an 8-byte message sent by PE 0's thread to a child
 *   process over ipc:// and echoed back, one at a time on the event loop (nng-pingpong's "NNG
 *   round trip, 8 B, ipc"). Ratio shoal / NNG; target (BENCHMARKS.md) ≤ 1.3×.
 * - **histogram**: every PE adds 1 at `--updates` seeded random indices of a cyclic u32 table of
 *   `--table` elements per PE, so half of them land in the other process; updates/s over both
 *   PEs, from a barrier before the first update to one after every PE's last. Two ways, each
 *   repetition: one `batchAdd(indices, 1)` of all of them (as Lamellar's `array_batch_add` issues
 *   its increments: one call, which the runtime splits per owner), the row of the target
 *   (BENCHMARKS.md: ≥ 20 M updates/s); and `await batchAdd` of one `--batch` after another, where
 *   every batch waits for its round trip. Baseline: one thread's `Atomics.add` loop over a plain
 *   `Uint32Array` as long as the whole table, with PE 0's indices (as bench/histo.ts).
 * - **large put**: PE 0 `put`s `--mib` MiB of f64 into PE 1's part of a block array (so every
 *   byte crosses processes), GB/s (10^9 bytes/s) until the put resolves. Baseline: raw NNG, the
 *   same bytes (when `--mib` is a multiple of 16) as 16 MiB messages streamed one way to the child, which counts them
 *   (nng-pingpong's "large messages one way"). Ratio shoal / NNG.
 *
 *   npx shoal bench procs --pes 2 --procs 2 [--reps 7] [--iters 5000] [--table 1048576]
 *     [--updates 1000000] [--batch 10000] [--mib 64] [--seed 1] [--json]
 *
 * Check, every repetition: the exec replies sum to the values sent and every NNG echo is the
 * message sent; the histogram's table sums to the number of updates (the baseline's too), and
 * after the last repetition every element equals the count an oracle computed from both PEs'
 * indices; after every put, PE 1's checksum of its part equals that of the values put, and the
 * child counted every streamed message, in order. A failed check ends the run with exit code 1.
 * The baseline's child process and connection are bench/support/nng-links.ts.
 */
import { defineAm, init } from "shoal";

import { alternate, checkHistogram, endBenchmark, generator, integerOption, printRows, secondsSince, settle, summarize, type Row } from "./harness.js";
import { roundTrip, startLinks, stream, type Links } from "./support/nng-links.js";

const echo = defineAm("bench.procs.echo", (_ctx, x: number) => x);

/**
 * PE 1 waits between the parts that PE 0 drives alone (waiting that long in a barrier would print
 * barrier reports): PE 0 releases it from part `n` by this message, which may come early.
 */
let partsReleased = 0;
let wakePe1: (() => void) | undefined;
const releasePart = defineAm("bench.procs.release", () => {
  partsReleased++;
  wakePe1?.();
});

/** PE 1: resolves once PE 0 has released `parts` parts. */
async function waitForRelease(parts: number): Promise<void> {
  while (partsReleased < parts) await new Promise<void>((resolve) => (wakePe1 = resolve));
}

/** A checksum that depends on every value and its position; PE 0 and PE 1 compute it in the same order, so they agree exactly. */
function checksum(values: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < values.length; i++) sum += values[i]! * ((i & 7) + 1);
  return sum;
}

/** PE 1: the checksum of its part of the large-put array (which exists before PE 0 asks). */
const checksumOfPart = defineAm("bench.procs.checksum", () => checksum(putArray.local));

const world = await init();
const { pe, numPes } = world;
if (world.numProcesses !== 2 || numPes !== 2) {
  throw new Error(`procs: expected 2 PEs in 2 processes, one in each, as in: shoal bench procs --pes 2 --procs 2; got ${numPes} PE${numPes === 1 ? "" : "s"} in ${world.numProcesses} process${world.numProcesses === 1 ? "" : "es"}`);
}
const reps = integerOption("reps", 7);
const iters = integerOption("iters", 5000);
const perPe = integerOption("table", 1 << 20);
const updates = integerOption("updates", 1_000_000);
const batch = integerOption("batch", 10_000);
const mib = integerOption("mib", 64);
const seed = integerOption("seed", 1);

const length = perPe * numPes;
const table = await world.array("u32", length, { dist: "cyclic" });
const putLength = Math.floor((mib * 2 ** 20) / 8);
const putBytes = putLength * 8;
const putArray = await world.array("f64", putLength * numPes, { dist: "block" });

/** PE `owner`'s histogram indices: `updates` seeded uniform draws from 0..length-1. */
function indicesOf(owner: number): Uint32Array {
  const next = generator(seed * 7919 + owner);
  const indices = new Uint32Array(updates);
  for (let k = 0; k < updates; k++) indices[k] = Math.floor(next() * length / 2 ** 32);
  return indices;
}
const indices = indicesOf(pe);

// ---------------------------------------------------------------------------------------------
// AM round trip

/** Mean round trip of `n` execs of `echo` on PE 1, µs; throws unless the replies sum to the values sent. */
async function amRoundTrip(n: number): Promise<number> {
  const start = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await world.exec(1, echo, i);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / n;
  if (sum !== (n * (n - 1)) / 2) throw new Error(`procs: the exec replies summed to ${sum}, expected ${(n * (n - 1)) / 2}`);
  return micros;
}

/** PE 0: the round trips of shoal and of raw NNG, alternating; µs each. */
async function roundTrips(links: Links): Promise<{ shoal: number[]; nng: number[] }> {
  const shoal: number[] = [];
  const nng: number[] = [];
  for (let rep = -1; rep < reps; rep++) { // rep -1 warms up
    const n = rep < 0 ? Math.min(iters, 1000) : iters;
    const measureNng = async (): Promise<number> => {
      await settle(world);
      return roundTrip("procs", links.nng, n);
    };
    let nngMicros = rep % 2 !== 0 ? await measureNng() : 0;
    const shoalMicros = await amRoundTrip(n);
    if (rep % 2 === 0) nngMicros = await measureNng();
    if (rep >= 0) {
      shoal.push(shoalMicros);
      nng.push(nngMicros);
    }
  }
  return { shoal, nng };
}

// ---------------------------------------------------------------------------------------------
// histogram

/** One repetition of shoal's histogram on both PEs, one call or awaited batches; updates per second over both. */
async function shoalHisto(whole: boolean): Promise<number> {
  await world.barrier();
  const start = process.hrtime.bigint();
  if (whole) await table.batchAdd(indices, 1);
  else for (let at = 0; at < updates; at += batch) await table.batchAdd(indices.subarray(at, at + batch), 1);
  await world.barrier();
  return (updates * numPes) / secondsSince(start);
}

const plain = new Uint32Array(pe === 0 ? new SharedArrayBuffer(length * 4) : new ArrayBuffer(0));

/** One thread's histogram: `Atomics.add(table, indices[k], 1)`. Kept alone, so that it stays optimised. */
function addLoop(into: Uint32Array, from: Uint32Array): void {
  for (let k = 0; k < from.length; k++) Atomics.add(into, from[k]!, 1);
}

/** The single-thread loop over PE 0's indices, on a plain typed array; updates per second. */
function baselineHisto(): number {
  plain.fill(0);
  const start = process.hrtime.bigint();
  addLoop(plain, indices);
  const rate = updates / secondsSince(start);
  let sum = 0;
  for (let i = 0; i < length; i++) sum += plain[i]!;
  if (sum !== updates) throw new Error(`procs: the baseline's histogram sums to ${sum}, expected ${updates}`);
  return rate;
}

/** Both PEs: the histogram both ways and its baseline, alternating; M updates/s (the figures on PE 0). */
async function histograms(): Promise<{ whole: number[]; batches: number[]; baseline: number[] }> {
  const whole: number[] = [];
  const batches: number[] = [];
  const baseline: number[] = [];
  const measure = async (one: boolean, full: boolean): Promise<number> => {
    const measured = await shoalHisto(one);
    if (pe === 0) {
      await checkHistogram("procs", table, numPes, pe, updates, indices, indicesOf, full);
      await table.fill(0);
    }
    return measured;
  };
  for (let rep = -1; rep < reps; rep++) {
    const [[one, many], base] = await alternate(world, rep, async () => {
      // Which way goes first alternates too.
      if (rep % 2 === 0) return [await measure(true, false), await measure(false, rep === reps - 1)] as const;
      const many = await measure(false, false);
      return [await measure(true, rep === reps - 1), many] as const;
    }, baselineHisto);
    if (pe === 0 && rep >= 0) {
      whole.push(one / 1e6);
      batches.push(many / 1e6);
      baseline.push(base! / 1e6);
    }
  }
  return { whole, batches, baseline };
}

// ---------------------------------------------------------------------------------------------
// large put

/** PE 0: `put` into PE 1's part and the raw NNG stream of the same bytes, alternating; GB/s. */
async function largePuts(links: Links): Promise<{ shoal: number[]; nng: number[] }> {
  const messageBytes = Math.min(16 << 20, putBytes);
  const messages = Math.max(1, Math.floor(putBytes / messageBytes));
  const values = new Float64Array(putLength);
  const shoal: number[] = [];
  const nng: number[] = [];
  for (let rep = -1; rep < reps; rep++) {
    for (let i = 0; i < putLength; i++) values[i] = i * 0.5 + rep; // different values every repetition
    const want = checksum(values);
    const measureNng = async (): Promise<number> => {
      await settle(world);
      return (await stream("procs", links.nng, messages, messageBytes)) * messageBytes / 1e9;
    };
    let nngRate = rep % 2 !== 0 ? await measureNng() : 0;
    const start = process.hrtime.bigint();
    await putArray.put(putLength, values); // PE 1's part: global indices putLength..2*putLength-1
    const shoalRate = putBytes / secondsSince(start) / 1e9;
    const got = await world.exec(1, checksumOfPart);
    if (got !== want) throw new Error(`procs: after put of repetition ${rep}, PE 1's part has checksum ${got}, expected ${want}: the put lost or changed values`);
    if (rep % 2 === 0) nngRate = await measureNng();
    if (rep >= 0) {
      shoal.push(shoalRate);
      nng.push(nngRate);
    }
  }
  return { shoal, nng };
}

// ---------------------------------------------------------------------------------------------

if (pe === 0) {
  await settle(world);
  const links = await startLinks({ benchmark: "procs" });
  const rtt = await roundTrips(links);
  await world.exec(1, releasePart);
  const histo = await histograms();
  const put = await largePuts(links);
  await links.close();

  const r = { shoal: summarize(rtt.shoal), nng: summarize(rtt.nng) };
  const h = { whole: summarize(histo.whole), batches: summarize(histo.batches), baseline: summarize(histo.baseline) };
  const p = { shoal: summarize(put.shoal), nng: summarize(put.nng) };
  const rttChecked = "every repetition's exec replies summed to the values sent; every NNG echo was the message sent";
  const histoChecked = "every repetition's table (and the baseline's) summed to the updates; the last one matched the oracle element by element";
  const putChecked = "after every put, PE 1's checksum of its part matched the values put; the child counted every NNG message, in order";
  const messageMib = Math.min(16, mib);
  const rows: Row[] = [
    {
      benchmark: "procs", what: "shoal exec round trip, PE 0 → PE 1 in another process", unit: "µs", ...r.shoal,
      ratio: r.shoal.median / r.nng.median, ratioOf: "shoal / NNG", target: "≤ 1.3×", check: rttChecked,
    },
    { benchmark: "procs", what: "baseline: raw NNG round trip, 8 B, ipc, to a child process", unit: "µs", ...r.nng, check: rttChecked },
    {
      benchmark: "procs", what: `shoal batchAdd(indices, 1) of all ${updates} indices per PE, 2 PEs in 2 processes, cyclic u32 table of ${perPe}/PE`,
      unit: "M updates/s", ...h.whole, ratio: h.whole.median / (numPes * h.baseline.median), ratioOf: `shoal / (${numPes} × baseline)`, target: "≥ 20 M updates/s", check: histoChecked,
    },
    {
      benchmark: "procs", what: `shoal await batchAdd(batch, 1), one batch of ${batch} after another, same table`,
      unit: "M updates/s", ...h.batches, ratio: h.batches.median / (numPes * h.baseline.median), ratioOf: `shoal / (${numPes} × baseline)`, check: histoChecked,
    },
    { benchmark: "procs", what: `baseline: 1 thread, Atomics.add loop, table of ${length}`, unit: "M updates/s", ...h.baseline, check: histoChecked },
    {
      benchmark: "procs", what: `shoal put, f64, ${mib} MiB, PE 0 → PE 1's part in another process`, unit: "GB/s", ...p.shoal,
      ratio: p.shoal.median / p.nng.median, ratioOf: "shoal / NNG", check: putChecked,
    },
    { benchmark: "procs", what: `baseline: raw NNG ${messageMib} MiB messages one way, ipc, to a child process`, unit: "GB/s", ...p.nng, check: putChecked },
  ];
  printRows(rows);
} else {
  await waitForRelease(1);
  await histograms();
}
await endBenchmark(world);
