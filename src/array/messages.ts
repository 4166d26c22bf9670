/**
 * The active messages of distributed arrays: creation (the consistency check, and one buffer per
 * process), element and batch operations on another PE's part, range copies, fills, partial
 * reductions, and the carries of a scan.
 *
 * Indices in these messages are local (positions in the owner's part), as a `Uint32Array`; values
 * travel as typed arrays of the dtype. Every handler works on the owner's part of its process's
 * buffer and returns at once. A PE sends them for the parts it cannot reach: those of other
 * processes, or (`SHOAL_ARRAY_OPS=am`) of every other PE.
 *
 * @module
 */
import { defineAm, type AmContext } from "../am/index.js";
import { reductionNamed, type Scalar } from "../../kernels/index.js";
import { kDtypes, type AnyTypedArray, type Dtype } from "./dtype.js";
import { fillAt, getAt, putAt, runOpRequest, type OpRequest } from "./far-ops.js";
import { stateOf, type ArrayState } from "./state.js";

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
 * What each PE asks PE 0 for: [array id, dtype, length, distribution, whether the asking PE runs
 * in PE 0's process (and so can share its buffer)].
 */
export type CreateRequest = [id: number, dtype: string, length: number, dist: string, withPe0: boolean];
/**
 * PE 0's buffer (to the PEs of its process); `ok` (to the others, which then ask their process's
 * first PE with {@link bufferAm}); or why the PEs disagree.
 */
export type CreateReply = { buffer: SharedArrayBuffer } | { ok: true } | { error: string };

interface Creation {
  readonly shapes: string[];
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
    creation = { shapes: new Array<string>(ctx.numPes), arrived: 0, done, resolve };
    kCreations.set(id, creation);
  }
  creation.shapes[ctx.src] = describeShape(request);
  const reply = request[4] ? creation.done : creation.done.then(withoutBuffer);
  if (++creation.arrived === ctx.numPes) {
    kCreations.delete(id);
    const first = creation.shapes[0]!;
    const differing = creation.shapes.flatMap((shape, pe) => (shape === first ? [] : [`PE ${pe} called ${shape}`]));
    if (differing.length > 0) {
      creation.resolve({ error: `PE 0 called ${first}, but ${differing.join("; ")}; array creation is collective: every PE must create the same arrays, in the same order` });
    } else {
      creation.resolve({ buffer: allocate(request[1], request[2]) });
    }
  }
  return reply;
});

/** What a PE asks its process's first PE for: [array id, dtype, length, PEs per process]. */
export type BufferRequest = [id: number, dtype: string, length: number, pesPerProcess: number];

/** The buffers being handed out, by array id, with how many of the process's PEs have yet to take each. */
const kBuffers = new Map<number, { readonly buffer: SharedArrayBuffer; left: number }>();

/**
 * Runs on the first PE of a process other than PE 0's, after PE 0 agreed to array `id`: the
 * process's buffer of the array, allocated on the first request and the same for each of the
 * process's PEs. The entry is forgotten once every one of them has taken it.
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
    ? state.then((s) => runOpRequest(s.target, s.layout.partOffset(ctx.pe), request))
    : runOpRequest(state.target, state.layout.partOffset(ctx.pe), request);
});

function withState<A extends [number, ...unknown[]], R>(name: string, body: (state: ArrayState, pe: number, arg: A) => R) {
  return defineAm(name, (ctx: AmContext, arg: A): R | Promise<R> => {
    const state = stateOf(arg[0], ctx.pe, ctx.src);
    return state instanceof Promise ? state.then((s) => body(s, ctx.pe, arg)) : body(state, ctx.pe, arg);
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

// ---------------------------------------------------------------------------------------- scans

interface Carries {
  readonly totals: (Scalar | undefined)[];
  arrived: number;
  expected: number;
  resume: (() => void) | undefined;
}

const kCarries = new Map<number, Carries>();

function carriesOf(key: number): Carries {
  let carries = kCarries.get(key);
  if (carries === undefined) {
    carries = { totals: [], arrived: 0, expected: -1, resume: undefined };
    kCarries.set(key, carries);
  }
  return carries;
}

/** A lower PE's chunk total for the scan writing array `key`: [key, from PE, total or undefined]. */
export const scanTotalAm = defineAm("shoal.array.scanTotal", (_ctx: AmContext, [key, from, total]: [number, number, Scalar | undefined]) => {
  const carries = carriesOf(key);
  carries.totals[from] = total;
  carries.arrived++;
  if (carries.arrived === carries.expected) carries.resume?.();
});

/** Waits for the totals of the `count` PEs below this one in the scan writing array `key`. @internal */
export async function totalsBelow(key: number, count: number): Promise<(Scalar | undefined)[]> {
  const carries = carriesOf(key);
  carries.expected = count;
  if (carries.arrived < count) {
    await new Promise<void>((resolve) => {
      carries.resume = resolve;
    });
  }
  kCarries.delete(key);
  return carries.totals;
}
