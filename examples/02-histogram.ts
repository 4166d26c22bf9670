/**
 * 02: a histogram on a distributed array (bale's `histo`). `world.array` creates a table spread
 * over every PE; each PE draws seeded random indices and adds 1 at each of them with one
 * `batchAdd` call (every update is atomic, wherever its element lives). After a barrier every
 * PE's updates are in, and PE 0 sums the table: the total must be the number of updates.
 *
 *   npx shoal run -n 4 examples/02-histogram.ts
 */
import { init } from "shoal";

const updatesPerPe = 100_000;

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

// Collective: every PE creates the same array. "cyclic" deals element i to PE i % numPes.
const table = await world.array("u32", 1 << 20, { dist: "cyclic" });

// Each PE its own seeded stream of indices.
const next = generator(world.pe + 1);
const indices = new Uint32Array(updatesPerPe);
for (let k = 0; k < indices.length; k++) indices[k] = next() % table.length;

await table.batchAdd(indices, 1);
await world.barrier();

if (world.pe === 0) {
  const total = await table.sum();
  const expected = updatesPerPe * world.numPes;
  console.log(`${world.numPes} PE${world.numPes === 1 ? "" : "s"} added 1 at ${expected} random places of a ${table.length}-element table; it sums to ${total}`);
  if (total !== expected) throw new Error(`histogram: the table sums to ${total}, expected ${expected}: updates were lost`);
}
await world.barrier();
