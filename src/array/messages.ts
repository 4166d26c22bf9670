/**
 * The active messages of distributed arrays: creation (the consistency check, and one buffer per
 * process), element and batch operations on another PE's part, range copies, fills, partial
 * reductions, and the reduction trees of one-sided reductions across processes. (A scan's carries
 * go through the team's `exscan`.)
 *
 * Indices in these messages are local (positions in the owner's part), as a `Uint32Array`; values
 * travel as typed arrays of the dtype. Every handler works on the owner's part of its process's
 * buffer and returns at once. A PE sends them for the parts it cannot reach: those of other
 * processes, or (`SHOAL_ARRAY_OPS=am`) of every other PE.
 *
 * @module
 */
import { defineAm, markServable, type AmContext } from "../am/index.js";
import { countBins, kHistogramKernel, reductionNamed, type Scalar } from "../../kernels/index.js";
import { RegistryError } from "../errors.js";
import { kDtypes, type AnyTypedArray, type Dtype } from "./dtype.js";
import { fillAt, getAt, putAt, runOpRequest, type OpRequest } from "./far-ops.js";
import { stateOf, type ArrayState } from "./state.js";
import type { Team } from "../team/index.js";

// ------------------------------------------------------------------------------------- creation
//
// Creation is collective, and every process gets its own buffer of the array, shared by its PEs:
// 1. every PE sends `createAm` to PE 0, which waits for all of them and compares their shapes;
// 2. on a mismatch every PE gets `{ error }`; otherwise the PEs of PE 0's process get the buffer
//    PE 0 allocated (`{ buffer }`), and the PEs of other processes get `{ ok: true }`;
// 3. those then send `bufferAm` to their own process's first PE, which allocates that process's
//    buffer on the first request for the array and gives the same one to each of its PEs.
//
// Each buffer is as long as the whole array, so a PE's part lies at the same `partOffset(pe)` in
// every process. Only the pages the process's own PEs touch cost memory: Linux maps the untouched
// zero pages of a large allocation lazily.

/**
 * What each PE asks its team's rank 0 for: [array id, dtype, length, distribution, whether the
 * asking PE runs in rank 0's process (and so can share its buffer), the team's size].
 */
export type CreateRequest = [id: number, dtype: string, length: number, dist: string, withPe0: boolean, members: number];
/**
 * PE 0's buffer (to the PEs of its process); `ok` (to the others, which then ask their process's
 * first PE with {@link bufferAm}); or why the PEs disagree.
 */
export type CreateReply = { buffer: SharedArrayBuffer } | { ok: true } | { error: string };

interface Creation {
  /** Each asking PE's call, by world PE, in the order they came. */
  readonly shapes: Map<number, string>;
  arrived: number;
  readonly done: Promise<CreateReply>;
  resolve: (reply: CreateReply) => void;
}

const kCreations = new Map<number, Creation>();
const kAgreed: CreateReply = { ok: true };

function describeShape(request: CreateRequest): string {
  return `world.array("${request[1]}", ${request[2]}, { dist: "${request[3]}" })`;
}

/** A zeroed buffer for `length` elements of `dtype` (at least 8 bytes, so that views of it exist). */
function allocate(dtype: string, length: number): SharedArrayBuffer {
  return new SharedArrayBuffer(Math.max(8, length * kDtypes[dtype as Dtype].bytes));
}

/** The reply to a PE outside PE 0's process: the agreement, without the buffer. */
function withoutBuffer(reply: CreateReply): CreateReply {
  return "buffer" in reply ? kAgreed : reply;
}

/**
 * Runs on PE 0: waits until every PE has asked for array `id` and checks that they asked for the
 * same one. The PEs of PE 0's process get one shared buffer; the others get `{ ok: true }`.
 */
export const createAm = defineAm("shoal.array.create", (ctx: AmContext, request: CreateRequest): Promise<CreateReply> => {
  const id = request[0];
  let creation = kCreations.get(id);
  if (creation === undefined) {
    let resolve!: (reply: CreateReply) => void;
    const done = new Promise<CreateReply>((r) => {
      resolve = r;
    });
    creation = { shapes: new Map(), arrived: 0, done, resolve };
    kCreations.set(id, creation);
  }
  creation.shapes.set(ctx.src, describeShape(request));
  const reply = request[4] ? creation.done : creation.done.then(withoutBuffer);
  if (++creation.arrived === request[5]) {
    kCreations.delete(id);
    const pes = [...creation.shapes.keys()].sort((a, b) => a - b);
    const firstPe = pes[0]!;
    const first = creation.shapes.get(firstPe)!;
    const differing = pes.flatMap((pe) => (creation.shapes.get(pe) === first ? [] : [`PE ${pe} called ${creation.shapes.get(pe)}`]));
    if (differing.length > 0) {
      creation.resolve({ error: `PE ${firstPe} called ${first}, but ${differing.join("; ")}; array creation is collective: every PE must create the same arrays, in the same order (every member, for a team's array)` });
    } else {
      creation.resolve({ buffer: allocate(request[1], request[2]) });
    }
  }
  return reply;
});

/** What a PE asks the first member of its team in its process for: [array id, dtype, length, members of the team in the process]. */
export type BufferRequest = [id: number, dtype: string, length: number, pesPerProcess: number];

/** The buffers being handed out, by array id, with how many of the process's PEs have yet to take each. */
const kBuffers = new Map<number, { readonly buffer: SharedArrayBuffer; left: number }>();

/**
 * Runs on the first member of the array's team in a process other than rank 0's, after rank 0
 * agreed to array `id`: the process's buffer of the array, allocated on the first request and the
 * same for each of the team's PEs in the process. The entry is forgotten once every one of them
 * has taken it.
 */
export const bufferAm = defineAm("shoal.array.buffer", (_ctx: AmContext, [id, dtype, length, pesPerProcess]: BufferRequest): SharedArrayBuffer => {
  let entry = kBuffers.get(id);
  if (entry === undefined) {
    entry = { buffer: allocate(dtype, length), left: pesPerProcess };
    kBuffers.set(id, entry);
  }
  if (--entry.left === 0) kBuffers.delete(id);
  return entry.buffer;
});

// ----------------------------------------------------------------------------------- operations

export type { OpRequest } from "./far-ops.js";

/** An element or batch operation on the owner's part (see far-ops.ts). */
export const opAm = defineAm("shoal.array.op", (ctx: AmContext, request: OpRequest): unknown => {
  const state = stateOf(request[0], ctx.pe, ctx.src);
  return state instanceof Promise
    ? state.then((s) => runOpRequest(s.target, s.layout.partOffset(s.rank), request))
    : runOpRequest(state.target, state.layout.partOffset(state.rank), request);
});

/** A handler on the owner's part: `body` gets the array and the owner's rank in the array's team. */
function withState<A extends [number, ...unknown[]], R>(name: string, body: (state: ArrayState, rank: number, arg: A) => R) {
  return defineAm(name, (ctx: AmContext, arg: A): R | Promise<R> => {
    const state = stateOf(arg[0], ctx.pe, ctx.src);
    return state instanceof Promise ? state.then((s) => body(s, s.rank, arg)) : body(state, state.rank, arg);
  });
}

/** Copies `count` elements of the owner's part from local index `start`. */
export const getAm = withState("shoal.array.get", (state, pe, [, start, count]: [number, number, number]) =>
  getAt(state.target, state.layout.partOffset(pe) + start, count));

/** Writes `values` to the owner's part from local index `start`. */
export const putAm = withState("shoal.array.put", (state, pe, [, start, values]: [number, number, AnyTypedArray]) => {
  putAt(state.target, state.layout.partOffset(pe) + start, values);
});

/** Sets every element of the owner's part to `value`. */
export const fillAm = withState("shoal.array.fill", (state, pe, [, value]: [number, Scalar]) => {
  fillAt(state.target, state.layout.partOffset(pe), state.layout.localLength(pe), value);
});

// The far operations: another process's IO worker answers them (far-ops.ts), so their frames skip
// the direct lanes between processes and do not wake the owner PE.
for (const am of [opAm, getAm, putAm, fillAm]) markServable(am);

/** The histogram of the owner's part: [array id, kernel name, lo, hi, bins] → the counts. */
export const histogramAm = withState("shoal.array.histogram",
  (state, rank, [, name, lo, hi, bins]: [number, string, number, number, number]) => partHistogram(state, rank, name, lo, hi, bins));

/** The counts of PE `rank`'s part of `state` in `bins` bins over `[lo, hi]`, by the kernel named `name`. @internal */
export function partHistogram(state: ArrayState, rank: number, name: string, lo: number, hi: number, bins: number): Float64Array {
  if (name !== kHistogramKernel) throw new RegistryError(`histogram on PE ${state.team.worldPe(rank)}: no kernel named "${name}"`);
  const counts = new Float64Array(bins);
  const start = state.layout.partOffset(rank);
  countBins(state.target.data, start, start + state.layout.localLength(rank), lo, hi, counts);
  return counts;
}

/** The reduction of the owner's part with the operator named `name`, or undefined for an empty part. */
export const partialAm = withState("shoal.array.partial", (state, pe, [, name]: [number, string]) => partial(state, pe, name));

/** The reduction of PE `pe`'s part of `state` with the operator named `name`; undefined when empty. @internal */
export function partial(state: ArrayState, pe: number, name: string): Scalar | undefined {
  const length = state.layout.localLength(pe);
  if (length === 0) return undefined;
  const kernel = reductionNamed(name, `reduce on PE ${pe}`).kernel(state.info);
  const start = state.layout.partOffset(pe);
  return kernel.reduce(state.target.data, start, start + length, kernel.identity);
}

// ---------------------------------------------------------------------------- reduction trees
//
// A one-sided reduction (`reduce`, `sum`, …) follows the machine like the collectives do
// (collectives/plan.ts): the caller asks one leader per module, each asks one leader per node of
// its module (SHOAL_HIER=2), each asks one leader per process, and a process's leader reduces every
// part its process holds straight from the shared buffer. A leader handles its own group itself.
// The caller uses it only where every group at every level is a run of consecutive ranks (true of
// the world team), so that combining the groups in order combines the parts in rank order.

/** The levels of a tree: "module", then "node" (SHOAL_HIER=2), then "process". */
export type TreeLevel = "module" | "node" | "process";

/** The key of team rank `rank` at `level`: ranks with the same key are in the same group. */
function keyAt(team: Team, level: TreeLevel, rank: number): string {
  const topology = team.topology;
  const pe = team.worldPe(rank);
  switch (level) {
    case "module": return String(topology.moduleOf(pe));
    case "node": return `${topology.moduleOf(pe)}/${topology.nodeOf(pe)}`;
    case "process": return String(topology.processOf(pe));
  }
}

/** `ranks` (ascending) split into the groups of `level`, in order of their first rank. */
export function groupsAt(team: Team, level: TreeLevel, ranks: readonly number[]): number[][] {
  const groups = new Map<string, number[]>();
  for (const rank of ranks) {
    const key = keyAt(team, level, rank);
    let group = groups.get(key);
    if (group === undefined) groups.set(key, (group = []));
    group.push(rank);
  }
  return [...groups.values()];
}

/** Whether every group of every level is a run of consecutive ranks, so the tree combines in rank order. */
export function treeKeepsOrder(team: Team, levels: readonly TreeLevel[]): boolean {
  const check = (ranks: readonly number[], depth: number): boolean => {
    if (depth === levels.length) return true;
    for (const group of groupsAt(team, levels[depth]!, ranks)) {
      if (group[group.length - 1]! - group[0]! !== group.length - 1) return false;
      if (!check(group, depth + 1)) return false;
    }
    return true;
  };
  return check(Array.from({ length: team.numPes }, (_, r) => r), 0);
}

/**
 * The reduction with operator `name` of the parts of `ranks` (one group of the level above
 * `levels[depth]`, whose leader this PE is), in rank order; undefined when they are all empty.
 */
export async function reduceTree(state: ArrayState, name: string, levels: readonly TreeLevel[], depth: number, ranks: readonly number[]): Promise<Scalar | undefined> {
  const kernel = reductionNamed(name, `reduce on PE ${state.team.worldPe(state.rank)}`).kernel(state.info);
  if (depth === levels.length) {
    // Every rank here is in this PE's process: each member reduces its own part (at once, on its
    // own thread), this PE its own meanwhile.
    const calls = ranks.map((rank) => (rank === state.rank || state.layout.localLength(rank) === 0
      ? undefined
      : state.team.exec(rank, partialAm, [state.id, name])));
    state.team.flush();
    const own = ranks.includes(state.rank) ? partial(state, state.rank, name) : undefined;
    let acc: Scalar | undefined;
    for (let k = 0; k < ranks.length; k++) {
      const value = ranks[k] === state.rank ? own : await calls[k];
      if (value !== undefined) acc = acc === undefined ? value : kernel.combine(acc, value);
    }
    return acc;
  }
  const groups = groupsAt(state.team, levels[depth]!, ranks);
  const results = groups.map((group) => (group.includes(state.rank)
    ? reduceTree(state, name, levels, depth + 1, group)
    : state.team.exec(group[0]!, reduceTreeAm, [state.id, name, levels as TreeLevel[], depth + 1, group])));
  state.team.flush();
  let acc: Scalar | undefined;
  for (const value of await Promise.all(results)) {
    if (value !== undefined) acc = acc === undefined ? value : kernel.combine(acc, value);
  }
  return acc;
}

/** A leader's share of a reduction tree: [array id, operator name, the levels, the level to split by next, the group's ranks]. */
export const reduceTreeAm = withState("shoal.array.reduceTree",
  (state, _rank, [, name, levels, depth, ranks]: [number, string, TreeLevel[], number, number[]]) => reduceTree(state, name, levels, depth, ranks));
