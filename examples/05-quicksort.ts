/**
 * 05: quicksort, APGAS style (after Crayfish's example). PE 0 sorts a seeded random Int32Array:
 * each step partitions around a pivot, sends the left part to the next PE with `world.at`, sorts
 * the right part itself, and awaits both. Below a cutoff a part is sorted locally. The other PEs
 * only serve: the activities they run spawn further activities of their own. One `world.finish`
 * around the whole sort waits for every activity of the tree, on every PE. Typed arrays travel as
 * raw bytes.
 *
 * PE 0 prints the sorted length and a checksum, and checks that the result is sorted and a
 * permutation of the input (it throws, so the job exits non-zero, when it is not).
 *
 *   npx shoal run -n 4 examples/05-quicksort.ts [--n 100000 --seed 1 --cutoff 4096 --max 0 --json --values]
 *
 * `--max M` draws the values from 0..M-1 (many duplicates) instead of the whole int32 range;
 * `--json` prints a JSON record instead of text; `--values` adds the sorted values to it.
 */
import { defineActivity, init } from "shoal";

/** Reads `--name value` from the program's arguments (a non-negative integer). */
function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isSafeInteger(value) || value < 0) throw new Error(`--${name}: expected a non-negative integer, got ${process.argv[at + 1]}`);
  return value;
}

const n = option("n", 100_000);
const seed = option("seed", 1);
const cutoff = Math.max(1, option("cutoff", 4096));
const max = option("max", 0);
const json = process.argv.includes("--json");
const printValues = process.argv.includes("--values");

/** mulberry32: a small seeded generator of 32-bit values. */
function generator(state: number): () => number {
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) | 0;
  };
}

/** The input: `length` int32 values, from the whole int32 range or from 0..max-1. */
function randomInput(length: number): Int32Array {
  const next = generator(seed);
  const values = new Int32Array(length);
  for (let i = 0; i < length; i++) values[i] = max > 0 ? (next() >>> 0) % max : next();
  return values;
}

/** An order-dependent checksum (FNV-1a over the values), so a sorted permutation has exactly one. */
function checksum(values: Int32Array): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < values.length; i++) hash = Math.imul(hash ^ values[i]!, 0x01000193);
  return hash >>> 0;
}

/**
 * Sorts `nums` (Crayfish's `quick_sort`): the left part goes to the next PE as an activity, the
 * right part is sorted here, overlapping with it.
 */
async function quickSort(nums: Int32Array): Promise<Int32Array> {
  if (nums.length <= cutoff) return nums.sort();
  const middle = nums.length >> 1;
  const pivot = nums[middle]!;
  // Put every value below the pivot into `left`, the rest (but the pivot itself) into `right`.
  const left = new Int32Array(nums.length - 1);
  const right = new Int32Array(nums.length - 1);
  let leftLength = 0;
  let rightLength = 0;
  for (let i = 0; i < nums.length; i++) {
    if (i === middle) continue;
    const value = nums[i]!;
    if (value < pivot) left[leftLength++] = value;
    else right[rightLength++] = value;
  }
  const neighbor = (world.pe + 1) % world.numPes;
  const leftHandle = world.at(neighbor, sortActivity, left.subarray(0, leftLength));
  // Yield once, so that the progress loop can send the left part before this PE spends its time
  // on the right one: the next PE sorts while this one does.
  await Promise.resolve();
  const sortedRight = await quickSort(right.subarray(0, rightLength));
  const sortedLeft = await leftHandle;
  const sorted = new Int32Array(nums.length);
  sorted.set(sortedLeft);
  sorted[sortedLeft.length] = pivot;
  sorted.set(sortedRight, sortedLeft.length + 1);
  return sorted;
}

const sortActivity = defineActivity("quicksort.sort", quickSort);

// Activities use `world`: shoal runs none on a PE before its `await init()` has returned.
const world = await init();

if (world.pe === 0) {
  const input = randomInput(n);
  const started = performance.now();
  const sorted = await world.finish(() => quickSort(input.slice()));
  const elapsedMs = performance.now() - started;

  // Check: sorted, and the same values as the input (compared with a local sort of it).
  if (sorted.length !== input.length) throw new Error(`quicksort: expected ${input.length} values, got ${sorted.length}`);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i - 1]! > sorted[i]!) throw new Error(`quicksort: not sorted at index ${i}: ${sorted[i - 1]} > ${sorted[i]}`);
  }
  const expected = input.slice().sort();
  for (let i = 0; i < expected.length; i++) {
    if (sorted[i] !== expected[i]) throw new Error(`quicksort: not a permutation of the input: index ${i} holds ${sorted[i]}, expected ${expected[i]}`);
  }

  const sum = checksum(sorted);
  if (json) {
    const record: Record<string, unknown> = { kind: "quicksort", pes: world.numPes, length: sorted.length, checksum: sum };
    if (printValues) record["values"] = Array.from(sorted);
    console.log(JSON.stringify(record));
  } else {
    console.log(`sorted ${sorted.length} values on ${world.numPes} PE${world.numPes === 1 ? "" : "s"} in ${elapsedMs.toFixed(1)} ms; checksum ${sum.toString(16).padStart(8, "0")}`);
  }
}
await world.barrier();
