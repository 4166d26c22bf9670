/**
 * `DistArray`: a typed array spread over the PEs of a team, with atomic element and batch
 * operations, range copies, reductions, scans, and views.
 *
 * Where an operation runs: each process has its own buffer of the array, shared by its PEs (worker
 * threads), and holding their parts; the parts of other processes' PEs are not in it. A part is
 * *near* when the calling PE can reach it in that buffer: its own part, and with
 * `SHOAL_ARRAY_OPS=direct` (the default) the part of any PE of its process. An operation on a near
 * part is applied by the calling PE itself, with `Atomics`, without waking the owner. An operation
 * on a far part (another process's PE, or any other PE with `SHOAL_ARRAY_OPS=am`) goes to the
 * owner as an active message: a batch is split by owner and sent as one message per owner,
 * indices and values as typed arrays, and the owner applies it. In a one-process job with direct
 * operations every part is near, and operations skip the split by owner altogether.
 *
 * @module
 */
import type { Vector } from "apache-arrow";
import ndarray from "ndarray";

import { kHistogramKernel, reductionNamed, sum as sumOp, prod as prodOp, min as minOp, max as maxOp, type Reduction, type Scalar } from "../../kernels/index.js";
import { handOverArray, releaseHandOver } from "../am/index.js";
import { ShoalRangeError, ShoalTypeError, StateError, describeValue } from "../errors.js";
import type { Team } from "../team/index.js";
import { article, checkIndex, checkRange, checkValue, checkValues, gather, isList, resolveIndices } from "./check.js";
import { kDtypes, type AnyTypedArray, type Dtype, type DtypeInfo, type ElementOf, type TypedArrayOf } from "./dtype.js";
import { Layout, type Distribution } from "./layout.js";
import { copyFromVector, dtypeOfVector, vectorOf } from "./arrow.js";
import {
  bufferAm, createAm, fillAm, getAm, histogramAm, opAm, partHistogram, partial, partialAm, putAm, reduceTree, treeKeepsOrder, type OpRequest, type TreeLevel,
} from "./messages.js";
import { Op, applyOp, isBitwise, type OpCode, type OpRun } from "./ops.js";
import { ArrayState, forgetState, nextArrayId, registerState } from "./state.js";

/**
 * Options of `world.array`.
 *
 * @example
 * ```ts
 * const options: ArrayOptions = { dist: "cyclic" };
 * const a = await world.array("u32", 1 << 20, options);
 * ```
 */
export interface ArrayOptions {
  /** How elements are spread over the PEs (default `"block"`). */
  readonly dist?: Distribution;
  /**
   * The team whose members hold the array (default: the world): its ranks own the parts, and
   * only its members call `world.array` for it.
   */
  readonly team?: Team;
}

/**
 * Options of {@link DistArray.scan}.
 *
 * @example
 * ```ts
 * const starts = await counts.scan("sum", { exclusive: true });
 * ```
 */
export interface ScanOptions {
  /** Element k is the reduction of the elements before k (the first is the identity). Default false. */
  readonly exclusive?: boolean;
}

/**
 * Options of {@link DistArray.map}.
 *
 * @example
 * ```ts
 * const asFloats = await ints.map((x) => x / 3, { dtype: "f64" });
 * ```
 */
export interface MapOptions<E extends Dtype> {
  /** The dtype of the new array (default: the same as this one's). */
  readonly dtype?: E;
}

/**
 * Options of {@link DistArray.toArrow}.
 *
 * @example
 * ```ts
 * const mine = await a.toArrow({ local: true });
 * ```
 */
export interface ToArrowOptions {
  /** Only this PE's part, without a copy (default false: the whole array). */
  readonly local?: boolean;
}

/**
 * Options of {@link DistArray.fromArrow}.
 *
 * @example
 * ```ts
 * const a = await DistArray.fromArrow(vector, { world, dist: "block" });
 * ```
 */
export interface FromArrowOptions extends ArrayOptions {
  /** The world (or team) the array is created on. */
  readonly world: Team;
}

/**
 * A list of global indices: a plain array of numbers or a typed array.
 *
 * @example
 * ```ts
 * const indices: Indices = new Uint32Array([3, 1, 4]);
 * await a.batchAdd(indices, 1);
 * ```
 */
export type Indices = ArrayLike<number>;

/**
 * A list of element values: numbers (bigints for 64-bit dtypes), plain or typed.
 *
 * @example
 * ```ts
 * const values: Values<"i64"> = [1n, 2n, 3n];
 * await big.batchStore([0, 1, 2], values);
 * ```
 */
export type Values<D extends Dtype> = ArrayLike<ElementOf<D>>;

/**
 * A reduction operator, or the name it was registered under.
 *
 * @example
 * ```ts
 * const op: ReductionLike = "max"; // or the object defineReduction returned
 * const largest = await a.reduce(op);
 * ```
 */
export type ReductionLike = Reduction | string;

const kDistributions: readonly string[] = ["block", "cyclic"];

/** The reusable arguments of the kernel runs of this thread (kernels run synchronously). */
const kRun: OpRun = {
  op: Op.load, positions: new Uint32Array(1), offset: 0, n: 0, values: undefined, scalar: 0,
  expected: undefined, expectedScalar: 0, out: undefined,
};
let scratchPositions = new Uint32Array(1024);

function positionsFor(n: number): Uint32Array {
  if (scratchPositions.length < n) scratchPositions = new Uint32Array(Math.max(n, scratchPositions.length * 2));
  return scratchPositions;
}

/**
 * A typed array spread over every PE: each PE owns a part (`local`), and any PE can read and update
 * any element. Create one with `world.array(dtype, length, options)`.
 *
 * Operations on elements are one-sided: one PE calls them, and each is atomic per element. Calls
 * marked "Collective" must be made by every PE. Bad input (an index out of range, a value of the
 * wrong kind) rejects the call's promise with a typed error before anything is applied or sent.
 *
 * @example
 * ```ts
 * const world = await init();
 * const table = await world.array("u32", 1 << 20, { dist: "cyclic" });  // Collective
 * await table.batchAdd(indices, 1);                                      // a histogram
 * await world.barrier();
 * if (world.pe === 0) console.log(await table.sum());
 * ```
 */
export class DistArray<D extends Dtype = Dtype> {
  /** The element type. */
  readonly dtype: D;
  /** The number of elements, over all PEs. */
  readonly length: number;
  /** How the elements are spread over the PEs. */
  readonly dist: Distribution;
  /**
   * This PE's part: a typed array on its process's shared buffer of the array, not a copy. Element
   * `k` is the global element `globalIndex(pe, k)`. Writes to it are plain (not atomic) writes.
   *
   * @example
   * ```ts
   * const a = await world.array("f64", 1000);
   * a.local.fill(world.pe); // every PE sets its own elements
   * await world.barrier();
   * ```
   */
  readonly local: TypedArrayOf<D>;
  readonly #team: Team;
  readonly #state: ArrayState;
  readonly #layout: Layout;
  readonly #info: DtypeInfo;
  readonly #pe: number;
  /** Whether every part is near (one process, direct operations): no split by owner is needed. */
  readonly #allNear: boolean;
  /**
   * The near ranks (`#near[rank] === 1`): the team's members in this PE's process with direct
   * operations, else this PE alone; the first and last of them, and whether they are consecutive
   * (their parts then lie one after another in this process's buffer).
   */
  readonly #near: Uint8Array;
  readonly #nearFirst: number;
  readonly #nearLast: number;
  readonly #nearRun: boolean;
  /** The reduction tree's levels, once computed (null: not yet). */
  #tree: readonly TreeLevel[] | undefined | null = null;
  /** The result array the running batch writes to, when its caller gave one. */
  #into: AnyTypedArray | undefined;

  /** @internal Use `world.array`. */
  constructor(team: Team, state: ArrayState) {
    this.#team = team;
    this.#state = state;
    this.#layout = state.layout;
    this.#info = state.info;
    this.#pe = team.pe;
    const direct = team.config.arrayOps === "direct";
    const local = direct ? localRanks(team) : [team.pe];
    this.#allNear = direct && local.length === team.numPes;
    this.#near = new Uint8Array(team.numPes);
    for (const rank of local) this.#near[rank] = 1;
    // The world's near ranks are consecutive; a sub-team's need not be (a split with keys).
    this.#nearFirst = local[0]!;
    this.#nearLast = local[local.length - 1]!;
    this.#nearRun = this.#nearLast - this.#nearFirst + 1 === local.length;
    this.dtype = state.info.name as D;
    this.length = state.layout.length;
    this.dist = state.layout.dist;
    this.local = new state.info.Array(state.buffer, state.layout.partOffset(team.pe) * state.info.bytes, state.layout.localLength(team.pe)) as TypedArrayOf<D>;
  }

  /**
   * Collective: creates an array on every PE of `team`. Use `world.array`.
   * @internal
   */
  static async create<D extends Dtype>(team: Team, dtype: D, length: number, options: ArrayOptions = {}): Promise<DistArray<D>> {
    const what = "world.array";
    if (typeof dtype !== "string" || !Object.hasOwn(kDtypes, dtype)) {
      throw new ShoalTypeError(`${what}: expected a dtype (${Object.keys(kDtypes).join(", ")}), got ${describeValue(dtype)}`);
    }
    if (typeof length !== "number" || !Number.isInteger(length)) {
      throw new ShoalTypeError(`${what}: expected a length that is an integer of at least 0, got ${describeValue(length)}`);
    }
    if (!Number.isSafeInteger(length) || length < 0) {
      throw new ShoalRangeError(`${what}: expected a length that is an integer of at least 0, got ${length}`);
    }
    if (typeof options !== "object" || options === null) {
      throw new ShoalTypeError(`${what}: expected options { dist: "block" | "cyclic" }, got ${describeValue(options)}`);
    }
    const dist = options.dist ?? "block";
    if (!kDistributions.includes(dist)) {
      throw new ShoalTypeError(`${what}: expected dist "block" or "cyclic", got ${describeValue(dist)}`);
    }
    const info = kDtypes[dtype];
    const layout = new Layout(length, team.numPes, dist);
    // Positions in the buffer are Uint32; a typed array cannot be longer anyway.
    if (length > 2 ** 32 - 1 || length * info.bytes > 2 ** 53) {
      throw new ShoalRangeError(`${what}: ${length} elements of ${dtype} do not fit in one process's memory (at most ${2 ** 32 - 1} elements)`);
    }
    const world = team.teamId === 0;
    const id = world ? nextArrayId() : teamArrayId(team);
    // Rank 0 checks that every member asked for the same array; then each process gets its own
    // buffer (see messages.ts): rank 0's process from rank 0, the others' from their first member.
    const reply = await team.exec(0, createAm, [id, dtype, length, dist, team.processOf(0) === team.process, team.numPes]);
    if ("error" in reply) throw new ShoalRangeError(`${what}: ${reply.error}`);
    let buffer: SharedArrayBuffer;
    if ("buffer" in reply) {
      buffer = reply.buffer;
    } else {
      const local = localRanks(team);
      buffer = await team.exec(local[0]!, bufferAm, [id, dtype, length, local.length]);
    }
    const state = new ArrayState(id, layout, info, buffer, team);
    registerState(state);
    return new DistArray<D>(team, state);
  }

  /**
   * The team whose members hold the array: the world, or the team given to `world.array`. Its
   * ranks own the parts, and its members make the array's collective calls.
   *
   * @example
   * ```ts
   * const a = await world.array("f64", 1024, { team: row });
   * await a.team.barrier(); // the members of row, not the world
   * ```
   */
  get team(): Team {
    return this.#team;
  }

  // ------------------------------------------------------------------------------- index math

  /**
   * The PE that owns global index `index`.
   *
   * @example
   * ```ts
   * const a = await world.array("i32", 10, { dist: "cyclic" });
   * a.ownerOf(7); // 7 % numPes
   * ```
   */
  ownerOf(index: number): number {
    return this.#layout.ownerOf(checkIndex("ownerOf", index, this.length));
  }

  /**
   * The position of global index `index` in its owner's part (`local`).
   *
   * @example
   * ```ts
   * const pe = a.ownerOf(7), k = a.localIndex(7); // on PE pe, a.local[k] is element 7
   * ```
   */
  localIndex(index: number): number {
    return this.#layout.localIndex(checkIndex("localIndex", index, this.length));
  }

  /**
   * The global index of element `localIndex` of PE `pe`'s part.
   *
   * @example
   * ```ts
   * a.local.forEach((value, k) => console.log(a.globalIndex(world.pe, k), value));
   * ```
   */
  globalIndex(pe: number, localIndex: number): number {
    this.#checkPe("globalIndex", pe);
    checkRange("globalIndex", "localIndex", localIndex, Math.max(0, this.#layout.localLength(pe) - 1));
    if (localIndex >= this.#layout.localLength(pe)) {
      throw new ShoalRangeError(`globalIndex: PE ${pe} owns no element of this array (its part is empty)`);
    }
    return this.#layout.globalIndex(pe, localIndex);
  }

  /**
   * The number of elements PE `pe` owns (default: this PE).
   *
   * @example
   * ```ts
   * const mine = a.localLength(); // === a.local.length
   * ```
   */
  localLength(pe: number = this.#pe): number {
    this.#checkPe("localLength", pe);
    return this.#layout.localLength(pe);
  }

  #checkPe(what: string, pe: unknown): void {
    if (typeof pe !== "number" || !Number.isInteger(pe) || pe < 0 || pe >= this.#layout.numPes) {
      throw new ShoalRangeError(`${what}: expected a PE in 0..${this.#layout.numPes - 1}, got ${describeValue(pe)}`);
    }
  }

  // --------------------------------------------------------------------------- element operations

  /**
   * Reads element `index`.
   *
   * @example
   * ```ts
   * const first = await a.load(0);
   * ```
   */
  load(index: number): Promise<ElementOf<D>> {
    return this.#one("load", Op.load, true, index, undefined, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Writes `value` to element `index`.
   *
   * @example
   * ```ts
   * await a.store(0, 42);
   * ```
   */
  store(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("store", Op.store, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Writes `value` to element `index` and resolves to the value it replaced.
   *
   * @example
   * ```ts
   * const before = await a.swap(0, 7);
   * ```
   */
  swap(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("swap", Op.swap, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Adds `value` to element `index` (integers wrap around like the typed array).
   *
   * @example
   * ```ts
   * await counts.add(bucket, 1);
   * ```
   */
  add(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("add", Op.add, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Adds `value` to element `index` and resolves to the value before: each caller gets a distinct
   * ticket when all add 1.
   *
   * @example
   * ```ts
   * const ticket = await counter.fetchAdd(0, 1);
   * ```
   */
  fetchAdd(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchAdd", Op.add, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Subtracts `value` from element `index`.
   *
   * @example
   * ```ts
   * await stock.sub(item, 1);
   * ```
   */
  sub(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("sub", Op.sub, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Subtracts `value` from element `index` and resolves to the value before.
   *
   * @example
   * ```ts
   * const before = await stock.fetchSub(item, 1);
   * ```
   */
  fetchSub(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchSub", Op.sub, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Multiplies element `index` by `value` (integers wrap around).
   *
   * @example
   * ```ts
   * await a.mul(3, 2);
   * ```
   */
  mul(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("mul", Op.mul, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Multiplies element `index` by `value` and resolves to the value before.
   *
   * @example
   * ```ts
   * const before = await a.fetchMul(3, 2);
   * ```
   */
  fetchMul(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchMul", Op.mul, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Divides element `index` by `value` (integers: truncated toward zero; dividing by 0 is refused).
   *
   * @example
   * ```ts
   * await a.div(3, 2);
   * ```
   */
  div(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("div", Op.div, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Divides element `index` by `value` and resolves to the value before.
   *
   * @example
   * ```ts
   * const before = await a.fetchDiv(3, 2);
   * ```
   */
  fetchDiv(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchDiv", Op.div, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Sets element `index` to the smaller of itself and `value`.
   *
   * @example
   * ```ts
   * await best.min(0, candidate);
   * ```
   */
  min(index: number, value: ElementOf<D>): Promise<void>;
  /**
   * The smallest element over every PE (one-sided; see {@link reduce}).
   *
   * @example
   * ```ts
   * const smallest = await a.min();
   * ```
   */
  min(): Promise<ElementOf<D>>;
  min(...args: [index?: number, value?: ElementOf<D>]): Promise<unknown> {
    if (args.length === 0) return this.reduce(minOp);
    const [index, value] = args;
    return this.#one("min", Op.min, false, index, value, undefined);
  }

  /**
   * Sets element `index` to the smaller of itself and `value`, and resolves to the value before.
   *
   * @example
   * ```ts
   * const before = await best.fetchMin(0, candidate);
   * ```
   */
  fetchMin(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchMin", Op.min, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Sets element `index` to the larger of itself and `value`.
   *
   * @example
   * ```ts
   * await best.max(0, candidate);
   * ```
   */
  max(index: number, value: ElementOf<D>): Promise<void>;
  /**
   * The largest element over every PE (one-sided; see {@link reduce}).
   *
   * @example
   * ```ts
   * const largest = await a.max();
   * ```
   */
  max(): Promise<ElementOf<D>>;
  max(...args: [index?: number, value?: ElementOf<D>]): Promise<unknown> {
    if (args.length === 0) return this.reduce(maxOp);
    const [index, value] = args;
    return this.#one("max", Op.max, false, index, value, undefined);
  }

  /**
   * Sets element `index` to the larger of itself and `value`, and resolves to the value before.
   *
   * @example
   * ```ts
   * const before = await best.fetchMax(0, candidate);
   * ```
   */
  fetchMax(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchMax", Op.max, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Bitwise AND of element `index` with `value` (integer arrays).
   *
   * @example
   * ```ts
   * await flags.bitAnd(0, ~4);
   * ```
   */
  bitAnd(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("bitAnd", Op.bitAnd, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Bitwise AND of element `index` with `value`, resolving to the value before.
   *
   * @example
   * ```ts
   * const before = await flags.fetchBitAnd(0, ~4);
   * ```
   */
  fetchBitAnd(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchBitAnd", Op.bitAnd, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Bitwise OR of element `index` with `value` (integer arrays).
   *
   * @example
   * ```ts
   * await flags.bitOr(0, 4);
   * ```
   */
  bitOr(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("bitOr", Op.bitOr, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Bitwise OR of element `index` with `value`, resolving to the value before.
   *
   * @example
   * ```ts
   * const wasSet = ((await flags.fetchBitOr(0, 4)) & 4) !== 0;
   * ```
   */
  fetchBitOr(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchBitOr", Op.bitOr, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Bitwise XOR of element `index` with `value` (integer arrays).
   *
   * @example
   * ```ts
   * await flags.bitXor(0, 1);
   * ```
   */
  bitXor(index: number, value: ElementOf<D>): Promise<void> {
    return this.#one("bitXor", Op.bitXor, false, index, value, undefined) as Promise<void>;
  }

  /**
   * Bitwise XOR of element `index` with `value`, resolving to the value before.
   *
   * @example
   * ```ts
   * const before = await flags.fetchBitXor(0, 1);
   * ```
   */
  fetchBitXor(index: number, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("fetchBitXor", Op.bitXor, true, index, value, undefined) as Promise<ElementOf<D>>;
  }

  /**
   * Writes `value` to element `index` if it equals `expected`, and resolves to the element's value
   * before the call: the exchange happened exactly when that equals `expected`. Floats compare as
   * values (0 equals -0; NaN equals nothing).
   *
   * @example
   * ```ts
   * const won = (await slots.compareExchange(i, 0, world.pe + 1)) === 0;
   * ```
   */
  compareExchange(index: number, expected: ElementOf<D>, value: ElementOf<D>): Promise<ElementOf<D>> {
    return this.#one("compareExchange", Op.compareExchange, true, index, value, expected) as Promise<ElementOf<D>>;
  }

  // ----------------------------------------------------------------------------- batch operations

  /**
   * Reads the elements at `indices`, in their order, into a new typed array, or into `out` when
   * given (a typed array of the dtype with room for every index; it is returned). Reusing `out`
   * across batches saves allocating a result per batch, which matters for small elements read at
   * memory speed.
   *
   * @example
   * ```ts
   * const values = await a.batchLoad([5, 0, 5]);
   * const into = new Uint32Array(batch.length);
   * await table.batchLoad(batch, into);
   * ```
   */
  batchLoad(indices: Indices | number, out?: TypedArrayOf<D>): Promise<TypedArrayOf<D>> {
    if (out !== undefined) {
      const n = isList(indices) ? indices.length : 1;
      if (!ArrayBuffer.isView(out) || out.constructor !== this.#info.Array || out.length < n) {
        return Promise.reject(new ShoalTypeError(`batchLoad: expected out to be a ${this.#info.Array.name} of at least ${n} elements, got ${describeValue(out)}${ArrayBuffer.isView(out) ? ` of ${(out as AnyTypedArray).length}` : ""}`));
      }
      this.#into = out;
    }
    try {
      return this.#batch("batchLoad", Op.load, true, indices, undefined, undefined) as Promise<TypedArrayOf<D>>;
    } finally {
      this.#into = undefined;
    }
  }

  /**
   * Writes values to elements. Every batch operation takes three shapes: many indices and one
   * value, one index and many values (applied in order), or as many values as indices (zipped).
   *
   * @example
   * ```ts
   * await a.batchStore([1, 2, 3], 0);          // one value to many indices
   * await a.batchStore([1, 2, 3], [7, 8, 9]);  // zipped
   * ```
   */
  batchStore(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchStore", Op.store, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Writes values to elements and resolves to the values they replaced, in input order.
   *
   * @example
   * ```ts
   * const before = await a.batchSwap([1, 2], [7, 8]);
   * ```
   */
  batchSwap(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchSwap", Op.swap, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Adds values to elements: the histogram update. The batch is checked whole before anything is
   * applied, then split by owner.
   *
   * @example
   * ```ts
   * await counts.batchAdd(buckets, 1);
   * ```
   */
  batchAdd(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchAdd", Op.add, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Adds values to elements and resolves to the values before, in input order.
   *
   * @example
   * ```ts
   * const tickets = await counter.batchFetchAdd(0, [1, 1, 1]); // three distinct tickets
   * ```
   */
  batchFetchAdd(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchAdd", Op.add, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Subtracts values from elements.
   *
   * @example
   * ```ts
   * await stock.batchSub(items, 1);
   * ```
   */
  batchSub(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchSub", Op.sub, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Subtracts values from elements and resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await stock.batchFetchSub(items, 1);
   * ```
   */
  batchFetchSub(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchSub", Op.sub, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Multiplies elements by values.
   *
   * @example
   * ```ts
   * await a.batchMul([0, 1], 2);
   * ```
   */
  batchMul(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchMul", Op.mul, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Multiplies elements by values and resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await a.batchFetchMul([0, 1], 2);
   * ```
   */
  batchFetchMul(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchMul", Op.mul, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Divides elements by values (integers: truncated; a zero divisor is refused).
   *
   * @example
   * ```ts
   * await a.batchDiv([0, 1], 2);
   * ```
   */
  batchDiv(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchDiv", Op.div, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Divides elements by values and resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await a.batchFetchDiv([0, 1], 2);
   * ```
   */
  batchFetchDiv(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchDiv", Op.div, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Sets each element to the smaller of itself and its value.
   *
   * @example
   * ```ts
   * await distance.batchMin(neighbours, d + 1);
   * ```
   */
  batchMin(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchMin", Op.min, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Sets each element to the smaller of itself and its value; resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await distance.batchFetchMin(neighbours, d + 1);
   * ```
   */
  batchFetchMin(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchMin", Op.min, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Sets each element to the larger of itself and its value.
   *
   * @example
   * ```ts
   * await best.batchMax(slots, scores);
   * ```
   */
  batchMax(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchMax", Op.max, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Sets each element to the larger of itself and its value; resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await best.batchFetchMax(slots, scores);
   * ```
   */
  batchFetchMax(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchMax", Op.max, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Bitwise AND of elements with values (integer arrays).
   *
   * @example
   * ```ts
   * await flags.batchBitAnd(items, ~4);
   * ```
   */
  batchBitAnd(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchBitAnd", Op.bitAnd, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Bitwise AND of elements with values; resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await flags.batchFetchBitAnd(items, ~4);
   * ```
   */
  batchFetchBitAnd(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchBitAnd", Op.bitAnd, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Bitwise OR of elements with values (integer arrays).
   *
   * @example
   * ```ts
   * await flags.batchBitOr(items, 4);
   * ```
   */
  batchBitOr(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchBitOr", Op.bitOr, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Bitwise OR of elements with values; resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await flags.batchFetchBitOr(items, 4);
   * ```
   */
  batchFetchBitOr(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchBitOr", Op.bitOr, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * Bitwise XOR of elements with values (integer arrays).
   *
   * @example
   * ```ts
   * await flags.batchBitXor(items, 1);
   * ```
   */
  batchBitXor(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<void> {
    return this.#batch("batchBitXor", Op.bitXor, false, indices, values, undefined) as Promise<void>;
  }

  /**
   * Bitwise XOR of elements with values; resolves to the values before.
   *
   * @example
   * ```ts
   * const before = await flags.batchFetchBitXor(items, 1);
   * ```
   */
  batchFetchBitXor(indices: Indices | number, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchFetchBitXor", Op.bitXor, true, indices, values, undefined) as Promise<TypedArrayOf<D>>;
  }

  /**
   * For each k, writes `values[k]` to element `indices[k]` if it equals `expected[k]`; resolves to
   * the elements' values before, in input order (exchange k happened exactly when result k equals
   * `expected[k]`). Each of the three may be one value for all. Dart throwing:
   *
   * @example
   * ```ts
   * const seen = await slots.batchCompareExchange(targets, 0, ids);
   * const landed = ids.filter((_, k) => seen[k] === 0);
   * ```
   */
  batchCompareExchange(indices: Indices | number, expected: Values<D> | ElementOf<D>, values: Values<D> | ElementOf<D>): Promise<TypedArrayOf<D>> {
    return this.#batch("batchCompareExchange", Op.compareExchange, true, indices, values, expected) as Promise<TypedArrayOf<D>>;
  }

  // ------------------------------------------------------------------------- whole-array operations

  /**
   * Sets every element to `value` (one-sided): the near parts here, each far part by its owner.
   *
   * @example
   * ```ts
   * if (world.pe === 0) await a.fill(0);
   * await world.barrier();
   * ```
   */
  async fill(value: ElementOf<D>): Promise<void> {
    this.#checkOpen("fill");
    const v = checkValue("fill", "value", value, this.#info);
    const data = this.#state.target.data as Float64Array;
    if (this.#allNear) {
      data.fill(v as number, 0, this.length);
      return;
    }
    const layout = this.#layout;
    const calls: Promise<void>[] = [];
    for (let pe = 0; pe < layout.numPes; pe++) {
      if (!this.#isNear(pe) && layout.localLength(pe) > 0) calls.push(this.#team.exec(pe, fillAm, [this.#state.id, v]));
    }
    if (this.#nearRun) {
      // The near parts lie one after another in this process's buffer.
      data.fill(v as number, layout.partOffset(this.#nearFirst), layout.partOffset(this.#nearLast) + layout.localLength(this.#nearLast));
    } else {
      for (let pe = 0; pe < layout.numPes; pe++) {
        if (this.#isNear(pe)) data.fill(v as number, layout.partOffset(pe), layout.partOffset(pe) + layout.localLength(pe));
      }
    }
    await Promise.all(calls);
  }

  /**
   * Copies `count` elements from global index `start` into a new typed array, or into `out` when
   * given (which must hold at least `count` elements). One copy per PE's part: near parts straight
   * from this process's buffer, far parts by one message to each owner.
   *
   * @example
   * ```ts
   * const all = await a.get(0, a.length);
   * ```
   */
  async get(start: number, count: number, out?: TypedArrayOf<D>): Promise<TypedArrayOf<D>> {
    this.#checkOpen("get");
    checkRange("get", "start", start, this.length);
    checkRange("get", "count", count, this.length - start);
    if (out !== undefined) {
      if (out.constructor !== this.#info.Array || out.length < count) {
        throw new ShoalTypeError(`get: expected out to be a ${this.#info.Array.name} of at least ${count} elements, got ${describeValue(out)}${ArrayBuffer.isView(out) ? ` of ${out.length}` : ""}`);
      }
    }
    const result = (out ?? new this.#info.Array(count)) as AnyTypedArray;
    const data = this.#state.target.data;
    const calls: Promise<void>[] = [];
    this.#forEachPart(start, count, (pe, local, n, first, stride) => {
      if (this.#isNear(pe)) {
        copyStrided(data, this.#layout.partOffset(pe) + local, result, first - start, stride, n);
      } else {
        calls.push(this.#team.exec(pe, getAm, [this.#state.id, local, n]).then((part) => {
          copyStrided(part, 0, result, first - start, stride, n);
        }));
      }
    });
    await Promise.all(calls);
    return result as TypedArrayOf<D>;
  }

  /**
   * Writes `values` to the elements from global index `start` on (one-sided).
   *
   * @example
   * ```ts
   * await a.put(100, new Float64Array([1, 2, 3]));
   * ```
   */
  async put(start: number, values: Values<D>): Promise<void> {
    this.#checkOpen("put");
    if (!isList(values)) throw new ShoalTypeError(`put: expected an array or typed array of values, got ${describeValue(values)}`);
    checkRange("put", "start", start, this.length);
    if (values.length > this.length - start) {
      throw new ShoalRangeError(`put: ${values.length} values from index ${start} pass the end of an array of length ${this.length}; at most ${this.length - start} fit`);
    }
    const source = checkValues("put", "values", values, this.#info);
    const data = this.#state.target.data;
    const calls: Promise<void>[] = [];
    this.#forEachPart(start, source.length, (pe, local, n, first, stride) => {
      if (this.#isNear(pe)) {
        scatterStrided(source, first - start, stride, data, this.#layout.partOffset(pe) + local, n);
      } else {
        // Built for the message alone, so it travels by reference instead of being copied again.
        const part = handOverArray(this.#info.Array as new (buffer: SharedArrayBuffer) => AnyTypedArray, this.#info.bytes, n);
        scatterStrided(source, first - start, stride, part, 0, n);
        calls.push(this.#team.exec(pe, putAm, [this.#state.id, local, part]).then(() => releaseHandOver(part)));
      }
    });
    await Promise.all(calls);
  }

  /**
   * For each part a range of global indices touches: `visit(pe, localStart, count, firstGlobal,
   * stride)`, where the part's elements `localStart..localStart+count` are the global indices
   * `firstGlobal, firstGlobal + stride, …`.
   */
  #forEachPart(start: number, count: number, visit: (pe: number, local: number, n: number, first: number, stride: number) => void): void {
    if (count === 0) return;
    const layout = this.#layout;
    const end = start + count;
    const pes = layout.numPes;
    if (layout.isBlock) {
      for (let pe = layout.ownerOf(start); pe < pes; pe++) {
        const partStart = layout.partOffset(pe);
        if (partStart >= end) break;
        const from = Math.max(start, partStart);
        const to = Math.min(end, partStart + layout.localLength(pe));
        if (to > from) visit(pe, from - partStart, to - from, from, 1);
      }
      return;
    }
    for (let pe = 0; pe < pes; pe++) {
      const first = start + ((pe - (start % pes) + pes) % pes);
      if (first >= end) continue;
      visit(pe, (first - pe) / pes, Math.floor((end - 1 - first) / pes) + 1, first, pes);
    }
  }

  /**
   * Collective: every PE calls `visit(value, globalIndex)` for each element of its own part, then
   * waits for the others.
   *
   * @example
   * ```ts
   * let mine = 0;
   * await a.forEach((value) => { if (value > 0) mine++; });
   * ```
   */
  async forEach(visit: (value: ElementOf<D>, index: number) => void): Promise<void> {
    this.#checkOpen("forEach");
    if (typeof visit !== "function") throw new ShoalTypeError(`forEach: expected a function, got ${describeValue(visit)}`);
    const local = this.local as unknown as ArrayLike<ElementOf<D>>;
    const layout = this.#layout;
    for (let k = 0; k < local.length; k++) visit(local[k]!, layout.globalIndex(this.#pe, k));
    await this.#team.barrier();
  }

  /**
   * Collective: a new array (same length and distribution) whose element i is `f(this[i], i)`.
   * Each PE computes its own part. Resolves when every PE has written its part.
   *
   * @example
   * ```ts
   * const squares = await a.map((x) => x * x);
   * const halves = await ints.map((x) => x / 2, { dtype: "f64" });
   * ```
   */
  async map<E extends Dtype = D>(f: (value: ElementOf<D>, index: number) => ElementOf<E>, options: MapOptions<E> = {}): Promise<DistArray<E>> {
    this.#checkOpen("map");
    if (typeof f !== "function") throw new ShoalTypeError(`map: expected a function, got ${describeValue(f)}`);
    const dtype = (options.dtype ?? this.dtype) as E;
    const out = await DistArray.create(this.#team, dtype, this.length, { dist: this.dist });
    const from = this.local as unknown as ArrayLike<ElementOf<D>>;
    const to = out.local as unknown as ElementOf<E>[];
    const layout = this.#layout;
    let k = 0;
    try {
      for (; k < from.length; k++) to[k] = f(from[k]!, layout.globalIndex(this.#pe, k));
    } catch (error) {
      // Storing a bigint in a number array, or the reverse, is a TypeError of the typed array.
      if (error instanceof TypeError) {
        throw new ShoalTypeError(`map: the function's result for index ${layout.globalIndex(this.#pe, k)} cannot be stored in ${article(dtype)} ${dtype} array (${error.message}); return ${kDtypes[dtype].kind === "bigint" ? "a bigint" : "a number"}`);
      }
      throw error;
    }
    await this.#team.barrier();
    return out;
  }

  /**
   * The reduction of every element with `op` (a {@link Reduction} or its name: "sum", "prod",
   * "min", "max", "bitAnd", "bitOr", "bitXor", or one from `defineReduction`). One-sided: each PE
   * reduces its own part, in parallel, and the caller combines the results in PE order. Every PE
   * may call it at once; each then asks every PE. An empty array gives the operator's identity.
   *
   * @example
   * ```ts
   * const total = await a.reduce("sum");
   * ```
   */
  async reduce(op: ReductionLike): Promise<ElementOf<D>> {
    this.#checkOpen("reduce");
    const reduction = reductionOf(op, "reduce");
    const kernel = reduction.kernel(this.#info);
    const levels = this.#treeLevels();
    if (levels !== undefined) {
      const all = Array.from({ length: this.#layout.numPes }, (_, rank) => rank);
      return ((await reduceTree(this.#state, reduction.name, levels, 0, all)) ?? kernel.identity) as ElementOf<D>;
    }
    const layout = this.#layout;
    const calls: Promise<Scalar | undefined>[] = [];
    for (let pe = 0; pe < layout.numPes; pe++) {
      if (pe !== this.#pe && layout.localLength(pe) > 0) calls.push(this.#team.exec(pe, partialAm, [this.#state.id, reduction.name]));
    }
    // The others reduce while this PE does.
    if (calls.length > 0) this.#team.flush();
    const own = partial(this.#state, this.#pe, reduction.name);
    const partials = await Promise.all(calls);
    let result: Scalar | undefined;
    let next = 0;
    for (let pe = 0; pe < layout.numPes; pe++) {
      let value: Scalar | undefined;
      if (pe === this.#pe) value = own;
      else if (layout.localLength(pe) > 0) value = partials[next++];
      if (value !== undefined) result = result === undefined ? value : kernel.combine(result, value);
    }
    return (result ?? kernel.identity) as ElementOf<D>;
  }

  /**
   * The sum of every element (one-sided; see {@link reduce}): a number computed in f64, or for
   * 64-bit dtypes a bigint wrapped to 64 bits.
   *
   * @example
   * ```ts
   * if (world.pe === 0) console.log(await a.sum());
   * ```
   */
  sum(): Promise<ElementOf<D>> {
    return this.reduce(sumOp);
  }

  /**
   * The histogram of every element (one-sided): counts in `bins` equal bins over `range`
   * (`[lo, hi]`, default: the array's `min()` and `max()`), as NumPy's `histogram` makes them:
   * each bin closed on the left, the last also on the right; values outside the range and NaN are
   * not counted. Each PE counts its own part where it lies, with the `histogram` kernel
   * (`kernels/histogram.ts`), and the caller adds the counts.
   *
   * @example
   * ```ts
   * const counts = await samples.histogram({ bins: 10, range: [0, 1] }); // a Float64Array of 10 counts
   * ```
   */
  async histogram(options: { bins: number; range?: readonly [number, number] }): Promise<Float64Array> {
    this.#checkOpen("histogram");
    const bins = options?.bins;
    if (typeof bins !== "number" || !Number.isInteger(bins) || bins < 1 || bins > 2 ** 24) {
      throw new ShoalRangeError(`histogram: expected bins to be an integer in 1..${2 ** 24}, got ${describeValue(bins)}`);
    }
    let range = options.range;
    if (range === undefined) {
      range = [Number(await this.min()), Number(await this.max())];
    } else if (!Array.isArray(range) || range.length !== 2 || !range.every((x) => typeof x === "number" && Number.isFinite(x))) {
      throw new ShoalTypeError(`histogram: expected range to be [lo, hi], two finite numbers, got ${describeValue(range)}`);
    }
    let [lo, hi] = range;
    if (lo > hi) throw new ShoalRangeError(`histogram: range [${lo}, ${hi}] is empty: give lo <= hi`);
    if (lo === hi) {
      // NumPy's rule for an empty span: half a unit either side.
      lo -= 0.5;
      hi += 0.5;
    }
    const layout = this.#layout;
    const calls: Promise<Float64Array>[] = [];
    for (let pe = 0; pe < layout.numPes; pe++) {
      if (!this.#isNear(pe) && layout.localLength(pe) > 0) calls.push(this.#team.exec(pe, histogramAm, [this.#state.id, kHistogramKernel, lo, hi, bins]));
    }
    if (calls.length > 0) this.#team.flush();
    const counts = new Float64Array(bins);
    for (let pe = 0; pe < layout.numPes; pe++) {
      if (this.#isNear(pe) && layout.localLength(pe) > 0) {
        const part = partHistogram(this.#state, pe, kHistogramKernel, lo, hi, bins);
        for (let b = 0; b < bins; b++) counts[b]! += part[b]!;
      }
    }
    for (const part of await Promise.all(calls)) for (let b = 0; b < bins; b++) counts[b]! += part[b]!;
    return counts;
  }

  /**
   * The product of every element (one-sided; see {@link reduce}).
   *
   * @example
   * ```ts
   * const p = await a.prod();
   * ```
   */
  prod(): Promise<ElementOf<D>> {
    return this.reduce(prodOp);
  }

  /**
   * Collective: a new array, in the same distribution, whose element i is the reduction with `op`
   * of elements 0..i (inclusive) or 0..i-1 (`{ exclusive: true }`), in global index order on
   * both distributions. Each PE scans one contiguous chunk; the chunks' totals travel to the PEs
   * after them. Values are computed like {@link reduce}'s and stored in the dtype.
   *
   * @example
   * ```ts
   * const offsets = await counts.scan("sum", { exclusive: true });
   * ```
   */
  async scan(op: ReductionLike, options: ScanOptions = {}): Promise<DistArray<D>> {
    this.#checkOpen("scan");
    const reduction = reductionOf(op, "scan");
    const kernel = reduction.kernel(this.#info);
    const exclusive = options.exclusive === true;
    const out = await DistArray.create(this.#team, this.dtype, this.length, { dist: this.dist });
    const layout = this.#layout;
    const pe = this.#pe;
    // PE p scans the chunk a block distribution would give it; under block, that is its own part.
    const start = layout.partOffset(pe);
    const count = layout.localLength(pe);
    let input: AnyTypedArray = this.#state.target.data;
    let inputStart = start;
    if (!layout.isBlock) {
      input = await this.get(start, count);
      inputStart = 0;
    }
    // The carry: every earlier chunk's total combined, by the team's exclusive scan (an empty
    // chunk adds the identity, which changes nothing).
    const total = count === 0 ? kernel.identity : kernel.reduce(input, inputStart, inputStart + count, kernel.identity);
    const carry = await this.#team.exscanWith(total, kernel);
    if (layout.isBlock) {
      kernel.scan(input, inputStart, out.#state.target.data, start, count, carry, exclusive);
    } else {
      const chunk = new this.#info.Array(count);
      kernel.scan(input, 0, chunk, 0, count, carry, exclusive);
      await out.put(start, chunk as unknown as Values<D>);
    }
    await this.#team.barrier();
    return out;
  }

  // ------------------------------------------------------------------------------------- views

  /**
   * This PE's part as an `ndarray` of `shape` (default: one dimension), over the shared memory:
   * no copy. The shape's product must equal the part's length.
   *
   * @example
   * ```ts
   * const rows = a.localView([a.local.length / 64, 64]);
   * rows.set(0, 1, 3.5);
   * ```
   */
  localView(shape: readonly number[] = [this.local.length]): ndarray.NdArray<ndarray.Data<ElementOf<D>>> {
    if (!Array.isArray(shape) || shape.some((n) => typeof n !== "number" || !Number.isInteger(n) || n < 0)) {
      throw new ShoalTypeError(`localView: expected a shape, an array of non-negative integers, got ${describeValue(shape)}`);
    }
    const size = shape.reduce((a: number, b: number) => a * b, 1);
    if (size !== this.local.length) {
      throw new ShoalRangeError(`localView: shape [${shape.join(", ")}] holds ${size} elements, but this PE's part has ${this.local.length}; give a shape whose product is ${this.local.length}`);
    }
    return ndarray(this.local as unknown as ndarray.Data<ElementOf<D>>, [...shape]);
  }

  /**
   * The array as an `apache-arrow` vector: the whole array gathered to this PE (one-sided, one
   * copy, then no more), or with `{ local: true }` this PE's part, over the shared memory without
   * a copy.
   *
   * @example
   * ```ts
   * const vector = await a.toArrow();          // every element, on this PE
   * const mine = await a.toArrow({ local: true });
   * ```
   */
  async toArrow(options: ToArrowOptions = {}): Promise<Vector> {
    this.#checkOpen("toArrow");
    if (options.local === true) return vectorOf(this.local);
    return vectorOf(await this.get(0, this.length));
  }

  /**
   * Collective: a new array holding the values of an `apache-arrow` vector, which every PE passes
   * (each copies its own elements, chunk by chunk). The dtype follows the vector's type (Int8 to
   * Int64, Uint8 to Uint64, Float32, Float64); vectors with nulls are refused.
   *
   * @example
   * ```ts
   * import { tableFromIPC } from "apache-arrow";
   * const table = tableFromIPC(readFileSync("data.arrow"));
   * const prices = await DistArray.fromArrow(table.getChild("price")!, { world });
   * ```
   */
  static async fromArrow(vector: Vector, options: FromArrowOptions): Promise<DistArray> {
    const what = "DistArray.fromArrow";
    const dtype = dtypeOfVector(vector, what);
    if (vector.nullCount > 0) {
      throw new ShoalTypeError(`${what}: the vector has ${vector.nullCount} nulls, and shoal arrays have no nulls; replace them first`);
    }
    const team = options?.world;
    if (typeof team !== "object" || team === null || typeof team.barrier !== "function") {
      throw new ShoalTypeError(`${what}: expected options { world }, with the world from init(), got ${describeValue(options)}`);
    }
    const array = await DistArray.create(team, dtype, vector.length, options.dist === undefined ? {} : { dist: options.dist });
    copyFromVector(vector, array.#layout, array.#pe, array.local);
    await team.barrier();
    return array;
  }

  /**
   * Releases this PE's handle: later calls on it throw a `StateError`. Call `world.barrier()`
   * first so that no PE still uses the array; the memory is returned once every PE has freed it.
   * Other PEs are not checked: an operation that reaches this PE's part as a message afterwards
   * (from another process, or with `SHOAL_ARRAY_OPS=am`) may fail with a `RemoteError` whose
   * `remoteName` is `"StateError"`, while PEs of the same process, which apply operations to the
   * shared memory directly, are not stopped.
   *
   * @example
   * ```ts
   * await world.barrier();
   * scratch.free();
   * ```
   */
  free(): void {
    forgetState(this.#state);
  }

  /** @internal The array's id, the same on every PE. */
  get id(): number {
    return this.#state.id;
  }

  // ---------------------------------------------------------------------------------- internals

  #checkOpen(what: string): void {
    if (this.#state.freed) throw new StateError(`${what}: this array has been freed on PE ${this.#pe}`);
  }

  /**
   * The levels a one-sided reduction follows across processes (messages.ts, reduceTree): by
   * module, by node (SHOAL_HIER=2), by process; undefined for one message per part (SHOAL_HIER=0, a
   * team in one process, operations as messages, or a team whose groups are not runs of ranks).
   */
  #treeLevels(): readonly TreeLevel[] | undefined {
    if (this.#tree === null) {
      const team = this.#team;
      const hier = team.config.hier;
      const levels: TreeLevel[] = hier === 2 ? ["module", "node", "process"] : ["module", "process"];
      const useful = hier !== 0 && !this.#allNear && team.config.arrayOps === "direct" && treeKeepsOrder(team, levels);
      this.#tree = useful ? levels : undefined;
    }
    return this.#tree;
  }

  /** Whether PE `pe`'s part is in this process's buffer and may be worked on here directly. */
  #isNear(pe: number): boolean {
    return this.#near[pe] === 1;
  }

  /** Checks an operand of `op`; refuses what the op cannot take before anything is sent. */
  #operand(what: string, op: OpCode, value: unknown, name: string): Scalar {
    const checked = checkValue(what, name, value, this.#info);
    if (op === Op.div && this.#info.kind !== "float" && (checked === 0 || checked === 0n)) {
      throw new ShoalRangeError(`${what}: ${name} is ${typeof checked === "bigint" ? "0n" : "0"}: integer division by zero; give a non-zero divisor`);
    }
    return checked;
  }

  #checkOp(what: string, op: OpCode): void {
    this.#checkOpen(what);
    if (isBitwise(op) && this.#info.kind === "float") {
      throw new ShoalTypeError(`${what}: ${this.#info.name} arrays have no bitwise operations; use an integer dtype`);
    }
  }

  #one(what: string, op: OpCode, fetch: boolean, index: unknown, value: unknown, expected: unknown): Promise<unknown> {
    try {
      return this.#applyOne(what, op, fetch, index, value, expected);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #applyOne(what: string, op: OpCode, fetch: boolean, index: unknown, value: unknown, expected: unknown): Promise<unknown> {
    this.#checkOp(what, op);
    const layout = this.#layout;
    const i = checkIndex(what, index, layout.length);
    const scalar = op === Op.load ? 0 : this.#operand(what, op, value, "value");
    const expectedScalar = op === Op.compareExchange ? checkValue(what, "expected", expected, this.#info) : 0;
    const owner = this.#allNear ? this.#pe : layout.ownerOf(i);
    if (!this.#isNear(owner)) {
      const request: OpRequest = [this.#state.id, op, layout.localIndex(i), undefined, scalar, undefined, expectedScalar, fetch];
      return this.#team.exec(owner, opAm, request);
    }
    const run = kRun;
    run.positions[0] = layout.position(i);
    run.op = op;
    run.offset = 0;
    run.n = 1;
    run.values = undefined;
    run.scalar = scalar;
    run.expected = undefined;
    run.expectedScalar = expectedScalar;
    const out = fetch ? new this.#info.Array(1) : undefined;
    run.out = out;
    applyOp(this.#state.target, run);
    run.out = undefined;
    return Promise.resolve(out?.[0]);
  }

  #batch(what: string, op: OpCode, fetch: boolean, indices: unknown, values: unknown, expected: unknown): Promise<unknown> {
    try {
      return this.#applyBatch(what, op, fetch, indices, values, expected);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #applyBatch(what: string, op: OpCode, fetch: boolean, indices: unknown, values: unknown, expected: unknown): Promise<unknown> {
    this.#checkOp(what, op);
    const info = this.#info;
    const layout = this.#layout;
    // The shape: each of indices, values and expected is a list or one value; lists must agree.
    const indexList = isList(indices) ? indices : undefined;
    const valueList = op !== Op.load && isList(values) ? values : undefined;
    const expectedList = op === Op.compareExchange && isList(expected) ? expected : undefined;
    let n = -1;
    let first = "";
    for (const [name, list] of [["indices", indexList], ["values", valueList], ["expected", expectedList]] as const) {
      if (list === undefined) continue;
      if (n < 0) {
        n = list.length;
        first = name;
      } else if (list.length !== n) {
        throw new ShoalRangeError(`${what}: ${first} has ${n} elements but ${name} has ${list.length}; give lists of the same length, or one value for all`);
      }
    }
    if (n < 0) n = 1;
    // Check everything before applying anything.
    let operands: AnyTypedArray | undefined;
    let scalar: Scalar = 0;
    if (op !== Op.load) {
      if (valueList !== undefined) {
        operands = checkValues(what, "values", valueList, info);
        if (op === Op.div && info.kind !== "float") {
          const zero = (operands as ArrayLike<Scalar>).length === 0 ? -1 : Array.prototype.findIndex.call(operands, (v: Scalar) => v === 0 || v === 0n);
          if (zero >= 0) throw new ShoalRangeError(`${what}: values[${zero}] is ${info.kind === "bigint" ? "0n" : "0"}: integer division by zero; give non-zero divisors`);
        }
      } else {
        scalar = this.#operand(what, op, values, "value");
      }
    }
    let expectedValues: AnyTypedArray | undefined;
    let expectedScalar: Scalar = 0;
    if (op === Op.compareExchange) {
      if (expectedList !== undefined) expectedValues = checkValues(what, "expected", expectedList, info);
      else expectedScalar = checkValue(what, "expected", expected, info);
    }
    if (op === Op.load && this.#allNear && indexList !== undefined && this.#info.bytes <= 4) {
      const out = this.#into ?? new info.Array(n);
      // Floats are read as their bits, into the bits of the result.
      const source = (this.#state.target.bits ?? this.#state.target.data) as Int32Array;
      const into = info.kind === "float" ? new Int32Array(out.buffer) : out as Int32Array;
      gather(what, indexList, layout, source, into);
      return Promise.resolve(out);
    }
    let single = -1;
    const positions = positionsFor(n);
    if (indexList !== undefined) {
      // Split by owner below, the positions are not needed unless every element is near.
      resolveIndices(what, indexList, layout, positions, !this.#allNear);
    } else {
      single = checkIndex(what, indices, layout.length);
      positions.fill(layout.position(single), 0, n);
    }
    const out = fetch ? (this.#into ?? new info.Array(n)) : undefined;
    if (n === 0) return Promise.resolve(out);
    if (this.#allNear) {
      const run = kRun;
      run.op = op;
      run.positions = positions;
      run.offset = 0;
      run.n = n;
      run.values = operands;
      run.scalar = scalar;
      run.expected = expectedValues;
      run.expectedScalar = expectedScalar;
      run.out = out;
      applyOp(this.#state.target, run);
      run.values = run.expected = run.out = undefined;
      run.positions = kOnePosition;
      return Promise.resolve(out);
    }
    return this.#batchByOwner(op, fetch, n, indexList as ArrayLike<number> | undefined, single, operands, scalar, expectedValues, expectedScalar, out);
  }

  /** A checked batch split by owner: the near PEs' groups applied here, one message per far PE. */
  async #batchByOwner(
    op: OpCode, fetch: boolean, n: number, indexList: ArrayLike<number> | undefined, single: number,
    operands: AnyTypedArray | undefined, scalar: Scalar, expectedValues: AnyTypedArray | undefined, expectedScalar: Scalar,
    out: AnyTypedArray | undefined,
  ): Promise<unknown> {
    const layout = this.#layout;
    const pes = layout.numPes;
    // First pass: each element's owner and its index in the owner's part (one division each).
    const owners = new Uint32Array(n);
    const localIndices = new Uint32Array(n);
    const counts = new Uint32Array(pes);
    const offsets = layout.offsets;
    for (let k = 0; k < n; k++) {
      const i = indexList === undefined ? single : indexList[k]!;
      let owner: number;
      if (layout.isBlock) {
        owner = layout.ownerOf(i);
        localIndices[k] = i - offsets[owner]!;
      } else {
        const q = (i / pes) >>> 0; // indices are below 2^32
        owner = i - q * pes;
        localIndices[k] = q;
      }
      owners[k] = owner;
      counts[owner]!++;
    }
    // Second pass: one group per owner, in input order; `orders` only when results come back.
    const locals: Uint32Array[] = [];
    const orders: Uint32Array[] = [];
    const groupValues: (AnyTypedArray | undefined)[] = [];
    const groupExpected: (AnyTypedArray | undefined)[] = [];
    for (let pe = 0; pe < pes; pe++) {
      const c = counts[pe]!;
      locals.push(new Uint32Array(c));
      orders.push(fetch ? new Uint32Array(c) : kNoOrder);
      groupValues.push(operands === undefined || c === 0 ? undefined : new (operands.constructor as typeof Float64Array)(c));
      groupExpected.push(expectedValues === undefined || c === 0 ? undefined : new (expectedValues.constructor as typeof Float64Array)(c));
    }
    const cursor = new Uint32Array(pes);
    for (let k = 0; k < n; k++) {
      const owner = owners[k]!;
      const j = cursor[owner]!++;
      locals[owner]![j] = localIndices[k]!;
      if (fetch) orders[owner]![j] = k;
      if (operands !== undefined) groupValues[owner]![j] = operands[k]!;
      if (expectedValues !== undefined) groupExpected[owner]![j] = expectedValues[k]!;
    }
    const scatterInto = (order: Uint32Array, results: AnyTypedArray | undefined): void => {
      if (out === undefined || results === undefined) return;
      for (let j = 0; j < order.length; j++) out[order[j]!] = results[j]!;
    };
    // The far groups leave first, so that their owners work while this PE applies the near ones.
    const calls: Promise<void>[] = [];
    for (let pe = 0; pe < pes; pe++) {
      if (counts[pe] === 0 || this.#isNear(pe)) continue;
      const order = orders[pe]!;
      const request: OpRequest = [this.#state.id, op, locals[pe]!, groupValues[pe], scalar, groupExpected[pe], expectedScalar, fetch];
      calls.push(this.#team.exec(pe, opAm, request).then((results) => scatterInto(order, results as AnyTypedArray | undefined)));
    }
    if (calls.length > 0) this.#team.flush();
    for (let pe = 0; pe < pes; pe++) {
      if (counts[pe] === 0 || !this.#isNear(pe)) continue;
      const local = locals[pe]!;
      const results = fetch ? new this.#info.Array(local.length) : undefined;
      applyOp(this.#state.target, {
        op, positions: local, offset: layout.partOffset(pe), n: local.length, values: groupValues[pe], scalar,
        expected: groupExpected[pe], expectedScalar, out: results,
      });
      scatterInto(orders[pe]!, results);
    }
    await Promise.all(calls);
    return out;
  }
}

const kOnePosition = kRun.positions;
const kNoOrder = new Uint32Array(0);

function reductionOf(op: unknown, what: string): Reduction {
  if (typeof op === "string") return reductionNamed(op, what);
  if (typeof op === "object" && op !== null && typeof (op as Reduction).name === "string" && typeof (op as Reduction).kernel === "function") {
    return reductionNamed((op as Reduction).name, what);
  }
  throw new ShoalTypeError(`${what}: expected a reduction (such as "sum", or one from defineReduction), got ${describeValue(op)}`);
}

/** `to[toStart + j*stride] = from[fromStart + j]` for j < n. */
function copyStrided(from: AnyTypedArray, fromStart: number, to: AnyTypedArray, toStart: number, stride: number, n: number): void {
  if (stride === 1) {
    (to as Float64Array).set((from as Float64Array).subarray(fromStart, fromStart + n), toStart);
    return;
  }
  const source = from as Float64Array;
  const target = to as Float64Array;
  for (let j = 0; j < n; j++) target[toStart + j * stride] = source[fromStart + j]!;
}

/** `to[toStart + j] = from[fromStart + j*stride]` for j < n. */
function scatterStrided(from: AnyTypedArray, fromStart: number, stride: number, to: AnyTypedArray, toStart: number, n: number): void {
  if (stride === 1) {
    (to as Float64Array).set((from as Float64Array).subarray(fromStart, fromStart + n), toStart);
    return;
  }
  const source = from as Float64Array;
  const target = to as Float64Array;
  for (let j = 0; j < n; j++) target[toStart + j] = source[fromStart + j * stride]!;
}

/** The ranks of `team` whose PEs run in this PE's process, in rank order. */
function localRanks(team: Team): number[] {
  const ranks: number[] = [];
  for (let rank = 0; rank < team.numPes; rank++) if (team.processOf(rank) === team.process) ranks.push(rank);
  return ranks;
}

/** Arrays made by each sub-team so far, on this PE. */
const kTeamArrays = new WeakMap<Team, number>();

/**
 * The id of the next array of sub-team `team`: the same on every member (they create the team's
 * arrays in the same order), above every world array's id (those count from 1 on each PE).
 */
function teamArrayId(team: Team): number {
  const n = (kTeamArrays.get(team) ?? 0) + 1;
  if (n >= 2 ** 20) throw new ShoalRangeError(`world.array: a team makes at most ${2 ** 20 - 1} arrays; free and make fewer, or make them on another team`);
  kTeamArrays.set(team, n);
  return team.teamId * 2 ** 20 + n;
}
