/**
 * The IO worker of a process of a multi-process job: one thread that owns the process's
 * connections to the other processes (one authenticated NNG pipe per pair, see nng/mesh.ts) and
 * carries every frame between this process's PEs and theirs.
 *
 * - **Outbound.** A PE sends a frame for a PE of another process into the IO worker's ring, behind
 *   a route (`kRouteBytes`: destination, source, payload count); its large payloads come on the
 *   PE's port, posted before the record. The IO worker appends each frame to the stream of the
 *   destination's process (wire.ts), so frames of all its PEs to one process travel together, and
 *   sends the streams whenever its ring is empty (or a stream's buffer of `SHOAL_MTU` bytes fills).
 * - **Inbound.** It parses each process's stream and writes every frame into the destination PE's
 *   ring as one more producer, its payloads posted first on the PE's port from the IO worker; a
 *   frame too large for a ring record travels by reference, as inside a process.
 * - **Served here.** A {@link FrameServer} (the arrays' far operations, array/far-ops.ts) may
 *   answer a frame itself, from the memory the process's PEs share: its reply frame goes straight
 *   back to the source PE, and the destination PE is not woken. PEs tell the server what it needs
 *   to know with `ShmTransport.tellIoWorker`, in order with their frames.
 * - **Barriers.** When the last PE of this process arrives at a barrier it stores PROCESS_ARRIVED
 *   and wakes the IO worker, which tells every other process (ARRIVE, with this process's PEs'
 *   arrival words: their active-message hashes, so `init` can compare every PE's, and their node
 *   and module, for the topology). Once every process has arrived at that
 *   generation, it raises the generation and wakes the PEs.
 * - **Failures.** An ABORT from another process, or the loss of its connection before it said
 *   GOODBYE, raises this process's abort flag (so every PE rejects its pending handles) and is
 *   reported to the launcher's thread, which ends the process.
 * - **Heartbeats.** A process that is alive but silent (stopped, hung, cut off by a partition that
 *   TCP has not noticed) closes no connection. So every `heartbeatMs` (`SHOAL_HEARTBEAT_MS`) the IO
 *   worker sends a HEARTBEAT to each process it has sent no message to since the last tick, and
 *   takes a process from which no message at all came for `heartbeatTimeoutMs` for lost, as a
 *   dropped connection: its own process fails, and it tells the others (ABORT), which may not see
 *   the silence themselves. The timer runs on the IO worker's event loop, also while it sleeps on
 *   its doorbell; while it is blocked on a full PE ring (a PE that computes and reads nothing) it
 *   sends the heartbeats from that wait. Time in which this thread could not listen (a late tick)
 *   does not count as the others' silence. PEs that compute never delay a heartbeat: the IO worker
 *   is a thread of its own. Per NNG message the cost is one counter.
 * - **Progress.** Like a PE: it polls while there is traffic, for up to `spinUs` after the last,
 *   then sleeps on its ring's doorbell; socket callbacks arrive through its event loop. A message
 *   that completes no entry, or only heartbeats, does not wake it.
 *
 * @module
 */
import { receiveMessageOnPort, type MessagePort } from "node:worker_threads";

import { TransportError } from "../../errors.js";
import { frameSourceOf, kFrameByReference, kFrameHeaderBytes, writeFrameHeader } from "../frame.js";
import { arrivedWord, kAbort, kArrivalWords, kBarrierGeneration, kProcessArrived } from "../shm/job.js";
import { Ring, copyBytes } from "../shm/ring.js";
import { frameBytes, kRouteBytes, kRouteControl, kRouteFrameByReference } from "../shm/transport.js";
import { MessageHistogram, kConnection, type ConnectionIndex, type ConnectionType, type HistogramShare } from "../../stats/index.js";
import type { Mesh } from "../nng/mesh.js";
import { EntryKind, StreamReader, StreamWriter, kEntryHeaderBytes, type StreamEntryHandler } from "./wire.js";

/** A reply frame a {@link FrameServer} made: `bytes[0..length)`, valid until its next call, and its large payloads. */
export interface ServedFrame {
  readonly bytes: Uint8Array;
  readonly length: number;
  readonly payloads: readonly SharedArrayBuffer[];
}

/** What the IO worker answers itself instead of passing it to a PE of its process. */
export interface FrameServer {
  /** A message a PE of this process posted with `ShmTransport.tellIoWorker`. */
  control(message: unknown): void;
  /**
   * A frame from another process for local PE `dest` (`frame` is valid only during the call): the
   * reply frame for its source PE, or undefined to deliver the frame to `dest` unchanged. A served
   * frame's effects are the server's to apply; it must serve all of it or none, and keep neither
   * `frame` nor the payloads of a frame it served (the IO worker reuses their memory).
   */
  serve(dest: number, frame: Uint8Array, length: number, payloads: readonly SharedArrayBuffer[]): ServedFrame | undefined;
}

/** What the IO worker of one process works with. */
export interface IoServiceOptions {
  /** This process's rank and the number of processes. */
  readonly rank: number;
  readonly size: number;
  /** PEs per process; this process holds PEs `rank * pesPerProcess …`. */
  readonly pesPerProcess: number;
  /** The process control block (shared with the PEs). */
  readonly control: SharedArrayBuffer;
  /** The inbound ring of each PE of this process, by local PE. */
  readonly rings: readonly SharedArrayBuffer[];
  /** The IO worker's own inbound ring. */
  readonly ring: SharedArrayBuffer;
  /** `fromPe[l]`: large payloads local PE l sends to other processes. */
  readonly fromPe: readonly MessagePort[];
  /** `toPe[l]`: large payloads of frames for local PE l from other processes. */
  readonly toPe: readonly MessagePort[];
  /** Bytes of the NNG messages the streams are cut into. */
  readonly mtu: number;
  /** How long to poll after the last traffic before sleeping, in µs (0: sleep at once). */
  readonly spinUs: number;
  /** Tells the launcher's thread that the job is failing: `pe` failed (or belonged to the lost process), for `reason`. */
  readonly onFailure: (pe: number, reason: string) => void;
  /** Answers frames here instead of passing them to the PEs. */
  readonly server?: FrameServer;
  /**
   * The process's message-size histogram, when `SHOAL_HISTOGRAM=1`: the IO worker counts every
   * frame it sends to another process (served replies included) in the row of the local PE it
   * sends for, as `ipc` or `tcp` by the link's address, or `gw` when {@link sameModule} says the
   * other process is in another module.
   */
  readonly histogram?: HistogramShare;
  /**
   * The module test of the histogram's `gw` type: whether process `rank` is in this process's
   * module. Called once per process, at the first frame sent to it (after `init`'s barrier, when
   * every process's topology is known). Absent: every process is in this one's module, so no frame
   * counts as `gw`.
   */
  readonly sameModule?: (rank: number) => boolean;
  /** Send a HEARTBEAT to a process after this long without a message to it, in ms (`SHOAL_HEARTBEAT_MS`); 0: never. */
  readonly heartbeatMs: number;
  /** Take a process from which no message came for this long for lost, in ms (`SHOAL_HEARTBEAT_TIMEOUT_MS`); 0: never. */
  readonly heartbeatTimeoutMs: number;
  /** Whether the PEs use direct lanes (nng/direct.ts): the mesh's connections are shared with them. */
  readonly direct?: boolean;
}

/** Counters of one IO worker (`SHOAL_IO_STATS=1` prints them at exit). */
export interface IoCounters {
  framesOut: number;
  framesIn: number;
  /** Inbound frames a {@link FrameServer} answered. */
  framesServed: number;
  bytesOut: number;
  messagesOut: number;
  messagesIn: number;
  /** Times a link's send queue passed the socket's limit, so that the IO worker stopped taking frames from its PEs until it drained. */
  congestions: number;
  heartbeatsOut: number;
  heartbeatsIn: number;
}

const kDrainLimit = 4096;
const kNoPayloads: SharedArrayBuffer[] = [];
/** A link's histogram column before its first frame: not known yet. */
const kLinkUnknown = -1;
/** A link's histogram column when `SHOAL_HISTOGRAM_CONTYPE` leaves its type out. */
const kLinkNotCounted = -2;

/** The IO worker's work, on its thread. */
export class IoService implements StreamEntryHandler {
  readonly counters: IoCounters = {
    framesOut: 0, framesIn: 0, framesServed: 0, bytesOut: 0, messagesOut: 0, messagesIn: 0, congestions: 0, heartbeatsOut: 0, heartbeatsIn: 0,
  };
  readonly #options: IoServiceOptions;
  readonly #control: Int32Array;
  readonly #rings: Ring[];
  readonly #own: Ring;
  readonly #scratch: Uint8Array;
  readonly #overflow: Uint8Array[] = [];
  /** Where a blocked delivery copies this ring's records aside; #scratch may hold the record being forwarded. */
  #stealScratch: Uint8Array | undefined;
  readonly #firstPe: number;
  readonly #numPes: number;
  readonly #writers: (StreamWriter | undefined)[];
  readonly #readers: (StreamReader | undefined)[];
  /** By rank: the parser of the direct messages no sink took (each one whole entry, see nng/direct.ts). */
  readonly #directReaders: (StreamReader | undefined)[];
  /** The largest frame a PE's ring record holds: served answers up to it may take the direct lane. */
  readonly #inline: number;
  /** A stream entry's header for the served answers sent on the direct lane (kind FRAME, no large payloads). */
  readonly #entry = new Uint8Array(kEntryHeaderBytes);
  readonly #entryView = new DataView(this.#entry.buffer);
  /** By local PE: the records taken from its ring so far, and the count the direct lanes last heard (both modulo 2^32). */
  readonly #taken: Int32Array;
  readonly #handed: Int32Array;
  #mesh: Mesh | undefined;
  /** Per generation + 1: how many processes have arrived (this one included once it has). */
  readonly #arrivals = new Map<number, number>();
  #arrivedAt = 0;
  readonly #saidGoodbye: boolean[];
  /**
   * Links whose send queue is over the socket's limit: while any is, the IO worker leaves its ring
   * alone, so that PEs that keep sending block (making room in their own rings meanwhile) instead
   * of growing the queue without bound.
   */
  readonly #congested: boolean[];
  #congestedLinks = 0;
  #failed = false;
  #closing = false;
  #stopped = false;
  #scheduled = false;
  #sleeping = false;
  #lastWorkAt = 0;
  #route: DataView;
  /** The rank whose stream is being parsed (for the handler callbacks). */
  #source = -1;
  /** Entries other than heartbeats handled so far: a message that adds none needs no step. */
  #entries = 0;
  /** By rank: NNG messages sent to it, and received from it (one increment per message is the heartbeats' whole cost). */
  readonly #messagesTo: number[];
  readonly #messagesFrom: number[];
  /** By rank, as the last heartbeat tick saw them: messages sent and received, and when a new one was seen. */
  readonly #sentAtTick: number[];
  readonly #heardAtTick: number[];
  readonly #heardAt: number[];
  #heartbeatTimer: ReturnType<typeof setInterval> | undefined;
  #lastTickAt = 0;
  /** When the heartbeats are due next (for the wait on a full PE ring, which blocks the timer). */
  #nextHeartbeatAt = Infinity;
  /** The process's message-size histogram, when on and counting some type between processes. */
  readonly #histogram: MessageHistogram | undefined;
  /** By rank: the histogram column of frames to that process (a `kConnection` value), or kLink*. */
  readonly #linkColumns: Int8Array;

  constructor(options: IoServiceOptions) {
    this.#options = options;
    this.#control = new Int32Array(options.control);
    this.#rings = options.rings.map((buffer) => new Ring(buffer));
    this.#own = new Ring(options.ring);
    this.#scratch = new Uint8Array(this.#own.maxPayload);
    this.#route = new DataView(this.#scratch.buffer);
    this.#firstPe = options.rank * options.pesPerProcess;
    this.#numPes = options.size * options.pesPerProcess;
    this.#writers = new Array<StreamWriter | undefined>(options.size).fill(undefined);
    this.#readers = new Array<StreamReader | undefined>(options.size).fill(undefined);
    this.#directReaders = new Array<StreamReader | undefined>(options.size).fill(undefined);
    this.#taken = new Int32Array(options.pesPerProcess);
    this.#handed = new Int32Array(options.pesPerProcess);
    this.#saidGoodbye = new Array<boolean>(options.size).fill(false);
    this.#congested = new Array<boolean>(options.size).fill(false);
    const histogram = options.histogram === undefined ? undefined : MessageHistogram.attach(options.histogram);
    this.#histogram = histogram !== undefined && (histogram.counts("ipc") || histogram.counts("tcp") || histogram.counts("gw")) ? histogram : undefined;
    this.#linkColumns = new Int8Array(options.size).fill(kLinkUnknown);
    this.#messagesTo = new Array<number>(options.size).fill(0);
    this.#messagesFrom = new Array<number>(options.size).fill(0);
    this.#sentAtTick = new Array<number>(options.size).fill(0);
    this.#heardAtTick = new Array<number>(options.size).fill(0);
    this.#heardAt = new Array<number>(options.size).fill(0);
    const inline = this.#rings[0]!.maxPayload;
    this.#inline = inline;
    this.#entryView.setUint8(0, EntryKind.Frame);
    for (let rank = 0; rank < options.size; rank++) {
      if (rank === options.rank) continue;
      this.#writers[rank] = new StreamWriter(options.mtu, (bytes) => this.#sendMessage(rank, bytes));
      this.#readers[rank] = new StreamReader(this, inline, `process ${rank}`);
      this.#directReaders[rank] = new StreamReader(this, inline, `process ${rank} (direct lane)`);
    }
  }

  /** Starts sending, once the mesh has formed (messages from others may be handled before). */
  start(mesh: Mesh): void {
    this.#mesh = mesh;
    if (this.#options.direct === true) mesh.shareDirect();
    const interval = this.#options.heartbeatMs;
    if (interval > 0 && this.#options.size > 1) {
      const now = performance.now();
      this.#lastTickAt = now;
      this.#nextHeartbeatAt = now + interval;
      this.#heardAt.fill(now);
      // unref: the heartbeats never keep the thread alive; its port to the launcher does, until close.
      this.#heartbeatTimer = setInterval(this.#tick, interval);
      this.#heartbeatTimer.unref();
    }
    this.#kick();
  }

  /**
   * A message of `rank`'s stream (the mesh's onMessage), or, when `direct`, a message of one of its
   * PEs' direct lanes that no sink took: one whole entry, parsed apart from the stream.
   */
  onMessage(rank: number, bytes: Uint8Array, direct = false): void {
    if (this.#stopped) return;
    this.counters.messagesIn++;
    this.#messagesFrom[rank]!++;
    this.#source = rank;
    const entries = this.#entries;
    try {
      (direct ? this.#directReaders : this.#readers)[rank]!.push(bytes);
    } catch (error) {
      this.#fail(this.#firstPeOf(rank), `the stream from process ${rank} could not be read: ${(error as Error).message}`);
    }
    if (this.#entries !== entries) this.#kick();
  }

  /** Everything queued to `rank` has been written (the mesh's onDrained). */
  onDrained(rank: number): void {
    if (!this.#congested[rank]) return;
    this.#congested[rank] = false;
    this.#congestedLinks--;
    this.#kick();
  }

  /**
   * The connection to `rank` dropped (the mesh's onLost), or it was silent for longer than the
   * heartbeat timeout: this process fails, and tells the others, which may still hear from
   * `rank` (a partition between this host and its host only) and would otherwise wait for it.
   */
  onLost(rank: number, reason: string): void {
    if (this.#saidGoodbye[rank] || this.#closing || this.#stopped || this.#failed) return;
    const first = this.#firstPeOf(rank);
    const why = `process ${rank} (PEs ${first}..${first + this.#options.pesPerProcess - 1}) was lost: ${reason}`;
    this.#fail(first, why);
    this.#sendAbort(first, why, rank);
  }

  /** A PE of this process failed: tell every other process, so that the job ends everywhere. */
  broadcastAbort(pe: number, reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#sendAbort(pe, reason, -1);
  }

  /** Sends ABORT (`pe` failed, for `reason`) to every other process but `except`. */
  #sendAbort(pe: number, reason: string, except: number): void {
    const text = new TextEncoder().encode(reason.slice(0, 4000));
    for (const [rank, writer] of this.#writers.entries()) {
      if (writer === undefined || rank === except) continue;
      writer.header(EntryKind.Abort, 0, pe, text.byteLength);
      writer.append(text, 0, text.byteLength);
      this.#flushWriter(writer);
    }
  }

  /**
   * Every PE of this process has finished: say GOODBYE to every process (so that this process's
   * exit is not taken for a loss), let the queues drain, and stop.
   */
  async close(drainMs: number): Promise<void> {
    this.#closing = true;
    clearInterval(this.#heartbeatTimer);
    this.#nextHeartbeatAt = Infinity;
    this.#drain();
    for (const writer of this.#writers) {
      if (writer === undefined) continue;
      writer.header(EntryKind.Goodbye, 0, 0, 0);
      this.#flushWriter(writer);
    }
    const mesh = this.#mesh;
    if (mesh !== undefined) {
      await Promise.race([mesh.flush(), new Promise((resolve) => setTimeout(resolve, drainMs).unref())]);
    }
    this.#stopped = true;
    if (this.#sleeping) this.#own.endSleep();
    mesh?.close();
  }

  // ------------------------------------------------------------------------------ outbound

  #firstPeOf(rank: number): number {
    return rank * this.#options.pesPerProcess;
  }

  /**
   * Sends one NNG message to `rank`: `bytes`, or, with `entry`, the direct message of that entry
   * header and `bytes[0..length)` (nng/direct.ts).
   */
  #sendMessage(rank: number, bytes: Uint8Array, length = bytes.byteLength, entry?: Uint8Array): void {
    const mesh = this.#mesh;
    if (mesh === undefined) throw new TransportError(`the IO worker of process ${this.#options.rank} sent before its connections were made`);
    this.counters.messagesOut++;
    this.counters.bytesOut += entry === undefined ? length : kEntryHeaderBytes + length;
    this.#messagesTo[rank]!++;
    try {
      const accepted = entry === undefined ? mesh.send(rank, bytes) : mesh.sendDirect(rank, entry, bytes, length);
      if (!accepted && !this.#congested[rank]) {
        this.#congested[rank] = true;
        this.#congestedLinks++;
        this.counters.congestions++;
      }
    } catch (error) {
      // The link is gone; onLost reports it (or the job is already ending).
      if (!this.#failed && !this.#closing && !this.#saidGoodbye[rank]) this.onLost(rank, (error as Error).message);
    }
  }

  #flushWriter(writer: StreamWriter): void {
    if (this.#mesh !== undefined) writer.flush();
  }

  /** Moves the frames waiting in the IO worker's ring to their streams (none while a link is congested, unless closing). Returns how many. */
  #drain(): number {
    let moved = 0;
    if (this.#congestedLinks > 0 && !this.#closing) return 0;
    while (this.#overflow.length > 0 && moved < kDrainLimit) {
      const record = this.#overflow.shift()!;
      this.#forward(record, record.byteLength);
      moved++;
    }
    const scratch = this.#scratch;
    while (moved < kDrainLimit) {
      const length = this.#own.readNext(scratch);
      if (length < 0) break;
      this.#forward(scratch, length);
      moved++;
    }
    return moved;
  }

  /** One record of the IO worker's ring: a route, then the frame (or nothing, when it was posted). */
  #forward(record: Uint8Array, length: number): void {
    const route = record === this.#scratch ? this.#route : new DataView(record.buffer, record.byteOffset, record.byteLength);
    const dest = route.getUint32(0, true);
    const source = route.getUint32(4, true);
    const count = route.getUint16(8, true);
    const flags = route.getUint16(10, true);
    const port = this.#options.fromPe[source - this.#firstPe]!;
    this.#taken[source - this.#firstPe]! += 1;
    if ((flags & kRouteControl) !== 0) {
      const received = receiveMessageOnPort(port);
      if (received === undefined) throw new TransportError(`the IO worker expected a message from PE ${source}, but none was posted`);
      this.#options.server?.control(received.message);
      return;
    }
    let frame = record;
    let frameStart = kRouteBytes;
    let frameLength = length - kRouteBytes;
    if ((flags & kRouteFrameByReference) !== 0) {
      frame = new Uint8Array(this.#take(port, source));
      frameStart = 0;
      frameLength = frame.byteLength;
    }
    const payloads: SharedArrayBuffer[] = count === 0 ? kNoPayloads : [];
    for (let k = 0; k < count; k++) payloads.push(this.#take(port, source));
    this.#writeFrame(dest, frame, frameStart, frameLength, payloads, source);
  }

  /** Appends a frame for PE `dest` of another process, and its large payloads, to that process's stream. */
  #writeFrame(dest: number, frame: Uint8Array, frameStart: number, frameLength: number, payloads: readonly SharedArrayBuffer[], source: number): void {
    const rank = Math.floor(dest / this.#options.pesPerProcess);
    const writer = this.#writers[rank];
    if (writer === undefined || dest >= this.#numPes) {
      throw new TransportError(`PE ${source} sent a frame to PE ${dest}, which is not a PE of another process of this job`);
    }
    const count = payloads.length;
    writer.header(EntryKind.Frame, count, dest, frameLength);
    if (count > 0) {
      const table = new Uint32Array(count);
      for (let k = 0; k < count; k++) table[k] = payloads[k]!.byteLength;
      writer.append(new Uint8Array(table.buffer), 0, 4 * count);
    }
    writer.append(frame, frameStart, frameLength);
    for (let k = 0; k < count; k++) {
      const payload = payloads[k]!;
      writer.append(new Uint8Array(payload), 0, payload.byteLength);
    }
    this.counters.framesOut++;
    // Off, the histogram costs this one branch, always taken the same way.
    if (this.#histogram !== undefined) this.#countFrame(rank, source, frameLength, payloads);
  }

  /**
   * Sends a served answer for PE `to` of another process on the direct lane (nng/direct.ts), so
   * that its socket may hand it straight to that PE; false when it must go in the stream instead
   * (no direct lanes, or large payloads, or too large for a ring record).
   */
  #sendDirect(to: number, served: ServedFrame): boolean {
    if (this.#mesh === undefined || this.#options.direct !== true || served.payloads.length > 0 || served.length > this.#inline) return false;
    const view = this.#entryView;
    view.setUint32(4, to, true);
    view.setUint32(8, served.length, true);
    this.counters.framesOut++;
    this.#sendMessage(Math.floor(to / this.#options.pesPerProcess), served.bytes, served.length, this.#entry);
    return true;
  }

  /** Counts, in the histogram's row of local PE `source`, a frame sent for it to process `rank`. */
  #countFrame(rank: number, source: number, frameLength: number, payloads: readonly SharedArrayBuffer[]): void {
    let column = this.#linkColumns[rank]!;
    if (column === kLinkUnknown) column = this.#linkColumns[rank] = this.#linkColumn(rank);
    if (column !== kLinkNotCounted) this.#histogram!.count(source - this.#firstPe, column as ConnectionIndex, frameBytes(frameLength, payloads));
  }

  /**
   * The connection type of the link to process `rank`, as the histogram's column: `gw` when it is
   * in another module, else the scheme of the address its link was dialed at (the lower rank's:
   * the higher one dials it).
   */
  #linkColumn(rank: number): number {
    const address = this.#mesh?.addresses[Math.min(rank, this.#options.rank)] ?? "";
    const type: ConnectionType = !(this.#options.sameModule?.(rank) ?? true) ? "gw" : address.startsWith("tcp://") ? "tcp" : "ipc";
    return this.#histogram!.counts(type) ? kConnection[type] : kLinkNotCounted;
  }

  #take(port: MessagePort, source: number): SharedArrayBuffer {
    const received = receiveMessageOnPort(port);
    if (received === undefined) throw new TransportError(`the IO worker expected a large payload from PE ${source}, but none was posted`);
    return received.message as SharedArrayBuffer;
  }

  // ------------------------------------------------------------------------------- inbound

  /** A frame from another process for local PE `dest`. */
  frame(dest: number, frame: Uint8Array, length: number, payloads: SharedArrayBuffer[]): void {
    this.#entries++;
    const local = dest - this.#firstPe;
    const ring = this.#rings[local];
    if (ring === undefined) throw new TransportError(`process ${this.#source} sent a frame for PE ${dest}, which is not a PE of this process`);
    this.counters.framesIn++;
    const served = this.#options.server?.serve(dest, frame, length, payloads);
    if (served !== undefined) {
      this.counters.framesServed++;
      const to = frameSourceOf(frame);
      if (!this.#sendDirect(to, served)) this.#writeFrame(to, served.bytes, 0, served.length, served.payloads, dest);
      this.#readers[this.#source]?.recycle(payloads);
      return;
    }
    const port = this.#options.toPe[local]!;
    const byReference = length > ring.maxPayload;
    if (byReference) port.postMessage(frame.buffer);
    for (const payload of payloads) port.postMessage(payload);
    if (byReference) {
      const header = new Uint8Array(kFrameHeaderBytes);
      writeFrameHeader(new DataView(header.buffer), frame[0]! | (frame[1]! << 8), kFrameByReference, 0);
      this.#enqueue(ring, header, kFrameHeaderBytes);
    } else {
      this.#enqueue(ring, frame, length);
    }
  }

  #enqueue(ring: Ring, bytes: Uint8Array, length: number): void {
    let offset = ring.reserve(length);
    for (let attempt = 0; offset < 0; attempt++) {
      if (Atomics.load(this.#control, kAbort) !== 0) return;
      // Make room in this ring meanwhile: a PE blocked on it frees its own ring the same way.
      this.#stealOwn();
      offset = ring.reserve(length);
      if (offset >= 0 || attempt < 64) continue;
      ring.wake();
      ring.waitForSpace(1);
      // The PE reads nothing (it computes), and this wait keeps the heartbeat timer from running:
      // the other processes must hear from this one all the same.
      if (performance.now() >= this.#nextHeartbeatAt) this.#sendHeartbeats(performance.now());
    }
    copyBytes(bytes, 0, ring.bytes, offset, length);
    if (ring.commit(offset, length)) ring.wake();
  }

  #stealOwn(): void {
    this.#own.moveAside(this.#overflow, (this.#stealScratch ??= new Uint8Array(this.#own.maxPayload)));
  }

  arrive(generation: number, words: Uint32Array): void {
    this.#entries++;
    const first = this.#firstPeOf(this.#source);
    const pes = this.#options.pesPerProcess;
    if (words.length !== kArrivalWords.length * pes) {
      throw new TransportError(
        `process ${this.#source} arrived at a barrier with ${words.length} words, expected ${kArrivalWords.length * pes} ` +
          `(${kArrivalWords.length} for each of its ${pes} PEs): the processes run different shoal versions`,
      );
    }
    for (let k = 0; k < pes; k++) {
      for (const [i, word] of kArrivalWords.entries()) Atomics.store(this.#control, word(first + k, this.#numPes), words[i * pes + k]! | 0);
      // For a barrier that waits too long: every PE of that process has arrived.
      Atomics.store(this.#control, arrivedWord(first + k), generation);
    }
    this.#arrivals.set(generation, (this.#arrivals.get(generation) ?? 0) + 1);
    this.#tryRelease();
  }

  abort(pe: number, reason: string): void {
    this.#entries++;
    this.#fail(pe, reason);
  }

  goodbye(): void {
    this.#entries++;
    this.#saidGoodbye[this.#source] = true;
  }

  heartbeat(): void {
    this.counters.heartbeatsIn++; // receiving the message was the point (#messagesFrom)
  }

  // ---------------------------------------------------------------------------- heartbeats

  /** Every `heartbeatMs`, from start to close: heartbeats to the quiet links, then the check for silent processes. */
  readonly #tick = (): void => {
    if (this.#closing || this.#stopped) return;
    const now = performance.now();
    const { size, rank: self, heartbeatTimeoutMs: timeout } = this.#options;
    // How late this tick is: for that long this thread's loop was blocked (or its process stopped)
    // and could hear nobody, so that time is not the others' silence.
    const late = Math.max(0, now - this.#lastTickAt - this.#options.heartbeatMs);
    this.#lastTickAt = now;
    this.#sendHeartbeats(now);
    for (let rank = 0; rank < size; rank++) {
      if (rank === self) continue;
      const heard = this.#messagesFrom[rank]!;
      if (heard !== this.#heardAtTick[rank]) {
        this.#heardAtTick[rank] = heard;
        this.#heardAt[rank] = now;
      } else {
        this.#heardAt[rank]! += late;
      }
      const silence = now - this.#heardAt[rank]!;
      if (timeout > 0 && silence >= timeout && !this.#saidGoodbye[rank]) {
        this.onLost(rank, `no message for ${Math.round(silence)} ms (SHOAL_HEARTBEAT_TIMEOUT_MS=${timeout}): it is stopped, hung, or cut off from this host`);
        return;
      }
    }
  };

  /** Sends a HEARTBEAT to every process this one has sent no message to since the last time it looked. */
  #sendHeartbeats(now: number): void {
    this.#nextHeartbeatAt = now + this.#options.heartbeatMs;
    for (let rank = 0; rank < this.#options.size; rank++) {
      const writer = this.#writers[rank];
      if (writer === undefined || this.#saidGoodbye[rank]) continue;
      if (this.#messagesTo[rank] === this.#sentAtTick[rank]) {
        writer.header(EntryKind.Heartbeat, 0, 0, 0);
        this.#flushWriter(writer);
        this.counters.heartbeatsOut++;
      }
      this.#sentAtTick[rank] = this.#messagesTo[rank]!;
    }
  }

  // ------------------------------------------------------------------------------ barriers

  #checkArrival(): void {
    const arrived = Atomics.load(this.#control, kProcessArrived);
    if (arrived === this.#arrivedAt || this.#mesh === undefined) return;
    this.#arrivedAt = arrived;
    const pes = this.#options.pesPerProcess;
    const words = new Uint32Array(kArrivalWords.length * pes);
    for (const [i, word] of kArrivalWords.entries()) {
      for (let k = 0; k < pes; k++) words[i * pes + k] = Atomics.load(this.#control, word(this.#firstPe + k, this.#numPes));
    }
    const bytes = new Uint8Array(words.buffer);
    for (const writer of this.#writers) {
      if (writer === undefined) continue;
      writer.header(EntryKind.Arrive, 0, arrived, bytes.byteLength);
      writer.append(bytes, 0, bytes.byteLength);
    }
    this.#arrivals.set(arrived, (this.#arrivals.get(arrived) ?? 0) + 1);
    this.#tryRelease();
  }

  #tryRelease(): void {
    const generation = this.#arrivedAt;
    if (generation === 0 || this.#arrivals.get(generation) !== this.#options.size) return;
    this.#arrivals.delete(generation);
    Atomics.add(this.#control, kBarrierGeneration, 1);
    for (const ring of this.#rings) ring.wake();
  }

  // ------------------------------------------------------------------------------ failures

  #fail(pe: number, reason: string): void {
    if (this.#failed) return;
    this.#failed = true;
    const words = this.#control;
    if (Atomics.compareExchange(words, kAbort, 0, pe + 1) === 0) {
      for (const ring of this.#rings) ring.wake();
    }
    this.#options.onFailure(pe, reason);
  }

  // ------------------------------------------------------------------------------ progress

  #kick(): void {
    if (this.#stopped) return;
    if (this.#sleeping) {
      this.#sleeping = false;
      this.#own.endSleep();
      this.#own.wake();
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#step);
    }
  }

  readonly #step = (): void => {
    if (this.#stopped) {
      this.#scheduled = false;
      return;
    }
    let moved = 0;
    try {
      moved = this.#drain();
      this.#checkArrival();
      for (const writer of this.#writers) if (writer !== undefined && writer.pending) this.#flushWriter(writer);
      if (moved > 0) this.#tellHanded();
    } catch (error) {
      this.#fail(this.#firstPe, `the IO worker of process ${this.#options.rank} failed: ${(error as Error).stack ?? String(error)}`);
    }
    if (this.#congestedLinks > 0 && !this.#closing) {
      // Its ring stays full until a link drains (onDrained kicks); barriers still need a look now and then.
      setTimeout(this.#step, 1);
      return;
    }
    const now = performance.now();
    if (moved > 0) this.#lastWorkAt = now;
    if (moved > 0 || now - this.#lastWorkAt < this.#options.spinUs / 1000) {
      setImmediate(this.#step);
      return;
    }
    this.#sleep();
  };

  /** After a flush: the records taken from the PEs so far are on the connections, which their direct lanes must know. */
  #tellHanded(): void {
    const mesh = this.#mesh;
    if (mesh === undefined || this.#options.direct !== true) return;
    const taken = this.#taken;
    for (let local = 0; local < taken.length; local++) {
      if (taken[local] !== this.#handed[local]) {
        this.#handed[local] = taken[local]!;
        mesh.handed(local, taken[local]!);
      }
    }
  }

  #sleep(): void {
    const doorbell = this.#own.prepareSleep();
    if (doorbell === -1 || this.#overflow.length > 0 || Atomics.load(this.#control, kProcessArrived) !== this.#arrivedAt) {
      this.#own.endSleep();
      setImmediate(this.#step);
      return;
    }
    this.#scheduled = false;
    this.#sleeping = true;
    void this.#own.sleepAsync(doorbell, 0x7fffffff).then(this.#wake);
  }

  readonly #wake = (): void => {
    if (!this.#sleeping) return;
    this.#sleeping = false;
    this.#own.endSleep();
    this.#lastWorkAt = performance.now();
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#step();
    }
  };
}
