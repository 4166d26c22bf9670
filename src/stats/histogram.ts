/**
 * The message-size histogram (ParaStation MPI's `PSP_HISTOGRAM`): how many messages of each size
 * were sent, per connection type, counted by every thread of a process into one
 * `SharedArrayBuffer`.
 *
 * **Bins.** The bins are labelled by their upper bounds `MIN, MIN << SHIFT, MIN << 2·SHIFT, …`, up
 * to the first label that reaches `MAX` (ParaStation: one more label while the last is below MAX).
 * A message of `n` bytes counts in the first bin whose label is at least `n`; the last bin also
 * collects every larger message. With MIN = 64, MAX = 4096, SHIFT = 2 the bins are 64 (0..64
 * bytes), 256 (65..256), 1024 (257..1024) and 4096 (everything above 1024).
 *
 * **What the histogram does not know.** It counts `(row, connection type, bytes)`; which thread
 * counts what, and what a "message" is, are the callers' business (a row is one PE of the
 * process; see lamellae/shm/transport.ts and lamellae/io/service.ts).
 *
 * **Memory layout and ordering.** One `BigUint64Array` over the shared buffer, cell
 * `(row * 4 + connection) * bins + bin`. Every cell has one writer thread (the callers keep it so:
 * a PE counts its own row's `shm` cells, the process's IO worker every row's other cells), which
 * adds with `Atomics.add`; readers use `Atomics.load`. A reader on another thread sees each counter
 * at some point of its history, not a snapshot consistent across cells; once the writers' threads
 * have ended (the exit print), what it reads is exact. 64-bit cells never wrap.
 *
 * @module
 */
import type { HistogramConfig } from "../config/index.js";
import { ShoalRangeError } from "../errors.js";

/**
 * A kind of connection a message travels on, as `SHOAL_HISTOGRAM_CONTYPE` names them: `shm`
 * between PEs of one process, `ipc` and `tcp` between processes (by the `ipc://` or `tcp://`
 * link), `gw` between processes of different modules.
 *
 * @example
 * ```ts
 * const counted: ConnectionType = world.config.histogram?.contype ?? "shm";
 * ```
 */
export type ConnectionType = NonNullable<HistogramConfig["contype"]>;

/** The connection types, in the order of their columns and cells. */
export const kConnectionTypes: readonly ConnectionType[] = ["shm", "ipc", "tcp", "gw"];

/** A connection type's cell index, for {@link MessageHistogram.count}. */
export const kConnection = { shm: 0, ipc: 1, tcp: 2, gw: 3 } as const satisfies Record<ConnectionType, number>;
/** A connection type's cell index. */
export type ConnectionIndex = (typeof kConnection)[ConnectionType];

/**
 * What one thread needs to count into a histogram that another created: structured-cloneable, for
 * `workerData`.
 */
export interface HistogramShare {
  readonly settings: HistogramConfig;
  readonly rows: number;
  readonly buffer: SharedArrayBuffer;
}

/**
 * Counts of a message-size histogram, as `world.stats().histogram` returns them and the exit
 * print shows them.
 *
 * @example
 * ```ts
 * const histogram = world.stats().histogram; // undefined unless SHOAL_HISTOGRAM=1
 * if (histogram !== undefined) {
 *   histogram.bins.forEach((bound, k) => console.log(`≤ ${bound} bytes: ${histogram.counts.shm[k]} frames`));
 * }
 * ```
 */
export interface HistogramSnapshot {
  /**
   * The bins' labels, in bytes: bin `k` counts messages of more than `bins[k - 1]` and at most
   * `bins[k]` bytes; the first bin counts every message up to `bins[0]`, the last every message
   * above `bins[bins.length - 2]`, however large.
   */
  readonly bins: readonly number[];
  /** Per connection type, the count of each bin (all zeros for a type the settings do not count). */
  readonly counts: Readonly<Record<ConnectionType, readonly number[]>>;
  /** The settings the histogram was collected with. */
  readonly settings: HistogramConfig;
}

/**
 * The bins' labels for `settings`, as ParaStation computes them: `min`, then each label shifted
 * left by `shift` bits while the previous one is below `max`.
 *
 * @example
 * ```ts
 * histogramBins({ min: 64, max: 4096, shift: 2, contype: undefined }); // [64, 256, 1024, 4096]
 * ```
 */
export function histogramBins(settings: HistogramConfig): number[] {
  const step = 2 ** settings.shift;
  const bins = [settings.min];
  for (let limit = settings.min; limit < settings.max; ) {
    limit *= step;
    bins.push(limit);
  }
  return bins;
}

/**
 * A message-size histogram shared by the threads of one process: one row of counters per PE,
 * one column of bins per connection type.
 *
 * @example
 * ```ts
 * const histogram = MessageHistogram.create({ min: 64, max: 4096, shift: 2, contype: undefined }, 2);
 * histogram.count(0, kConnection.shm, 100); // a 100-byte message of PE 0 of the process, in bin 256
 * const other = MessageHistogram.attach(histogram.share()); // on another thread
 * console.log(other.snapshot().counts.shm); // [0, 1, 0, 0]
 * ```
 */
export class MessageHistogram {
  readonly settings: HistogramConfig;
  /** The bins' labels (see {@link HistogramSnapshot.bins}). */
  readonly bins: readonly number[];
  /** The number of rows (PEs of the process). */
  readonly rows: number;
  readonly #buffer: SharedArrayBuffer;
  readonly #cells: BigUint64Array;
  readonly #limits: Float64Array;
  readonly #last: number;

  private constructor(share: HistogramShare) {
    this.settings = share.settings;
    this.rows = share.rows;
    this.bins = Object.freeze(histogramBins(share.settings));
    this.#buffer = share.buffer;
    this.#cells = new BigUint64Array(share.buffer);
    this.#limits = Float64Array.from(this.bins);
    this.#last = this.bins.length - 1;
    const expected = share.rows * kConnectionTypes.length * this.bins.length;
    if (this.#cells.length !== expected) {
      throw new ShoalRangeError(`MessageHistogram: expected a buffer of ${expected} counters for ${share.rows} rows of ${this.bins.length} bins, got ${this.#cells.length}`);
    }
  }

  /** A new histogram of `rows` rows, zeroed, for `settings`. */
  static create(settings: HistogramConfig, rows: number): MessageHistogram {
    const cells = rows * kConnectionTypes.length * histogramBins(settings).length;
    return new MessageHistogram({ settings: Object.freeze({ ...settings }), rows, buffer: new SharedArrayBuffer(cells * 8) });
  }

  /** The histogram that `share` describes, created on another thread: both count into the same cells. */
  static attach(share: HistogramShare): MessageHistogram {
    return new MessageHistogram(share);
  }

  /** What another thread needs to {@link attach} to this histogram. */
  share(): HistogramShare {
    return { settings: this.settings, rows: this.rows, buffer: this.#buffer };
  }

  /** Whether messages of connection type `type` are counted (`SHOAL_HISTOGRAM_CONTYPE` may exclude it). */
  counts(type: ConnectionType): boolean {
    return this.settings.contype === undefined || this.settings.contype === type;
  }

  /** The bin of a message of `bytes` bytes: the first whose label is at least `bytes`, else the last. */
  binOf(bytes: number): number {
    const limits = this.#limits;
    const last = this.#last;
    let bin = 0;
    while (bin < last && bytes > limits[bin]!) bin++;
    return bin;
  }

  /**
   * Counts one message of `bytes` bytes on `connection` for `row`. Only the one thread that writes
   * that row's cells of that connection may call it (see the module's comment); callers skip a
   * connection type that {@link counts} excludes.
   */
  count(row: number, connection: ConnectionIndex, bytes: number): void {
    Atomics.add(this.#cells, (row * kConnectionTypes.length + connection) * this.bins.length + this.binOf(bytes), 1n);
  }

  /** The counts of rows `first .. first + rowCount - 1`, summed (default: every row, the whole process). */
  snapshot(first = 0, rowCount = this.rows - first): HistogramSnapshot {
    const bins = this.bins.length;
    const counts = {} as Record<ConnectionType, number[]>;
    for (const [connection, type] of kConnectionTypes.entries()) {
      const column = new Array<number>(bins).fill(0);
      for (let row = first; row < first + rowCount; row++) {
        const base = (row * kConnectionTypes.length + connection) * bins;
        for (let bin = 0; bin < bins; bin++) column[bin]! += Number(Atomics.load(this.#cells, base + bin));
      }
      counts[type] = column;
    }
    return { bins: [...this.bins], counts, settings: this.settings };
  }
}
