/**
 * A PE's direct lane to the PEs of other processes. Through the IO workers, a frame between two
 * processes changes threads four times: PE → its IO worker → (socket) → the other IO worker → PE.
 * On the direct lane it changes twice, as a message between two plain sockets does:
 *
 * - **Send.** The PE writes the frame, as one whole stream entry (io/wire.ts), straight onto its
 *   IO worker's connection to the other process, from its own thread (the addon's `directSend`;
 *   a connection's send queue is locked, and NNG's sends are thread-safe).
 * - **Receive.** The receiving socket's callback, on NNG's thread, hands the frame to the
 *   destination PE's *sink* and wakes the PE through its event loop, if the PE sleeps; otherwise
 *   the frame goes to the IO worker like any other, which serves it or puts it in the PE's ring.
 *   A frame the IO worker serves (the arrays' far operations: `kFrameServable`) always goes to it,
 *   so the PE is not woken; and the IO worker sends its answers on the direct lane, so they can
 *   reach the asking PE's sink.
 *
 * Frames still arrive in the order each PE sent them (native/nng/shoal_nng.c, "direct lanes",
 * has the rules): a PE sends directly only when its IO worker has passed on everything the PE gave
 * it before; a frame goes to a sink only when the receiving IO worker has handled every message
 * that arrived before it, and when the PE committed to sleep after finding its ring empty; and the
 * PE reads its sink before its ring.
 *
 * Only small frames take the lane: those without large payloads, that fit in a ring record. While
 * the connection has a ring's worth of bytes queued (`queueLimit`), frames go through the IO worker
 * instead, whose ring and congestion rules then hold the PE back as before.
 * `SHOAL_DIRECT=0` turns the lanes off.
 *
 * @module
 */
import { TransportError } from "../../errors.js";
import type { NativeSink, NngBinding } from "./binding.js";
import { loadNng } from "./binding.js";

/** The PE's words shared with the addon. */
const kAsleep = 0;
const kPending = 1;
/** kAsleep: about to sleep (the PE checks its ring next), and committed to sleep. */
const kAboutToSleep = 1;
const kCommitted = 2;

/** Bytes of a stream entry's header (io/wire.ts); the entry kind FRAME. */
const kEntryBytes = 16;
const kEntryFrame = 1;

/** A PE's direct lane: its sink, and its sends on the process's shared connections. */
export class DirectLink {
  readonly #binding: NngBinding;
  readonly #sink: NativeSink;
  readonly #words: Int32Array;
  readonly #localPe: number;
  readonly #pesPerProcess: number;
  readonly #queueLimit: number;
  readonly #entry = new Uint8Array(kEntryBytes);
  readonly #entryView = new DataView(this.#entry.buffer);
  #closed = false;

  private constructor(binding: NngBinding, pe: number, localPe: number, pesPerProcess: number, queueLimit: number, onFrames: () => void) {
    this.#binding = binding;
    this.#words = new Int32Array(new SharedArrayBuffer(8));
    this.#sink = new binding.Sink(pe, this.#words, onFrames);
    this.#localPe = localPe;
    this.#pesPerProcess = pesPerProcess;
    this.#queueLimit = queueLimit;
    this.#entryView.setUint8(0, kEntryFrame);
  }

  /**
   * Opens PE `pe`'s lane (the `localPe`-th PE of its process, of `pesPerProcess`); a connection
   * with `queueLimit` bytes queued takes no more direct frames. `onFrames` is called on this
   * thread when frames arrive in the sink while the PE is committed to sleep: it must wake the PE.
   * Returns undefined when the NNG addon cannot be loaded here (the IO worker then carries every
   * frame, as it must have failed to load it too).
   */
  static open(pe: number, localPe: number, pesPerProcess: number, queueLimit: number, onFrames: () => void): DirectLink | undefined {
    const binding = loadNng();
    if (binding instanceof TransportError || typeof binding.Sink !== "function") return undefined;
    return new DirectLink(binding, pe, localPe, pesPerProcess, queueLimit, onFrames);
  }

  /**
   * Sends `frame[0..length)` to PE `dest` of another process on the direct lane, if it may go now:
   * `posted` is the number of records (modulo 2^32) this PE has given its IO worker so far.
   * Returns false when the frame must take the IO worker's lane instead.
   */
  send(dest: number, frame: Uint8Array, length: number, posted: number): boolean {
    if (this.#closed) return false;
    const view = this.#entryView;
    view.setUint32(4, dest, true);
    view.setUint32(8, length, true);
    const rank = Math.floor(dest / this.#pesPerProcess);
    const result = this.#binding.directSend(this.#localPe, rank, posted, this.#entry, frame, length, this.#queueLimit);
    if (result < 0) throw new TransportError(`PE ${dest}'s process (${rank}) could not be sent a frame on the direct lane: NNG error ${-result}`);
    return result === 0;
  }

  /** Copies the next frame of the sink into `into`; its length, or -1 when none waits. */
  take(into: Uint8Array): number {
    return Atomics.load(this.#words, kPending) === 0 ? -1 : this.#sink.take(into);
  }

  /** Whether frames wait in the sink. */
  get pending(): boolean {
    return Atomics.load(this.#words, kPending) !== 0;
  }

  /** The PE is about to sleep; next it checks its ring, then calls {@link commitSleep} (or {@link awake}). */
  aboutToSleep(): void {
    Atomics.store(this.#words, kAsleep, kAboutToSleep);
  }

  /**
   * The PE found nothing to read and sleeps: from now on direct frames go to its sink. False when
   * its IO worker handled a message since {@link aboutToSleep} (it may have put a frame in the
   * ring): the PE must look again instead of sleeping.
   */
  commitSleep(): boolean {
    return Atomics.compareExchange(this.#words, kAsleep, kAboutToSleep, kCommitted) === kAboutToSleep;
  }

  /** The PE is awake: direct frames go through its IO worker. */
  awake(): void {
    Atomics.store(this.#words, kAsleep, 0);
  }

  /** Closes the sink; frames for this PE go through its IO worker from now on. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.awake();
    this.#sink.close();
  }
}
