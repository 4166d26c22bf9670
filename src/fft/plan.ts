/**
 * The plans of the distributed FFTs: the buffers, the sizes, and the passes over the data between
 * the transposes. A plan is made once per (team, kind, size) on each PE and kept for the calls
 * that follow, like an FFTW plan: its send buffers and scratch rows are reused, so a transform
 * allocates nothing in proportion to the data.
 *
 * **Chunks.** A transpose is one `team.alltoallv`: part q, a chunk of `2 · rowsPer · colsPer` f64
 * for rank q, is a `rowsPer × colsPer` complex matrix cut out of this PE's rows. Every pass reads
 * its input as P such chunks, one from each rank in rank order, and writes P new ones. The
 * strided work (the transpose proper) goes through scratch rows that stay in cache: a pass gathers
 * a group of {@link kGroup} columns across the chunks into contiguous scratch rows (by tiles of
 * whole cache lines), transforms the rows with fft.js, and cuts each row into P pieces, one per
 * destination, written as a row of that destination's chunk, or in the last pass as a column, so
 * that the receiver puts its chunks side by side with copies of whole rows.
 *
 * **Buffers by reference.** The chunks are hand-over arrays (`am/codec.ts`): within a process
 * they travel by reference, so a transpose between the PEs of one process copies nothing beyond
 * the passes themselves; to another process they are sent as bytes. A PE owns two sets of P
 * chunks and uses them in turn. The set of exchange t is written again at exchange t + 2, and
 * by then every reader has finished with it: a rank reads what it received at exchange t before
 * it sends its part of exchange t + 1, and this PE writes exchange t + 2 only after it has
 * received exchange t + 1 from every rank.
 *
 * @module
 */
import { handOverArray } from "../am/index.js";
import { copyBlock, transformInto, type Twiddles } from "../../kernels/index.js";
import { CollectiveError } from "../errors.js";
import type { Team } from "../team/index.js";

/**
 * Columns transformed together: 8 complex numbers of a chunk's row are two cache lines. (Measured
 * on 2^22 points: 16 is no faster; padding the rows, so that they do not lie a power of two apart,
 * was slower.)
 */
const kGroup = 8;
/** Plans kept per team (the most recently made); an older one is dropped with its buffers. */
const kPlansPerTeam = 4;

/** What one rank sends another in an exchange: a description of the call, to check that every member made the same one, and the chunk. */
type Part = [call: string, chunk: Float64Array];

/**
 * A chunk of received data: a `rows × cols` complex matrix at `data[offset]`, rows `rowStride`
 * numbers apart, each row contiguous.
 */
interface Chunk {
  data: Float64Array;
  offset: number;
  rowStride: number;
}

/** One transform's plan on one PE of `team`: sizes, buffers, and the passes. */
export class FftPlan {
  readonly team: Team;
  readonly pes: number;
  readonly rank: number;
  /** The two sets of send chunks, P each. */
  readonly #sets: Float64Array[][];
  /** Which set the next exchange writes. */
  #next = 0;
  /** Scratch rows: kGroup rows of the longest length the plan transforms. */
  readonly #scratchIn: Float64Array;
  readonly #scratchOut: Float64Array;
  /** The received chunks of the last exchange, as matrices (reused objects). */
  readonly #chunks: Chunk[];
  /** Row views of the scratch, per row length: [in rows, out rows]. */
  readonly #rows = new Map<number, [Float64Array[], Float64Array[]]>();

  /** `rowsPer × colsPer`: the shape of a chunk, in one orientation or the other; `longestRow`: the longest row the passes transform. */
  constructor(team: Team, rowsPer: number, colsPer: number, longestRow: number) {
    this.team = team;
    this.pes = team.numPes;
    this.rank = team.pe;
    this.#sets = [0, 1].map(() => Array.from({ length: this.pes }, () => handOverArray(Float64Array, 8, 2 * rowsPer * colsPer)));
    this.#scratchIn = new Float64Array(2 * kGroup * longestRow);
    this.#scratchOut = new Float64Array(2 * kGroup * longestRow);
    this.#chunks = Array.from({ length: this.pes }, () => ({ data: this.#scratchIn, offset: 0, rowStride: 0 }));
  }

  /** The send chunks of the next exchange. */
  sendChunks(): Float64Array[] {
    return this.#sets[this.#next]!;
  }

  /**
   * Collective: sends chunk q of {@link sendChunks} to rank q, and returns the chunks received, each
   * a matrix of rows of `cols` complex numbers. `call` describes the call ("inverse fft of 1024
   * points"): every member must make the same one, and if one does not, the exchange fails on
   * every member with a {@link CollectiveError}.
   */
  async exchange(call: string, cols: number): Promise<Chunk[]> {
    const rowStride = 2 * cols;
    const chunks = this.#sets[this.#next]!;
    this.#next ^= 1;
    const parts: Part[] = chunks.map((chunk) => [call, chunk]);
    const received = await this.team.alltoallv(parts);
    // Each member compares every call it received with its own: if the calls were not all the same,
    // every member sees one that differs from its own, so all of them fail here, together.
    for (let from = 0; from < this.pes; from++) {
      const [theirs, chunk] = received[from]!;
      if (theirs !== call) {
        throw new CollectiveError(`${call}: rank ${from} of the array's team called ${theirs} while rank ${this.rank} called ${call}; every member must make the same call`);
      }
      const target = this.#chunks[from]!;
      target.data = chunk;
      target.offset = 0;
      target.rowStride = rowStride;
    }
    return this.#chunks;
  }

  /** Makes this PE's own chunk of `chunks` a block of `local` instead (which was not copied for itself). */
  ownFromLocal(chunks: Chunk[], local: Float64Array, offset: number, rowStride: number): void {
    const own = chunks[this.rank]!;
    own.data = local;
    own.offset = offset;
    own.rowStride = rowStride;
  }

  /** kGroup scratch rows of `length` complex numbers, in and out. */
  #rowsOf(length: number): [Float64Array[], Float64Array[]] {
    let rows = this.#rows.get(length);
    if (rows === undefined) {
      const cut = (scratch: Float64Array): Float64Array[] => Array.from({ length: kGroup }, (_, i) => scratch.subarray(2 * length * i, 2 * length * (i + 1)));
      rows = [cut(this.#scratchIn), cut(this.#scratchOut)];
      this.#rows.set(length, rows);
    }
    return rows;
  }

  /**
   * The pass between two exchanges. The input is P chunks of `rowsPer × cols` (chunk s holds rows
   * `s·rowsPer …` of a `length × cols` matrix, length = P·rowsPer). For each of the `cols` columns
   * j, this transforms the column (length `length`), multiplies its element k by
   * ω^((twiddleBase + j)·k) of `twiddles` when given, and cuts it into P pieces of `length / P`:
   * piece q goes to send chunk q, as its row j (a `cols × length/P` chunk), or, when `transposed`,
   * as its column j (a `length/P × cols` chunk, which the last exchange wants: its receiver then
   * copies whole rows).
   */
  columnPass(input: Chunk[], rowsPer: number, cols: number, inverse: boolean, twiddles: Twiddles | undefined, twiddleBase: number, transposed: boolean): void {
    const pes = this.pes;
    const length = pes * rowsPer;
    const [rowsIn, rowsOut] = this.#rowsOf(length);
    const scratchIn = this.#scratchIn;
    const scratchOut = this.#scratchOut;
    const send = this.sendChunks();
    const width = 2 * length;
    for (let j0 = 0; j0 < cols; j0 += kGroup) {
      const group = Math.min(kGroup, cols - j0);
      // Gather: scratch row i is column j0 + i, whose piece s is column j0 + i of chunk s.
      for (let s = 0; s < pes; s++) {
        const chunk = input[s]!;
        copyBlock(scratchIn, 2 * s * rowsPer, width, 2, chunk.data, chunk.offset + 2 * j0, 2, chunk.rowStride, group, rowsPer);
      }
      for (let i = 0; i < group; i++) {
        transformInto(length, rowsOut[i]!, rowsIn[i]!, inverse);
        if (twiddles !== undefined) twiddles.apply(rowsOut[i]!, 0, 2, length, twiddleBase + j0 + i, inverse);
      }
      // Scatter: piece q of scratch row i goes to row (or column) j0 + i of chunk q.
      for (let q = 0; q < pes; q++) {
        if (transposed) copyBlock(send[q]!, 2 * j0, 2, 2 * cols, scratchOut, 2 * q * rowsPer, width, 2, group, rowsPer);
        else copyBlock(send[q]!, 2 * j0 * rowsPer, 2 * rowsPer, 2, scratchOut, 2 * q * rowsPer, width, 2, group, rowsPer);
      }
    }
  }

  /**
   * The first pass of a 2-D transform: transforms this PE's `rows` local rows of `length`
   * (contiguous in `local`) and cuts each into P pieces of `length / P`: piece q of row r is row r
   * of send chunk q (`rows × length/P`).
   */
  rowPass(local: Float64Array, rows: number, length: number, inverse: boolean): void {
    const pes = this.pes;
    const piece = length / pes;
    const [, rowsOut] = this.#rowsOf(length);
    const send = this.sendChunks();
    const width = 2 * length;
    for (let r0 = 0; r0 < rows; r0 += kGroup) {
      const group = Math.min(kGroup, rows - r0);
      for (let i = 0; i < group; i++) {
        const at = (r0 + i) * width;
        transformInto(length, rowsOut[i]!, local.subarray(at, at + width), inverse);
      }
      for (let q = 0; q < pes; q++) {
        copyBlock(send[q]!, 2 * r0 * piece, 2 * piece, 2, this.#scratchOut, 2 * q * piece, width, 2, group, piece);
      }
    }
  }

  /**
   * The first exchange's packing when the first pass needs columns: this PE's `rows × cols`
   * local matrix cut by columns, block q (columns `q·cols/P …`) into send chunk q. The block for
   * this PE itself is not copied: the pass reads it from `local` ({@link ownFromLocal}).
   */
  cutColumns(local: Float64Array, rows: number, cols: number): void {
    const piece = cols / this.pes;
    const send = this.sendChunks();
    for (let q = 0; q < this.pes; q++) {
      if (q !== this.rank) copyBlock(send[q]!, 0, 2 * piece, 2, local, 2 * q * piece, 2 * cols, 2, rows, piece);
    }
  }

  /**
   * The last step: the received chunks, each `rows × cols`, side by side into this PE's part
   * (`rows` rows of P·cols), chunk s into columns `s·cols …`: a copy of whole rows.
   */
  unpack(input: Chunk[], local: Float64Array, rows: number, cols: number): void {
    const width = 2 * this.pes * cols;
    for (let s = 0; s < this.pes; s++) {
      const chunk = input[s]!;
      copyBlock(local, 2 * s * cols, width, 2, chunk.data, chunk.offset, chunk.rowStride, 2, rows, cols);
    }
  }
}

/** The plans of each team on this PE, oldest first. */
const kPlans = new WeakMap<Team, Map<string, FftPlan>>();

/** This PE's plan named `key` ("fft 1024") on `team`, made by `make` the first time. */
export function planFor(team: Team, key: string, make: () => FftPlan): FftPlan {
  let plans = kPlans.get(team);
  if (plans === undefined) kPlans.set(team, (plans = new Map()));
  let plan = plans.get(key);
  if (plan === undefined) {
    plan = make();
    if (plans.size >= kPlansPerTeam) plans.delete(plans.keys().next().value!);
    plans.set(key, plan);
  }
  return plan;
}
