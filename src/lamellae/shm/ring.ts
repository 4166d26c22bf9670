/**
 * A bounded multi-producer, single-consumer byte ring on a `SharedArrayBuffer`: each PE's one
 * inbound queue. Producers are any PE of the process (the owner too); the consumer is the owner.
 *
 * ## Layout (offsets in bytes from the start of the ring's buffer)
 *
 * ```
 *   0  TAIL      i32  reservation counter, bytes, wraps at 2^32    written by producers (CAS)
 *  64  HEAD      i32  consumption counter, bytes, wraps at 2^32    written by the consumer only
 * 128  SLEEPING  i32  1 while the consumer sleeps or is about to    written by the consumer only
 * 132  DOORBELL  i32  bumped by whoever wakes the consumer          futex word of the sleep
 * 136  WAITERS   i32  producers blocked on a full ring             producers (add/sub)
 * 192  data      capacity bytes (a power of two)
 * ```
 * TAIL and HEAD sit on separate 64-byte lines so producers and the consumer do not share one.
 *
 * ## Records
 *
 * A record starts at an 8-byte aligned position and is `total` bytes long (a multiple of 8):
 * ```
 * +0  i32  state: 0 = not yet written, > 0 = committed record of `state` bytes,
 *                 < 0 = padding of `-state` bytes up to the end of the data area
 * +4  i32  payload length in bytes
 * +8  payload
 * ```
 * A record never wraps: when it does not fit before the end of the data area, the producer
 * reserves the rest of the area as padding as well, and writes the record at offset 0.
 *
 * ## Memory-ordering contract
 *
 * JavaScript's `Atomics` operations are sequentially consistent, and an `Atomics` load that sees an
 * `Atomics` store synchronizes with it: plain writes made before the store are visible to plain
 * reads made after the load.
 *
 * 1. A producer owns the bytes `[tail, tail + need)` once its `compareExchange` on TAIL succeeds.
 *    It has checked `tail + need - HEAD <= capacity` first, so those bytes have been consumed.
 * 2. The producer writes the payload with plain stores, then publishes the record with one
 *    `Atomics.store` of its state word (release). The consumer reads the state word with
 *    `Atomics.load` (acquire); a non-zero value means every payload byte is visible.
 * 3. The consumer copies a payload out, zeroes every byte it consumed, then advances HEAD with
 *    `Atomics.store`. So a producer that sees the new HEAD also sees zeros there, and a state word
 *    of 0 always means "not yet written", never a stale record of an earlier lap. A producer may
 *    use an older HEAD it read (free space is then underestimated, never overestimated).
 * 4. Records may be committed out of order (two producers); the consumer stops at the first
 *    uncommitted one and resumes there, so records from one producer stay in the order that
 *    producer reserved them.
 * 5. Sleep (no lost wake-up, a Dekker pair): the consumer stores SLEEPING = 1, then loads the next
 *    state word, and sleeps on DOORBELL only if it is still 0. A producer stores its state word,
 *    then loads SLEEPING, and if it is 1 bumps DOORBELL and notifies. Under sequential consistency
 *    at least one of them sees the other's store. The consumer passes the DOORBELL value read
 *    before its check to `waitAsync`, so a bump in between makes the wait return at once.
 * 6. A producer that finds the ring full increments WAITERS and waits on HEAD; a consumer that
 *    advances HEAD while WAITERS > 0 notifies HEAD.
 *
 * @module
 */
import { TransportError } from "../../errors.js";
import { alignUp, isPowerOfTwo } from "../../util/index.js";

const TAIL = 0;
const HEAD = 16;
const SLEEPING = 32;
const DOORBELL = 33;
const WAITERS = 34;
/** Bytes before the data area. */
export const kRingHeaderBytes = 192;
/** Bytes of a record header. */
export const kRecordHeaderBytes = 8;

/** The bytes a ring of `capacity` data bytes occupies. */
export function ringByteLength(capacity: number): number {
  return kRingHeaderBytes + capacity;
}

/** Below this many bytes, a loop copies faster than creating a subarray for `set`. */
const kSmallBytes = 256;

/** Copies `length` bytes from `source[from..]` to `target[to..]`. */
export function copyBytes(source: Uint8Array, from: number, target: Uint8Array, to: number, length: number): void {
  if (length <= kSmallBytes) {
    for (let i = 0; i < length; i++) target[to + i] = source[from + i]!;
  } else {
    target.set(source.subarray(from, from + length), to);
  }
}

/** One view of a ring; every PE that sends to it, and its owner, holds one over the same buffer. */
export class Ring {
  readonly capacity: number;
  readonly #mask: number;
  readonly #control: Int32Array;
  readonly #words: Int32Array;
  /** The data area as bytes, for producers to write payloads and the consumer to read them. */
  readonly bytes: Uint8Array;
  /**
   * Producer: the last HEAD this view read. HEAD only grows, so a stale copy only underestimates
   * the free space; HEAD is read again only when the copy says the ring is full. This keeps the
   * consumer's HEAD line from crossing cores on every send.
   */
  #knownHead = 0;
  /** Consumer: HEAD, which only the consumer writes. */
  #head = 0;

  constructor(buffer: SharedArrayBuffer, byteOffset = 0, capacity = buffer.byteLength - byteOffset - kRingHeaderBytes) {
    if (!isPowerOfTwo(capacity) || capacity < 1024) {
      throw new TransportError(`ring capacity must be a power of two of at least 1024 bytes, got ${capacity}`);
    }
    this.capacity = capacity;
    this.#mask = capacity - 1;
    this.#control = new Int32Array(buffer, byteOffset, kRingHeaderBytes / 4);
    this.#words = new Int32Array(buffer, byteOffset + kRingHeaderBytes, capacity / 4);
    this.bytes = new Uint8Array(buffer, byteOffset + kRingHeaderBytes, capacity);
    this.#knownHead = Atomics.load(this.#control, HEAD);
    this.#head = this.#knownHead;
  }

  /** The largest payload one record can hold. */
  get maxPayload(): number {
    return this.capacity / 2 - kRecordHeaderBytes;
  }

  /**
   * Producer: reserves a record for `length` payload bytes. Returns the byte offset of the payload
   * in {@link bytes}, or -1 when the ring has no room now. The caller writes the payload there and
   * then calls {@link commit} with the same offset.
   */
  reserve(length: number): number {
    const total = alignUp(kRecordHeaderBytes + length, 8);
    if (total > this.capacity / 2) {
      throw new TransportError(`a frame of ${length} bytes does not fit a ring of ${this.capacity} bytes (at most ${this.maxPayload})`);
    }
    const control = this.#control;
    for (;;) {
      const tail = Atomics.load(control, TAIL);
      const position = tail & this.#mask;
      const untilEnd = this.capacity - position;
      const need = total <= untilEnd ? total : untilEnd + total;
      if (((tail - this.#knownHead) | 0) + need > this.capacity) {
        this.#knownHead = Atomics.load(control, HEAD);
        if (((tail - this.#knownHead) | 0) + need > this.capacity) return -1;
      }
      if (Atomics.compareExchange(control, TAIL, tail, (tail + need) | 0) !== tail) continue;
      let start = position;
      if (need !== total) {
        Atomics.store(this.#words, position >> 2, -untilEnd);
        start = 0;
      }
      this.#words[(start >> 2) + 1] = length;
      return start + kRecordHeaderBytes;
    }
  }

  /** Producer: publishes the record whose payload starts at `payloadOffset`. Returns whether the consumer must be woken. */
  commit(payloadOffset: number, length: number): boolean {
    const start = payloadOffset - kRecordHeaderBytes;
    Atomics.store(this.#words, start >> 2, alignUp(kRecordHeaderBytes + length, 8));
    return Atomics.load(this.#control, SLEEPING) === 1;
  }

  /**
   * Consumer: copies the next committed payload into `into` (at least {@link maxPayload} bytes),
   * frees its space, and returns its length; returns -1 when no record is committed. Copying out
   * before handling lets a handler that blocks on a full ring still free this ring's space.
   */
  readNext(into: Uint8Array): number {
    const control = this.#control;
    const words = this.#words;
    let head = this.#head;
    for (;;) {
      const position = head & this.#mask;
      const state = Atomics.load(words, position >> 2);
      if (state === 0) return -1;
      let length = -1;
      let size = -state;
      if (state > 0) {
        size = state;
        length = words[(position >> 2) + 1]!;
        const start = position + kRecordHeaderBytes;
        copyBytes(this.bytes, start, into, 0, length);
      }
      const first = position >> 2;
      const end = (position + size) >> 2;
      if (size <= kSmallBytes) for (let i = first; i < end; i++) words[i] = 0;
      else words.fill(0, first, end);
      head = (head + size) | 0;
      this.#head = head;
      Atomics.store(control, HEAD, head);
      if (Atomics.load(control, WAITERS) > 0) Atomics.notify(control, HEAD);
      if (length >= 0) return length;
    }
  }

  /**
   * Consumer: copies every committed record into `into` (one array each, via `scratch` of at least
   * {@link maxPayload} bytes), freeing the ring. For a consumer that must make room in its own
   * ring while it waits for room in another.
   */
  moveAside(into: Uint8Array[], scratch: Uint8Array): void {
    for (;;) {
      const length = this.readNext(scratch);
      if (length < 0) return;
      into.push(scratch.slice(0, length));
    }
  }

  /** Consumer: whether a committed record (or padding) is waiting. */
  hasData(): boolean {
    return Atomics.load(this.#words, (this.#head & this.#mask) >> 2) !== 0;
  }

  /**
   * Consumer: announces sleep. Returns the doorbell value to wait on, or -1 when data arrived
   * meanwhile (then the consumer must not sleep; SLEEPING is already cleared).
   */
  prepareSleep(): number {
    const doorbell = Atomics.load(this.#control, DOORBELL);
    Atomics.store(this.#control, SLEEPING, 1);
    if (this.hasData()) {
      Atomics.store(this.#control, SLEEPING, 0);
      return -1;
    }
    return doorbell;
  }

  /** Consumer: sleeps asynchronously until the doorbell moves from `doorbell`, or `timeoutMs` passes. */
  sleepAsync(doorbell: number, timeoutMs: number): Promise<unknown> {
    const result = Atomics.waitAsync(this.#control, DOORBELL, doorbell, timeoutMs);
    return result.async ? result.value : Promise.resolve(result.value);
  }

  /** Consumer: ends a sleep (whatever woke it). */
  endSleep(): void {
    Atomics.store(this.#control, SLEEPING, 0);
  }

  /**
   * Anyone, after storing what the consumer waits for: wakes it only if it sleeps. Its
   * `prepareSleep` stores SLEEPING before it checks for work, and this loads SLEEPING after the
   * caller's store, so one of the two sees the other's (both are sequentially consistent).
   */
  wakeIfSleeping(): void {
    if (Atomics.load(this.#control, SLEEPING) !== 0) this.wake();
  }

  /** Anyone: wakes the consumer if it sleeps (or is about to). */
  wake(): void {
    Atomics.add(this.#control, DOORBELL, 1);
    Atomics.notify(this.#control, DOORBELL);
  }

  /**
   * Producer, on a worker thread: blocks for at most `timeoutMs` until the consumer frees space.
   * Returns at once if HEAD has already moved from `head`.
   */
  waitForSpace(timeoutMs: number): void {
    const control = this.#control;
    const head = Atomics.load(control, HEAD);
    Atomics.add(control, WAITERS, 1);
    Atomics.wait(control, HEAD, head, timeoutMs);
    Atomics.sub(control, WAITERS, 1);
  }
}
