/**
 * 06: teams and collectives. The PEs form a grid of rows of 2; each row is a team:
 * 1. `world.split(row, column)` makes the row teams (MPI_Comm_split: by color, ranked by key);
 * 2. each row sums its members' vectors with `allreduce`, and numbers its items with `exscan`
 *    (where each member's items start within the row);
 * 3. the row leaders (column 0) form a strided team of their own and `allreduce` the row sums;
 *    the grand total goes back to every member of each row with `broadcast`;
 * 4. a distributed array on the row team holds each row's items (`world.array(..., { team })`);
 * 5. PE 0 prints the plan an 8-byte allreduce follows on the world (`explain`).
 * Every PE checks what it got against a sum it computes itself.
 *
 *   npx shoal run -n 4 examples/06-teams.ts
 *   npx shoal run -n 8 --procs 4 --modules 2 examples/06-teams.ts   # processes and modules too
 */
import { init } from "shoal";

const world = await init();
const columns = 2;
const row = Math.floor(world.pe / columns);
const rows = Math.ceil(world.numPes / columns);

const team = (await world.split(row, world.pe % columns))!;
const mine = Float64Array.from([world.pe, 1]); // [this PE's number, one]
const rowSum = await team.allreduce(mine, "sum");
const items = world.pe + 1; // PE p has p + 1 items
const firstItem = await team.exscan(items, "sum");

// The row leaders: PEs 0, columns, 2·columns, … (rank 0 of each row).
const leaders = await world.team({ start: 0, stride: columns, size: rows });
let total = leaders === undefined ? undefined : await leaders.allreduce(rowSum, "sum");
total = await team.broadcast(total, 0);

// Each row's items, in a distributed array that only the row's members hold.
const rowItems = team.members().reduce((n, pe) => n + pe + 1, 0);
const array = await world.array("u32", rowItems, { team });
await array.put(firstItem, new Uint32Array(items).fill(world.pe));
await team.barrier();
const counted = await array.sum();

// Check against sums computed here.
const members = team.members();
const expectedRow = [members.reduce((a, pe) => a + pe, 0), members.length];
const expectedTotal = [(world.numPes * (world.numPes - 1)) / 2, world.numPes];
const expectedFirst = members.filter((pe) => pe < world.pe).reduce((a, pe) => a + pe + 1, 0);
const expectedCount = members.reduce((a, pe) => a + pe * (pe + 1), 0);
const ok = rowSum[0] === expectedRow[0] && rowSum[1] === expectedRow[1] && total[0] === expectedTotal[0] &&
  total[1] === expectedTotal[1] && firstItem === expectedFirst && counted === expectedCount;
if (!ok) throw new Error(`PE ${world.pe}: row ${Array.from(rowSum)}, total ${Array.from(total)}, first item ${firstItem}, counted ${counted}`);

console.log(`PE ${world.pe}: row ${row} (rank ${team.pe} of ${team.numPes}) sums [${Array.from(rowSum)}], whole job [${Array.from(total)}]; my items start at ${firstItem} of the row's ${rowItems}`);
await world.barrier();
if (world.pe === 0) console.log(world.explain("allreduce", 8));
