/**
 * ig (bale's index gather): every PE reads random elements of a distributed u32 table with
 * `table.batchLoad(indices, out)`, in batches (each into its slice of one result array), and the figure is reads/s over all PEs, from a barrier
 * before the first batch to a barrier after every PE's last. The table has `--table` elements per
 * PE (1 M = 2^20 by default), spread cyclically (`--dist block` for blocks), and holds
 * `table[i] = f(i)` for a known hash `f`; each PE's indices are drawn from a seeded generator
 * before the clock starts, as bale does.
 *
 * Baseline, in the same run, alternating with it (which goes first alternates too): one thread's
 * gather loop `out[k] = table[indices[k]]` over a plain `Uint32Array` as long as the whole table,
 * with PE 0's indices, run by PE 0 while the other PEs wait. The ratio compares shoal with numPes
 * times that rate: perfect scaling of the single-thread loop. A second row times the same loop with
 * `Atomics.load(table, indices[k])`, which is what each element of a batchLoad costs today: it
 * shows how much of the gap is the atomic read itself.
 *
 *   npx shoal bench ig [--pes 2] [--table 1048576] [--reads 10000000] [--batch 10000]
 *     [--dist cyclic|block] [--reps 7] [--seed 1] [--json]
 *
 * Check, every repetition on every PE: each gathered value equals f(its index). Target
 * (BENCHMARKS.md): ≥ 0.6× numPes × the single-thread loop.
 */
import { init } from "shoal";

import { alternate, choiceOption, generator, integerOption, printRows, secondsSince, summarize, type Row } from "./harness.js";

const world = await init();
const perPe = integerOption("table", 1 << 20);
const reads = integerOption("reads", 10_000_000);
const batch = integerOption("batch", 10_000);
const reps = integerOption("reps", 7);
const seed = integerOption("seed", 1);
const dist = choiceOption("dist", ["cyclic", "block"], "cyclic");
const { pe, numPes } = world;
const length = perPe * numPes;

/** What element i of the table holds: a hash of i, so a value read from the wrong place shows. */
const valueAt = (i: number): number => Math.imul(i ^ 0x5bd1e995, 0x9e3779b1) >>> 0;

const table = await world.array("u32", length, { dist });
{
  // Every PE fills its own part: local element k is global element first + k * stride.
  const first = table.globalIndex(pe, 0);
  const stride = dist === "cyclic" ? numPes : 1;
  const local = table.local;
  for (let k = 0; k < local.length; k++) local[k] = valueAt(first + k * stride);
}

const indices = new Uint32Array(reads);
{
  const next = generator(seed * 7919 + pe);
  for (let k = 0; k < reads; k++) indices[k] = Math.floor(next() * length / 2 ** 32);
}
const batches = Math.ceil(reads / batch);
/** Every value this PE gathers, batch after batch: each batch reads into its slice (`batchLoad`'s `out`). */
const gathered = new Uint32Array(reads);

/** One repetition of shoal's index gather on every PE; reads per second over all PEs. */
async function shoalGather(): Promise<number> {
  gathered.fill(0); // so that a batch that wrote nothing fails the check
  await world.barrier();
  const start = process.hrtime.bigint();
  for (let at = 0; at < reads; at += batch) {
    const end = Math.min(reads, at + batch);
    await table.batchLoad(indices.subarray(at, end), gathered.subarray(at, end));
  }
  await world.barrier();
  return (reads * numPes) / secondsSince(start);
}

/** This PE's check: every gathered value is f(its index). */
function checkGathered(): void {
  for (let b = 0; b < batches; b++) {
    const at = b * batch;
    const values = gathered.subarray(at, Math.min(reads, at + batch));
    for (let k = 0; k < values.length; k++) {
      const i = indices[at + k]!;
      if (values[k] !== valueAt(i)) throw new Error(`ig: PE ${pe} read ${values[k]} at index ${i}, expected ${valueAt(i)}`);
    }
  }
}

const plain = new Uint32Array(new SharedArrayBuffer(length * 4));
for (let i = 0; i < length; i++) plain[i] = valueAt(i);
const out = new Uint32Array(reads);

/** One thread's gather loop: `out[k] = table[indices[k]]`. Kept alone, so that it stays optimised. */
function gatherLoop(table: Uint32Array, indices: Uint32Array, out: Uint32Array): void {
  for (let k = 0; k < indices.length; k++) out[k] = table[indices[k]!]!;
}

/** The same loop with Atomics.load. */
function atomicGatherLoop(table: Uint32Array, indices: Uint32Array, out: Uint32Array): void {
  for (let k = 0; k < indices.length; k++) out[k] = Atomics.load(table, indices[k]!);
}

/** Reads per second of `loop` over PE 0's indices on the plain table; checks what it read. */
function baselineGather(loop: typeof gatherLoop): number {
  out.fill(0);
  const start = process.hrtime.bigint();
  loop(plain, indices, out);
  const rate = reads / secondsSince(start);
  for (let k = 0; k < reads; k++) {
    if (out[k] !== valueAt(indices[k]!)) throw new Error(`ig: the baseline ${loop.name} read ${out[k]} at index ${indices[k]}`);
  }
  return rate;
}

const shoal: number[] = [];
const baseline: number[] = [];
const atomic: number[] = [];
for (let rep = -1; rep < reps; rep++) {
  const [rate, base] = await alternate(world, rep, async () => {
    const measured = await shoalGather();
    checkGathered();
    return measured;
  }, () => [baselineGather(gatherLoop), baselineGather(atomicGatherLoop)] as const);
  if (pe === 0 && rep >= 0) {
    shoal.push(rate / 1e6);
    baseline.push(base![0] / 1e6);
    atomic.push(base![1] / 1e6);
  }
}

if (pe === 0) {
  const s = summarize(shoal);
  const b = summarize(baseline);
  const a = summarize(atomic);
  const checked = `every value every PE gathered, every repetition, equals f(its index)`;
  const rows: Row[] = [
    {
      benchmark: "ig", what: `shoal batchLoad(indices, out), ${numPes} PEs, ${dist} u32 table of ${perPe}/PE, batches of ${batch}`,
      unit: "M reads/s", ...s, ratio: s.median / (numPes * b.median), ratioOf: `shoal / (${numPes} × baseline)`, target: "≥ 0.6×", check: checked,
    },
    { benchmark: "ig", what: `baseline: 1 thread, gather loop, table of ${length}`, unit: "M reads/s", ...b, check: checked },
    {
      benchmark: "ig", what: `for reference: 1 thread, the loop with Atomics.load`, unit: "M reads/s", ...a,
      ratio: s.median / (numPes * a.median), ratioOf: `shoal / (${numPes} × this)`, check: checked,
    },
  ];
  printRows(rows);
}
await world.barrier();
