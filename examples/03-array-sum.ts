/**
 * 03: reductions over a distributed array. Every PE fills its own part (`local`, a view of the
 * shared memory, no copy) with the global index of each element, then `sum()`, `min()` and
 * `max()` reduce the whole array: each PE reduces its own part, in parallel, for whoever asked.
 * First PE 0 asks alone (a one-sided call), then every PE asks at once; all get n(n-1)/2.
 *
 *   npx shoal run -n 4 examples/03-array-sum.ts
 */
import { init } from "shoal";

const length = 1_000_003; // a prime: the PEs' parts differ in length by one

const world = await init();
const values = await world.array("f64", length); // block distribution: each PE a contiguous range

// Local element k of this PE is global element first + k.
const first = values.globalIndex(world.pe, 0);
for (let k = 0; k < values.local.length; k++) values.local[k] = first + k;
await world.barrier(); // every part is filled before anyone reads it

const expected = (length * (length - 1)) / 2;

if (world.pe === 0) {
  const [sum, min, max] = [await values.sum(), await values.min(), await values.max()];
  console.log(`PE 0 alone: sum ${sum}, min ${min}, max ${max} (PE 0 holds ${values.local.length} of ${length} elements)`);
  if (sum !== expected || min !== 0 || max !== length - 1) throw new Error(`array-sum: expected sum ${expected}, min 0, max ${length - 1}`);
}
await world.barrier();

// Every PE may reduce at once; each gets the whole array's sum.
const sum = await values.sum();
console.log(`PE ${world.pe}: sum ${sum}`);
if (sum !== expected) throw new Error(`array-sum: PE ${world.pe} got ${sum}, expected ${expected}`);
await world.barrier();
