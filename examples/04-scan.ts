/**
 * 04: a counting sort with an exclusive scan. Every PE holds seeded random keys in 0..K-1:
 * 1. the PEs count every PE's keys into a distributed `counts` array (`batchAdd`);
 * 2. an exclusive scan of the counts gives, for each key, the number of smaller keys: where that
 *    key's run starts in the sorted output (`scan` is collective and returns a new array);
 * 3. each PE claims one slot per key with `batchFetchAdd(keys, 1)` on those offsets (atomic, so
 *    every claim gets a distinct slot, across PEs too) and stores its keys there (`batchStore`).
 * PE 0 gathers the output with `get` and checks it is sorted and holds each key `counts` times.
 *
 *   npx shoal run -n 4 examples/04-scan.ts
 */
import { init } from "shoal";

const keysPerPe = 10_000;
const keyRange = 1000;

/** mulberry32: a small seeded generator of 32-bit unsigned values. */
function generator(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

const world = await init();
const next = generator(world.pe + 1);
const keys = new Uint32Array(keysPerPe);
for (let k = 0; k < keys.length; k++) keys[k] = next() % keyRange;

// 1. Count.
const counts = await world.array("u32", keyRange);
await counts.batchAdd(keys, 1);
await world.barrier(); // every PE's counts are in before the scan reads them

// 2. offsets[key] = the number of keys (of every PE) below key.
const offsets = await counts.scan("sum", { exclusive: true });

// 3. Place: each key takes the next free slot of its run.
const sorted = await world.array("u32", keysPerPe * world.numPes);
const slots = await offsets.batchFetchAdd(keys, 1);
await sorted.batchStore(slots, keys);
await world.barrier();

if (world.pe === 0) {
  const all = await sorted.get(0, sorted.length);
  const expected = await counts.get(0, keyRange);
  const seen = new Uint32Array(keyRange);
  for (let i = 0; i < all.length; i++) {
    if (i > 0 && all[i - 1]! > all[i]!) throw new Error(`scan: the output is not sorted at ${i}: ${all[i - 1]} > ${all[i]}`);
    seen[all[i]!]!++;
  }
  for (let key = 0; key < keyRange; key++) {
    if (seen[key] !== expected[key]) throw new Error(`scan: key ${key} appears ${seen[key]} times, counted ${expected[key]}`);
  }
  console.log(`sorted ${all.length} keys from ${world.numPes} PE${world.numPes === 1 ? "" : "s"} by counting: first ${all.slice(0, 5).join(", ")}, last ${all.slice(-5).join(", ")}`);
}
await world.barrier();
