/**
 * The shared-memory transport: PEs that are worker threads of one process exchange frames through
 * one inbound {@link Ring} per PE, and move large payloads by reference.
 *
 * - **Small frames** are copied into the destination's ring (one copy), and out of it by the
 *   destination (a copy into its scratch buffer, so its handlers never read ring memory).
 * - **Large payloads** (typed arrays of at least `largeBytes`, and frames too big for a ring
 *   record) are copied once into a fresh `SharedArrayBuffer` that is posted on a `MessagePort`
 *   dedicated to the (source, destination) pair. The port's queue is filled synchronously by
 *   `postMessage`, and the sender posts before it commits the frame that refers to the payload,
 *   so the destination takes it with `receiveMessageOnPort` without waiting, in the order sent.
 *   The destination owns that buffer; nothing is copied again.
 * - **Frames to oneself** skip the ring: they wait in a local queue.
 * - **Back-pressure**: a sender that finds a ring full waits until it has room. While it waits it
 *   moves its own inbound records into a local overflow queue, so two PEs that send to each
 *   other's full rings both make room and neither waits forever. The overflow holds at most what
 *   other PEs could send while this one was blocked, and is handled before the ring.
 *
 * @module
 */
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";

import { PeFailureError, TransportError } from "../../errors.js";
import { frameSourceOf, isFrameByReference, kFrameByReference, kFrameHeaderBytes, writeFrameHeader } from "../frame.js";
import { kAbort, kProcessArrived } from "./job.js";
import { Ring, copyBytes, ringByteLength } from "./ring.js";
import { MessageHistogram, kConnection, type HistogramShare, type HistogramSnapshot } from "../../stats/index.js";
import { DirectLink } from "../nng/direct.js";

/**
 * What a PE needs to join a job; built by the launcher, passed in `workerData`. Rings and ports are
 * indexed by *local* PE: `pe - firstPe`. In a one-process job `firstPe` is 0 and every PE is local.
 */
export interface ShmEndpoint {
  /** This PE's number in the job. */
  readonly pe: number;
  /** The number of PEs in the job (every process's). */
  readonly numPes: number;
  /** The job number of this process's first PE; its PEs are `firstPe .. firstPe + rings.length - 1`. */
  readonly firstPe?: number;
  /** The process control block (see job.ts). */
  readonly control: SharedArrayBuffer;
  /** The inbound ring of every PE of this process, by local PE. */
  readonly rings: readonly SharedArrayBuffer[];
  /** `portsOut[d]` sends large payloads to local PE d. */
  readonly portsOut: readonly MessagePort[];
  /** `portsIn[s]` receives large payloads from local PE s. */
  readonly portsIn: readonly MessagePort[];
  /** The way to the process's IO worker, in a job of several processes. */
  readonly io?: IoEndpoint;
  /**
   * The process's message-size histogram, when `SHOAL_HISTOGRAM=1`: one row per local PE. This PE
   * counts its row's `shm` cells (every frame it sends to a PE of its process, itself included);
   * the IO worker counts the frames it carries to other processes.
   */
  readonly histogram?: HistogramShare;
}

/** A PE's way to its process's IO worker, which carries its frames to and from other processes. */
export interface IoEndpoint {
  /** The IO worker's inbound ring: frames for PEs of other processes, each behind a {@link kRouteBytes} route. */
  readonly ring: SharedArrayBuffer;
  /** Sends large payloads (and frames too large for a ring record) to the IO worker. */
  readonly toIo: MessagePort;
  /** Receives the large payloads of frames from other processes, in the order their frames arrive. */
  readonly fromIo: MessagePort;
  /** Whether the PE opens its direct lane (nng/direct.ts) for small frames to other processes. */
  readonly direct?: boolean;
}

/**
 * Bytes of the route before a frame in the IO worker's ring:
 * ```
 *  0  u32  destination PE (job number)
 *  4  u32  source PE (job number): the IO worker takes the posted payloads from its port
 *  8  u16  number of large payloads posted to the IO worker for this frame (after the frame itself, if by reference)
 * 10  u16  flags: bit 0 = the frame itself was posted (it was too large for a record);
 *                  bit 1 = no frame: a message for the IO worker itself was posted (see {@link ShmTransport.tellIoWorker})
 * 12  u32  0
 * ```
 */
export const kRouteBytes = 16;
/** Route flag: the frame travels on the side channel. */
export const kRouteFrameByReference = 1;
/** Route flag: the record carries no frame; one message for the IO worker itself was posted. */
export const kRouteControl = 2;

/** A copy of `bytes[0..length)` in a new SharedArrayBuffer: how a large payload is made. */
export function copyToShared(bytes: Uint8Array, length: number): SharedArrayBuffer {
  const copy = new SharedArrayBuffer(length);
  new Uint8Array(copy).set(bytes.subarray(0, length));
  return copy;
}

/** The size of a frame as the message-size histogram counts it: its bytes and its large payloads'. */
export function frameBytes(length: number, payloads: readonly SharedArrayBuffer[]): number {
  let bytes = length;
  for (const payload of payloads) bytes += payload.byteLength;
  return bytes;
}

/** Creates the buffers of a ring of `capacity` data bytes. */
export function createRingBuffer(capacity: number): SharedArrayBuffer {
  return new SharedArrayBuffer(ringByteLength(capacity));
}

/** Why a failed job is ending, as PeFailureError detail; set by whoever sees the failure. */
export type AbortReason = () => string;

/** Callback that receives one frame: `bytes[0..length)`, valid only during the call. */
export type FrameHandler = (bytes: Uint8Array, length: number) => void;

/**
 * Counters of what this PE's transport moved.
 *
 * @example
 * ```ts
 * const { framesSent, bytesSent } = world.stats().transport;
 * ```
 */
export interface TransportCounters {
  framesSent: number;
  bytesSent: number;
  framesReceived: number;
  largePayloads: number;
  blockedSends: number;
  /** Frames sent to PEs of other processes on the direct lane (lamellae/nng/direct.ts), past both IO workers. */
  directSent: number;
  /** Frames from PEs of other processes taken from the direct lane's sink, past both IO workers. */
  directReceived: number;
}

/** The shared-memory transport of one PE. */
export class ShmTransport {
  readonly pe: number;
  readonly numPes: number;
  /** The job control block as words. */
  readonly control: Int32Array;
  readonly counters: TransportCounters = { framesSent: 0, bytesSent: 0, framesReceived: 0, largePayloads: 0, blockedSends: 0, directSent: 0, directReceived: 0 };
  /** The job number of this process's first PE. */
  readonly firstPe: number;
  /** The number of PEs of this process. */
  readonly localPes: number;
  readonly #rings: Ring[];
  readonly #own: Ring;
  readonly #io: Ring | undefined;
  readonly #toIo: MessagePort | undefined;
  readonly #fromIo: MessagePort | undefined;
  /** The direct lane to other processes' PEs, when open. */
  readonly #direct: DirectLink | undefined;
  /** Records given to the IO worker so far, modulo 2^32 (the direct lane's order rule). */
  #ioPosted = 0;
  readonly #route = new DataView(new ArrayBuffer(kRouteBytes));
  readonly #scratch: Uint8Array;
  /** A second scratch for stealing: a blocked send may happen while a frame in #scratch is being handled. */
  #stealScratch: Uint8Array | undefined;
  readonly #portsOut: readonly MessagePort[];
  readonly #portsIn: readonly MessagePort[];
  readonly #overflow: Uint8Array[] = [];
  readonly #local: Uint8Array[] = [];
  readonly #canBlock: boolean;
  /** The process's histogram (when on), for {@link histogramCounts}. */
  readonly #histogram: MessageHistogram | undefined;
  /** The same, when it counts `shm` frames: a send tests only this. */
  readonly #shmHistogram: MessageHistogram | undefined;
  #abortReason: AbortReason = () => "another PE failed";

  constructor(endpoint: ShmEndpoint, canBlock: boolean) {
    this.pe = endpoint.pe;
    this.numPes = endpoint.numPes;
    this.control = new Int32Array(endpoint.control);
    this.firstPe = endpoint.firstPe ?? 0;
    this.localPes = endpoint.rings.length;
    this.#rings = endpoint.rings.map((buffer) => new Ring(buffer));
    this.#own = this.#rings[this.pe - this.firstPe]!;
    if (endpoint.io !== undefined) {
      this.#io = new Ring(endpoint.io.ring);
      this.#toIo = endpoint.io.toIo;
      this.#fromIo = endpoint.io.fromIo;
      if (endpoint.io.direct === true) {
        // At most a ring's worth queued on the lane: beyond it, the IO worker's ring holds the PE back.
        // Frames in the sink while the PE sleeps ring its own doorbell, which ends the sleep. (Resuming
        // the engine from this callback instead was measured slower: 1.38-1.40x raw NNG, not 1.22-1.26x.)
        const own = this.#own;
        this.#direct = DirectLink.open(this.pe, this.pe - this.firstPe, this.localPes, endpoint.rings[0]!.byteLength, () => own.wake());
      }
    }
    this.#scratch = new Uint8Array(this.#own.maxPayload);
    this.#portsOut = endpoint.portsOut;
    this.#portsIn = endpoint.portsIn;
    this.#canBlock = canBlock;
    this.#histogram = endpoint.histogram === undefined ? undefined : MessageHistogram.attach(endpoint.histogram);
    this.#shmHistogram = this.#histogram?.counts("shm") === true ? this.#histogram : undefined;
  }

  /**
   * This PE's row of the process's message-size histogram: the frames it sent to PEs of its
   * process, and those the IO worker carried for it to other processes (with the replies the IO
   * worker served on its behalf). `undefined` when `SHOAL_HISTOGRAM` is off.
   */
  histogramCounts(): HistogramSnapshot | undefined {
    return this.#histogram?.snapshot(this.pe - this.firstPe, 1);
  }

  /** Sets what a PeFailureError raised by this transport says. */
  set abortReason(reason: AbortReason) {
    this.#abortReason = reason;
  }

  /** Whether the job has other processes (so a barrier needs the IO worker). */
  get multiProcess(): boolean {
    return this.#io !== undefined;
  }

  /** Whether PE `pe` belongs to this process. */
  isLocal(pe: number): boolean {
    return pe - this.firstPe >>> 0 < this.localPes;
  }

  /**
   * The last of this process's PEs arrived at the barrier of generation `generation`: tells the IO
   * worker, which raises the generation once every process has arrived.
   */
  processArrived(generation: number): void {
    Atomics.store(this.control, kProcessArrived, generation + 1);
    this.#io!.wake();
  }

  /**
   * Posts `message` to this process's IO worker, in order with the frames this PE sends to other
   * processes (a record in its ring says when to take it). For what the IO worker serves itself,
   * such as the arrays whose far operations it applies (see io/service.ts).
   */
  tellIoWorker(message: unknown): void {
    const io = this.#io;
    if (io === undefined) throw new TransportError(`PE ${this.pe} has no IO worker to tell: this job has one process`);
    this.#toIo!.postMessage(message);
    const route = this.#route;
    route.setUint32(0, 0xffff_ffff, true);
    route.setUint32(4, this.pe, true);
    route.setUint16(8, 0, true);
    route.setUint16(10, kRouteControl, true);
    route.setUint32(12, 0, true);
    let offset = io.reserve(kRouteBytes);
    if (offset < 0) offset = this.#reserveBlocking(io, kRouteBytes);
    copyBytes(new Uint8Array(route.buffer), 0, io.bytes, offset, kRouteBytes);
    this.#ioPosted = (this.#ioPosted + 1) | 0;
    if (io.commit(offset, kRouteBytes)) io.wake();
  }

  /** Closes the direct lane, if open (after the PE's last frame: see nng/direct.ts). */
  close(): void {
    this.#direct?.close();
  }

  /** The failed PE, or -1 while the job runs. */
  failedPe(): number {
    return Atomics.load(this.control, kAbort) - 1;
  }

  /**
   * Sends `frame[0..length)` to `dest`, with the large payloads its messages refer to (in the
   * order they refer to them). The frame is copied; the caller may reuse it at once. Blocks
   * (making room in its own ring meanwhile) while the destination's ring is full.
   *
   * Side-channel order: a frame that travels by reference is posted first, then its payloads;
   * all are posted before the ring record that announces the frame. So the receiver, which takes
   * the frame when it reads the record and each payload when it decodes the value, takes them in
   * the order they were posted.
   */
  send(dest: number, frame: Uint8Array, length: number, payloads: readonly SharedArrayBuffer[] = []): void {
    this.counters.framesSent++;
    this.counters.bytesSent += length;
    const local = dest - this.firstPe;
    if (local >>> 0 >= this.localPes) {
      this.#sendFar(dest, frame, length, payloads);
      return;
    }
    // Off, the histogram costs this one branch, always taken the same way.
    if (this.#shmHistogram !== undefined) this.#shmHistogram.count(this.pe - this.firstPe, kConnection.shm, frameBytes(length, payloads));
    const ring = this.#rings[local]!;
    const byReference = length > ring.maxPayload;
    if (byReference) this.#post(dest, copyToShared(frame, length));
    for (const payload of payloads) this.#post(dest, payload);
    if (byReference) {
      const header = new Uint8Array(kFrameHeaderBytes);
      writeFrameHeader(new DataView(header.buffer), this.pe, kFrameByReference, 0);
      this.#enqueue(dest, ring, header, kFrameHeaderBytes);
    } else {
      this.#enqueue(dest, ring, frame, length);
    }
  }

  /**
   * A frame for a PE of another process goes to the IO worker's ring behind its route; its large
   * payloads (and the frame itself when too large for a record) are posted to the IO worker first,
   * in the order the IO worker takes them.
   */
  #sendFar(dest: number, frame: Uint8Array, length: number, payloads: readonly SharedArrayBuffer[]): void {
    const io = this.#io;
    if (io === undefined) throw new TransportError(`PE ${this.pe} cannot reach PE ${dest}: this process has no IO worker`);
    const direct = this.#direct;
    // The direct lane takes frames without large payloads that fit in a record of the receiver's ring.
    if (direct !== undefined && payloads.length === 0 && length <= this.#own.maxPayload && direct.send(dest, frame, length, this.#ioPosted)) {
      this.counters.directSent++;
      return;
    }
    const byReference = kRouteBytes + length > io.maxPayload;
    if (byReference) {
      this.counters.largePayloads++;
      this.#toIo!.postMessage(copyToShared(frame, length));
    }
    for (const payload of payloads) {
      this.counters.largePayloads++;
      this.#toIo!.postMessage(payload);
    }
    const route = this.#route;
    route.setUint32(0, dest, true);
    route.setUint32(4, this.pe, true);
    route.setUint16(8, payloads.length, true);
    route.setUint16(10, byReference ? kRouteFrameByReference : 0, true);
    route.setUint32(12, 0, true);
    const recordLength = byReference ? kRouteBytes : kRouteBytes + length;
    let offset = io.reserve(recordLength);
    if (offset < 0) offset = this.#reserveBlocking(io, recordLength);
    copyBytes(new Uint8Array(route.buffer), 0, io.bytes, offset, kRouteBytes);
    if (!byReference) copyBytes(frame, 0, io.bytes, offset + kRouteBytes, length);
    this.#ioPosted = (this.#ioPosted + 1) | 0;
    if (io.commit(offset, recordLength)) io.wake();
  }

  #enqueue(dest: number, ring: Ring, frame: Uint8Array, length: number): void {
    if (dest === this.pe) {
      this.#local.push(frame.slice(0, length));
      return;
    }
    let offset = ring.reserve(length);
    if (offset < 0) offset = this.#reserveBlocking(ring, length);
    copyBytes(frame, 0, ring.bytes, offset, length);
    if (ring.commit(offset, length)) ring.wake();
  }

  #reserveBlocking(ring: Ring, length: number): number {
    this.counters.blockedSends++;
    for (let attempt = 0; ; attempt++) {
      if (this.failedPe() >= 0) throw new PeFailureError(this.failedPe(), this.#abortReason());
      this.#stealOwn();
      const offset = ring.reserve(length);
      if (offset >= 0) return offset;
      if (attempt < 64) continue;
      ring.wake();
      if (this.#canBlock) ring.waitForSpace(1);
    }
  }

  /** Moves committed records of this PE's own ring into the overflow queue, freeing the ring. */
  #stealOwn(): void {
    this.#own.moveAside(this.#overflow, (this.#stealScratch ??= new Uint8Array(this.#own.maxPayload)));
  }

  #post(dest: number, payload: SharedArrayBuffer): void {
    this.counters.largePayloads++;
    this.#portsOut[dest - this.firstPe]!.postMessage(payload);
  }

  /** Takes the next large payload shipped by `src` (through the IO worker when `src` is in another process). */
  takeLarge(src: number): SharedArrayBuffer {
    const local = src - this.firstPe;
    const port = local >>> 0 < this.localPes ? this.#portsIn[local]! : this.#fromIo;
    const received = port === undefined ? undefined : receiveMessageOnPort(port);
    if (received === undefined) {
      throw new TransportError(`PE ${this.pe} expected a large payload from PE ${src}, but none was shipped`);
    }
    return received.message as SharedArrayBuffer;
  }

  /**
   * Hands up to `limit` waiting frames to `handler`: the direct lane's sink (see nng/direct.ts),
   * the local queue, the overflow, then the ring. Returns the number handled.
   */
  poll(handler: FrameHandler, limit: number): number {
    let handled = 0;
    const direct = this.#direct;
    if (direct !== undefined) {
      for (let length; handled < limit && (length = direct.take(this.#scratch)) >= 0; handled++) {
        this.counters.directReceived++;
        handler(this.#scratch, length);
      }
    }
    while (handled < limit) {
      let frame: Uint8Array | undefined;
      if (this.#local.length > 0) frame = this.#local.shift();
      else if (this.#overflow.length > 0) frame = this.#overflow.shift();
      if (frame !== undefined) {
        // Hand frames over in the same scratch buffer where they fit, so the reader keeps one
        // DataView; a frame to oneself can be larger than a ring record.
        if (frame.byteLength <= this.#scratch.byteLength) {
          copyBytes(frame, 0, this.#scratch, 0, frame.byteLength);
          this.#deliver(handler, this.#scratch, frame.byteLength);
        } else {
          this.#deliver(handler, frame, frame.byteLength);
        }
      } else {
        const length = this.#own.readNext(this.#scratch);
        if (length < 0) break;
        this.#deliver(handler, this.#scratch, length);
      }
      handled++;
    }
    this.counters.framesReceived += handled;
    return handled;
  }

  #deliver(handler: FrameHandler, bytes: Uint8Array, length: number): void {
    if (isFrameByReference(bytes)) {
      const frame = new Uint8Array(this.takeLarge(frameSourceOf(bytes)));
      handler(frame, frame.byteLength);
      return;
    }
    handler(bytes, length);
  }

  /** Whether a frame is waiting. */
  hasWork(): boolean {
    return this.#local.length > 0 || this.#overflow.length > 0 || this.#own.hasData() || this.#direct?.pending === true;
  }

  /**
   * Sleeps until a frame arrives, something calls {@link wake} on this PE, or `timeoutMs` passes.
   * Returns `null` when a frame is already waiting (do not sleep).
   */
  sleep(timeoutMs: number): Promise<unknown> | null {
    if (this.#local.length > 0 || this.#overflow.length > 0) return null;
    const direct = this.#direct;
    // The direct lane's sleep: announced before the ring is checked, committed after (nng/direct.ts).
    direct?.aboutToSleep();
    const doorbell = this.#own.prepareSleep();
    if (doorbell === -1) {
      direct?.awake();
      return null;
    }
    if (direct !== undefined && (direct.pending || !direct.commitSleep())) {
      direct.awake();
      this.#own.endSleep();
      return null;
    }
    return this.#own.sleepAsync(doorbell, timeoutMs);
  }

  /** Ends a sleep started by {@link sleep}. */
  endSleep(): void {
    this.#direct?.awake();
    this.#own.endSleep();
  }

  /** Wakes PE `pe` (of this process) if it sleeps. */
  wake(pe: number): void {
    this.#rings[pe - this.firstPe]!.wake();
  }

  /** Wakes PE `pe` (of this process) if it sleeps, after the caller stored what it waits for (see Ring.wakeIfSleeping). */
  wakeIfSleeping(pe: number): void {
    this.#rings[pe - this.firstPe]!.wakeIfSleeping();
  }

  /** Wakes every PE of this process that sleeps. */
  wakeAll(): void {
    for (const ring of this.#rings) ring.wake();
  }
}

/**
 * Marks the job as failed because of `failedPe` (the first caller wins) and wakes every PE of the
 * process (and the IO worker, when its ring is among `rings`), so each rejects its pending
 * handles. Returns whether this call was the first. Callable from any thread, the launcher's main
 * thread included.
 */
export function signalAbort(control: SharedArrayBuffer, rings: readonly SharedArrayBuffer[], failedPe: number): boolean {
  const words = new Int32Array(control);
  if (Atomics.compareExchange(words, kAbort, 0, failedPe + 1) !== 0) return false;
  for (const buffer of rings) new Ring(buffer).wake();
  return true;
}
