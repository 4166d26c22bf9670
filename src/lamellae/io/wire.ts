/**
 * The byte stream between the IO workers of two processes. Each direction of a process pair is one
 * stream of *entries*; the sender cuts the stream into NNG messages of at most `SHOAL_MTU` bytes
 * wherever it likes (a large payload spans several messages and is pipelined), and the receiver
 * parses it back with one copy of every byte into its final place: frames into the destination
 * PE's ring, large payloads into a `SharedArrayBuffer` of their own.
 *
 * An entry is a 16-byte header, then its body; every piece is padded to 8 bytes:
 *
 * ```
 * header  0  u8   kind: 1 FRAME, 2 ARRIVE, 3 ABORT, 4 GOODBYE, 5 HEARTBEAT
 *         1  u8   0
 *         2  u16  FRAME: number of large payloads; else 0
 *         4  u32  FRAME: destination PE; ARRIVE: barrier generation + 1; ABORT: the failed PE
 *         8  u32  FRAME: frame bytes; ARRIVE: bytes of the words; ABORT: bytes of the reason
 *        12  u32  0
 * FRAME   payload count × u32 payload bytes, the frame (its own header names the source PE), the payloads
 * ARRIVE  the sender's arrival words (kArrivalWords in shm/job.ts), T u32 each for its T PEs, in PE
 *         order: the hashes of the PEs' active-message names, then their node-key hashes, then
 *         their module ids (3·T words)
 * ABORT   the reason, UTF-8
 * ```
 * GOODBYE (the sender's PEs have finished: its connection closing next is not a loss) and
 * HEARTBEAT (nothing else to say: the sender is alive, see `SHOAL_HEARTBEAT_MS` in io/service.ts)
 * are a header alone, whose other fields are 0. All integers are little-endian.
 *
 * @module
 */
import { TransportError } from "../../errors.js";
import { copyBytes } from "../shm/ring.js";

/** Entry kinds. */
export const EntryKind = { Frame: 1, Arrive: 2, Abort: 3, Goodbye: 4, Heartbeat: 5 } as const;
/** An entry kind. */
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** Bytes of an entry header. */
export const kEntryHeaderBytes = 16;

function pad8(n: number): number {
  return (n + 7) & ~7;
}

const kZeros = new Uint8Array(8);

/**
 * The sending end of one stream: entries are appended into a buffer of `mtu` bytes, which is sent
 * (copied by the socket) whenever it fills, and by {@link flush}. The `send` callback must copy
 * or send the bytes before it returns.
 */
export class StreamWriter {
  readonly #buffer: Uint8Array;
  readonly #header = new Uint8Array(kEntryHeaderBytes);
  readonly #headerView = new DataView(this.#header.buffer);
  readonly #send: (bytes: Uint8Array) => void;
  #position = 0;
  /** Bytes appended since the writer was made. */
  bytes = 0;

  constructor(mtu: number, send: (bytes: Uint8Array) => void) {
    this.#buffer = new Uint8Array(mtu);
    this.#send = send;
  }

  /** Whether something waits to be sent. */
  get pending(): boolean {
    return this.#position > 0;
  }

  /** Appends an entry header. */
  header(kind: EntryKind, count: number, a: number, b: number): void {
    const view = this.#headerView;
    view.setUint8(0, kind);
    view.setUint8(1, 0);
    view.setUint16(2, count, true);
    view.setUint32(4, a, true);
    view.setUint32(8, b, true);
    view.setUint32(12, 0, true);
    this.append(this.#header, 0, kEntryHeaderBytes);
  }

  /**
   * Appends `source[from..from+length)` and its padding to 8 bytes. Bytes that would fill whole
   * messages are sent from `source` itself (the socket copies them) instead of through the buffer.
   */
  append(source: Uint8Array, from: number, length: number): void {
    const mtu = this.#buffer.byteLength;
    if (length >= mtu) {
      // Top up the buffered message, then send whole messages straight from the source.
      let done = Math.min(length, mtu - this.#position);
      if (this.#position === 0) done = 0;
      else this.#copy(source, from, done);
      while (length - done >= mtu) {
        this.#send(source.subarray(from + done, from + done + mtu));
        done += mtu;
      }
      this.#copy(source, from + done, length - done);
      this.bytes += length;
      const padding = pad8(length) - length;
      if (padding > 0) this.#copy(kZeros, 0, padding);
      return;
    }
    this.#copy(source, from, length);
    this.bytes += length;
    const padding = pad8(length) - length;
    if (padding > 0) this.#copy(kZeros, 0, padding);
  }

  #copy(source: Uint8Array, from: number, length: number): void {
    const buffer = this.#buffer;
    const mtu = buffer.byteLength;
    let done = 0;
    while (done < length) {
      const n = Math.min(length - done, mtu - this.#position);
      copyBytes(source, from + done, buffer, this.#position, n);
      this.#position += n;
      done += n;
      if (this.#position === mtu) this.flush();
    }
  }

  /** Sends what the buffer holds. */
  flush(): void {
    if (this.#position === 0) return;
    const length = this.#position;
    this.#position = 0;
    this.#send(this.#buffer.subarray(0, length));
  }
}

/** What a {@link StreamReader} hands over: one complete entry. */
export interface StreamEntryHandler {
  /**
   * A frame for PE `dest`: `frame[0..length)` (valid only during the call unless `frame` is over a
   * fresh SharedArrayBuffer, which happens when it is larger than `inlineBytes`), with its large
   * payloads in order.
   */
  frame(dest: number, frame: Uint8Array, length: number, payloads: SharedArrayBuffer[]): void;
  /** Another process arrived at barrier `generation` (+ 1), with its PEs' arrival words (see ARRIVE above). */
  arrive(generation: number, words: Uint32Array): void;
  abort(pe: number, reason: string): void;
  goodbye(): void;
  heartbeat(): void;
}

/** Payload buffers a reader keeps for reuse: at most this many bytes, of buffers of at least kMinPooledBytes. */
const kPoolBytes = 256 * 1024 * 1024;
const kMinPooledBytes = 64 * 1024;

const Piece = { Header: 0, Table: 1, Frame: 2, Payload: 3, Reason: 4, Words: 5 } as const;
type Piece = (typeof Piece)[keyof typeof Piece];

/** The receiving end of one stream: feed it the messages in order; it calls the handler per entry. */
export class StreamReader {
  readonly #handler: StreamEntryHandler;
  readonly #inlineBytes: number;
  readonly #header = new Uint8Array(kEntryHeaderBytes);
  readonly #headerView = new DataView(this.#header.buffer);
  #scratch: Uint8Array;
  #table = new Uint8Array(64);
  #piece: Piece = Piece.Header;
  /** Where the current piece goes, and how many of its (padded) bytes have come. */
  #target: Uint8Array;
  #targetLength = kEntryHeaderBytes;
  #need = kEntryHeaderBytes;
  #filled = 0;
  #kind = 0;
  #count = 0;
  #a = 0;
  #b = 0;
  #frame: Uint8Array | undefined;
  #payloads: SharedArrayBuffer[] = [];
  /** Payload buffers given back by {@link recycle}, by byte length. */
  readonly #pool = new Map<number, SharedArrayBuffer[]>();
  #pooledBytes = 0;
  readonly #source: string;

  constructor(handler: StreamEntryHandler, inlineBytes: number, source: string) {
    this.#handler = handler;
    this.#inlineBytes = inlineBytes;
    this.#scratch = new Uint8Array(Math.min(inlineBytes, 1 << 16));
    this.#target = this.#header;
    this.#source = source;
  }

  /**
   * Takes back the payload buffers of a handed-over frame that nobody reads any more (one the IO
   * worker answered itself), so that later payloads of the same length reuse their memory instead
   * of touching fresh pages. At most {@link kPoolBytes} are kept.
   */
  recycle(payloads: readonly SharedArrayBuffer[]): void {
    for (const payload of payloads) {
      const bytes = payload.byteLength;
      if (bytes < kMinPooledBytes || this.#pooledBytes + bytes > kPoolBytes) continue;
      let list = this.#pool.get(bytes);
      if (list === undefined) this.#pool.set(bytes, (list = []));
      list.push(payload);
      this.#pooledBytes += bytes;
    }
  }

  /** Parses the next message of the stream. */
  push(bytes: Uint8Array): void {
    let position = 0;
    const length = bytes.byteLength;
    while (position < length) {
      const n = Math.min(this.#need - this.#filled, length - position);
      const copy = Math.min(n, this.#targetLength - this.#filled);
      if (copy > 0) copyBytes(bytes, position, this.#target, this.#filled, copy);
      this.#filled += n;
      position += n;
      if (this.#filled === this.#need) this.#next();
    }
  }

  #expect(piece: Piece, target: Uint8Array, length: number): void {
    this.#piece = piece;
    this.#target = target;
    this.#targetLength = length;
    this.#need = pad8(length);
    this.#filled = 0;
    if (this.#need === 0) this.#next();
  }

  #next(): void {
    switch (this.#piece) {
      case Piece.Header: {
        const view = this.#headerView;
        this.#kind = view.getUint8(0);
        this.#count = view.getUint16(2, true);
        this.#a = view.getUint32(4, true);
        this.#b = view.getUint32(8, true);
        switch (this.#kind) {
          case EntryKind.Frame:
            if (this.#table.byteLength < 4 * this.#count) this.#table = new Uint8Array(pad8(4 * this.#count));
            this.#expect(Piece.Table, this.#table, 4 * this.#count);
            return;
          case EntryKind.Arrive:
            this.#expect(Piece.Words, new Uint8Array(this.#b), this.#b);
            return;
          case EntryKind.Abort:
            this.#expect(Piece.Reason, new Uint8Array(this.#b), this.#b);
            return;
          case EntryKind.Goodbye:
            this.#handler.goodbye();
            this.#expect(Piece.Header, this.#header, kEntryHeaderBytes);
            return;
          case EntryKind.Heartbeat:
            this.#handler.heartbeat();
            this.#expect(Piece.Header, this.#header, kEntryHeaderBytes);
            return;
          default:
            throw new TransportError(`the stream from ${this.#source} holds an entry of unknown kind ${this.#kind}: the processes run different shoal versions, or the stream is corrupt`);
        }
      }
      case Piece.Table: {
        const frameLength = this.#b;
        let target: Uint8Array;
        if (frameLength > this.#inlineBytes) {
          target = new Uint8Array(new SharedArrayBuffer(frameLength));
        } else {
          if (this.#scratch.byteLength < frameLength) this.#scratch = new Uint8Array(Math.max(frameLength, 2 * this.#scratch.byteLength));
          target = this.#scratch;
        }
        this.#frame = target;
        this.#payloads = [];
        this.#expect(Piece.Frame, target, frameLength);
        return;
      }
      case Piece.Frame:
      case Piece.Payload:
        if (this.#payloads.length < this.#count) {
          const bytes = new DataView(this.#table.buffer).getUint32(4 * this.#payloads.length, true);
          let payload = this.#pool.get(bytes)?.pop();
          if (payload === undefined) payload = new SharedArrayBuffer(bytes);
          else this.#pooledBytes -= bytes;
          this.#payloads.push(payload);
          this.#expect(Piece.Payload, new Uint8Array(payload), bytes);
          return;
        }
        {
          const frame = this.#frame!;
          const payloads = this.#payloads;
          this.#frame = undefined;
          this.#payloads = [];
          this.#expect(Piece.Header, this.#header, kEntryHeaderBytes);
          this.#handler.frame(this.#a, frame, this.#b, payloads);
        }
        return;
      case Piece.Words: {
        const words = new Uint32Array(this.#target.buffer, 0, this.#targetLength >>> 2);
        this.#expect(Piece.Header, this.#header, kEntryHeaderBytes);
        this.#handler.arrive(this.#a, words);
        return;
      }
      case Piece.Reason: {
        const reason = new TextDecoder().decode(this.#target);
        this.#expect(Piece.Header, this.#header, kEntryHeaderBytes);
        this.#handler.abort(this.#a, reason);
        return;
      }
    }
  }
}
