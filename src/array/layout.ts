/**
 * Index math of the distributions: which PE owns a global index, and where.
 *
 * Both distributions give PE `p` the same number of elements, `floor(n / P)` plus one for the first
 * `n % P` PEs, so a PE's part is as long under either. They differ in which elements:
 * - **block**: PE `p` owns the contiguous range starting at `p * floor(n / P) + min(p, n % P)`;
 * - **cyclic**: PE `p` owns the indices `i` with `i % P === p`, in increasing order.
 *
 * Each process has its own shared buffer of the array, as long as the whole array, in which part `p`
 * starts at element `partOffset(p)`: the same formula as a block's first index, and the same in
 * every process. A process's buffer holds only its own PEs' parts, which lie one after another in
 * PE order; the rest of it stays untouched. So under the block distribution the buffer is the array
 * in global index order, where its process's PEs hold it.
 *
 * @module
 */

/**
 * How a {@link DistArray}'s elements are spread over the PEs.
 *
 * @example
 * ```ts
 * const dist: Distribution = "cyclic"; // element i lives on PE i % numPes
 * const a = await world.array("f64", 100, { dist });
 * ```
 */
export type Distribution = "block" | "cyclic";

/** @internal */
export class Layout {
  readonly length: number;
  readonly numPes: number;
  readonly dist: Distribution;
  readonly isBlock: boolean;
  /** floor(length / numPes). */
  readonly base: number;
  /** length % numPes: the PEs below it hold one more element. */
  readonly extra: number;
  /** `partOffset(pe)` of every PE, for loops that map many indices. */
  readonly offsets: Float64Array;

  constructor(length: number, numPes: number, dist: Distribution) {
    this.length = length;
    this.numPes = numPes;
    this.dist = dist;
    this.isBlock = dist === "block";
    this.base = Math.floor(length / numPes);
    this.extra = length % numPes;
    this.offsets = new Float64Array(numPes);
    for (let pe = 0; pe < numPes; pe++) this.offsets[pe] = this.partOffset(pe);
  }

  /** The PE that owns global index `i` (0 <= i < length). */
  ownerOf(i: number): number {
    if (!this.isBlock) return i % this.numPes;
    const wide = this.extra * (this.base + 1);
    return i < wide ? Math.floor(i / (this.base + 1)) : this.extra + Math.floor((i - wide) / this.base);
  }

  /** The position of global index `i` inside its owner's part. */
  localIndex(i: number): number {
    if (!this.isBlock) return Math.floor(i / this.numPes);
    return i - this.partOffset(this.ownerOf(i));
  }

  /** The global index of element `local` of PE `pe`'s part. */
  globalIndex(pe: number, local: number): number {
    return this.isBlock ? this.partOffset(pe) + local : local * this.numPes + pe;
  }

  /** The number of elements PE `pe` owns. */
  localLength(pe: number): number {
    return this.base + (pe < this.extra ? 1 : 0);
  }

  /** Where PE `pe`'s part starts in its process's buffer (and, for block, its first global index). */
  partOffset(pe: number): number {
    return pe * this.base + Math.min(pe, this.extra);
  }

  /** The position of global index `i` in a process's buffer (where its owner's process holds it). */
  position(i: number): number {
    if (this.isBlock) return i;
    const owner = i % this.numPes;
    return owner * this.base + Math.min(owner, this.extra) + Math.floor(i / this.numPes);
  }
}
