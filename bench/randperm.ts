/**
 * randperm (bale's random permutation, by dart throwing): a permutation of 0..n-1 built by every
 * PE at once. The PEs share n items (item i is the dart i + 1, so that 0 means an empty slot);
 * each throws its darts at random slots of a u32 target array of `--factor` × n slots (block
 * distribution) with `target.batchCompareExchange(slots, 0, darts)`, keeps the misses and throws
 * them again until all have landed. Then it compacts: each PE counts the darts in its own part,
 * an exclusive `scan` of those counts gives each PE its offset in the result, and each PE `put`s
 * its darts, in slot order, there. The clock runs from a barrier before the first throw to a
 * barrier after the last put; drawing the random slots is inside it (as drawing the swaps is in
 * the baseline), zeroing the target is not.
 *
 * Baseline, in the same run, alternating with it (which goes first alternates too): one thread's
 * Fisher–Yates shuffle of 0..n-1 in a Uint32Array (identity, then swaps from the end), with the
 * same random generator, run by PE 0 while the other PEs wait. Both figures are seconds; the
 * ratio is shoal's over the baseline's. Two more rows split shoal's time into its phases.
 *
 *   npx shoal bench randperm [--pes 2] [--n 10000000] [--factor 2] [--batch 65536] [--reps 7]
 *     [--seed 1] [--json]
 *
 * Check, every repetition: the result (gathered to PE 0) holds each of 0..n-1 exactly once, and so
 * does the baseline's. Target (BENCHMARKS.md): report; ≤ 3× the single-thread shuffle.
 */
import { init } from "shoal";

import { alternate, generator, integerOption, option, printRows, secondsSince, summarize, type Row } from "./harness.js";

const world = await init();
const n = integerOption("n", 10_000_000);
const factor = option("factor", 2);
const batch = integerOption("batch", 65_536);
const reps = integerOption("reps", 7);
const seed = integerOption("seed", 1);
const { pe, numPes } = world;
const slotCount = Math.ceil(n * factor);
if (slotCount < n) throw new Error(`randperm: --factor must be at least 1 (the target needs a slot per item), got ${factor}`);
if (n >= 2 ** 32 - 1) throw new Error(`randperm: --n must be below 2^32 - 1 (darts are u32 values i + 1), got ${n}`);

const target = await world.array("u32", slotCount);
const result = await world.array("u32", n);
const counts = await world.array("u32", numPes);

// This PE's items: a block of 0..n-1, as darts i + 1.
const first = Math.floor((pe * n) / numPes);
const mine = Math.floor(((pe + 1) * n) / numPes) - first;
const darts = new Uint32Array(mine);
const pending = new Uint32Array(mine);
const slots = new Uint32Array(Math.min(batch, Math.max(1, mine)));
/** This PE's landed darts, compacted: as many as its part of the target can hold. */
const compacted = new Uint32Array(target.local.length);
for (let k = 0; k < mine; k++) darts[k] = first + k + 1;

/** Repetition `rep` of the dart-throwing permutation on every PE: seconds in all, and throwing. */
async function shoalRandperm(rep: number): Promise<{ total: number; throwing: number }> {
  target.local.fill(0);
  pending.set(darts);
  const next = generator(seed * 7919 + rep * 131 + pe);
  const scale = slotCount / 2 ** 32;
  await world.barrier();
  const start = process.hrtime.bigint();
  // Throw every pending dart; keep the ones that hit an occupied slot (their result is not 0).
  let left = mine;
  while (left > 0) {
    let missed = 0;
    for (let at = 0; at < left; at += batch) {
      const m = Math.min(batch, left - at);
      for (let k = 0; k < m; k++) slots[k] = Math.floor(next() * scale);
      const seen = await target.batchCompareExchange(slots.subarray(0, m), 0, pending.subarray(at, at + m));
      for (let k = 0; k < m; k++) if (seen[k] !== 0) pending[missed++] = pending[at + k]!;
    }
    left = missed;
  }
  await world.barrier();
  const throwing = secondsSince(start);
  // Compact: this PE's landed darts, in slot order, go to its offset among all PEs'.
  const part = target.local;
  let landed = 0;
  for (let k = 0; k < part.length; k++) if (part[k] !== 0) compacted[landed++] = part[k]! - 1;
  counts.local[0] = landed;
  const offsets = await counts.scan("sum", { exclusive: true });
  const offset = offsets.local[0]!;
  offsets.free();
  await result.put(offset, compacted.subarray(0, landed));
  await world.barrier();
  return { total: secondsSince(start), throwing };
}

/** Throws unless `values` holds each of 0..n-1 exactly once. */
function checkPermutation(values: Uint32Array, what: string): void {
  if (values.length !== n) throw new Error(`randperm: ${what} has ${values.length} values, expected ${n}`);
  const seen = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const v = values[i]!;
    if (v >= n) throw new Error(`randperm: ${what}[${i}] is ${v}, outside 0..${n - 1}`);
    if (seen[v] !== 0) throw new Error(`randperm: ${what} holds ${v} twice (again at ${i}): not a permutation`);
    seen[v] = 1;
  }
}

/** Fisher–Yates (Durstenfeld): the identity, then swap each position from the end with a random one at or before it. */
function fisherYates(perm: Uint32Array, next: () => number): void {
  const length = perm.length;
  for (let i = 0; i < length; i++) perm[i] = i;
  for (let i = length - 1; i > 0; i--) {
    const j = Math.floor(next() * ((i + 1) / 2 ** 32));
    const t = perm[i]!;
    perm[i] = perm[j]!;
    perm[j] = t;
  }
}

const shuffled = pe === 0 ? new Uint32Array(n) : new Uint32Array(0);

/** The single-thread shuffle; seconds. */
function baselineShuffle(rep: number): number {
  const next = generator(seed * 7919 + rep * 131);
  const start = process.hrtime.bigint();
  fisherYates(shuffled, next);
  const seconds = secondsSince(start);
  checkPermutation(shuffled, "the baseline's shuffle");
  return seconds;
}

const shoal: number[] = [];
const throwing: number[] = [];
const compacting: number[] = [];
const baseline: number[] = [];
for (let rep = -1; rep < reps; rep++) {
  const [seconds, base] = await alternate(world, rep, async () => {
    const measured = await shoalRandperm(rep + 1);
    if (pe === 0) checkPermutation(await result.get(0, n), "shoal's permutation");
    return measured;
  }, () => baselineShuffle(rep + 1));
  if (pe === 0 && rep >= 0) {
    shoal.push(seconds.total);
    throwing.push(seconds.throwing);
    compacting.push(seconds.total - seconds.throwing);
    baseline.push(base!);
  }
}

if (pe === 0) {
  const s = summarize(shoal);
  const b = summarize(baseline);
  const checked = `every repetition's result, and the baseline's, held each of 0..${n - 1} exactly once`;
  const rows: Row[] = [
    {
      benchmark: "randperm", what: `shoal dart throwing (batchCompareExchange, scan, put), ${numPes} PEs, n = ${n}, ${slotCount} slots`,
      unit: "s", ...s, ratio: s.median / b.median, ratioOf: "shoal / baseline", target: "≤ 3×", check: checked,
    },
    { benchmark: "randperm", what: "of which: throwing the darts, until all landed", unit: "s", ...summarize(throwing), check: checked },
    { benchmark: "randperm", what: "of which: compacting (count, scan, put)", unit: "s", ...summarize(compacting), check: checked },
    { benchmark: "randperm", what: `baseline: 1 thread, Fisher–Yates of ${n}`, unit: "s", ...b, check: checked },
  ];
  printRows(rows);
}
await world.barrier();
