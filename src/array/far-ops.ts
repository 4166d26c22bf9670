/**
 * The operations one PE asks of another PE's part (element and batch operations, range copies,
 * fills), applied where the part's memory is: by the owner PE when the message reaches it
 * (messages.ts), or, for a PE of another process, by the IO worker of the owner's process, which
 * holds the same buffer and answers without waking the owner (the {@link FarOpServer}).
 *
 * The IO worker learns of an array from the first PE of its process, which announces it when it
 * creates it and again when it frees it ({@link ArrayAnnouncement}, through
 * `ShmTransport.tellIoWorker`). A frame it cannot serve entirely (another kind of message, an
 * array it does not know yet, a request inside a `finish`) goes to the PE as before, so the
 * results are the same either way.
 *
 * @module
 */
import { FrameReader, FrameWriter, MessageKind, kFlagReplyWanted, kMessageHeaderBytes, type ErrorInfo, type LargeChannel } from "../am/index.js";
import { TransportError } from "../errors.js";
import { frameSourceOf, kFrameHeaderBytes, writeFrameHeader, type FrameServer, type ServedFrame } from "../lamellae/index.js";
import type { Scalar } from "../../kernels/index.js";
import { kDtypes, type AnyTypedArray, type Dtype } from "./dtype.js";
import { Layout, type Distribution } from "./layout.js";
import { applyOp, makeTarget, type OpCode, type Target } from "./ops.js";

// ----------------------------------------------------------------------------- the operations

/**
 * An element or batch operation on the owner's part:
 * [array id, op, local index or indices, values, scalar, expected values, expected scalar, fetch].
 */
export type OpRequest = [
  id: number, op: OpCode, local: number | Uint32Array, values: AnyTypedArray | undefined, scalar: Scalar,
  expected: AnyTypedArray | undefined, expectedScalar: Scalar, fetch: boolean,
];

const kOne = new Uint32Array(1);

/** Applies `request` to the part that starts at `offset` of `target`; the fetched values, if asked. */
export function runOpRequest(target: Target, offset: number, request: OpRequest): unknown {
  const local = request[2];
  const single = typeof local === "number";
  const positions = single ? kOne : local;
  if (single) kOne[0] = local;
  const n = positions.length;
  const out = request[7] ? new target.info.Array(n) : undefined;
  applyOp(target, {
    op: request[1], positions, offset, n, values: request[3], scalar: request[4],
    expected: request[5], expectedScalar: request[6], out,
  });
  return single ? out?.[0] : out;
}

/** Writes `values` at `at` (a position in the buffer). */
export function putAt(target: Target, at: number, values: AnyTypedArray): void {
  (target.data as Float64Array).set(values as Float64Array, at);
}

/** A copy of `count` elements from `at` (a position in the buffer). */
export function getAt(target: Target, at: number, count: number): AnyTypedArray {
  return target.data.slice(at, at + count);
}

/** Sets `count` elements from `at` (a position in the buffer) to `value`. */
export function fillAt(target: Target, at: number, count: number, value: Scalar): void {
  (target.data as Float64Array).fill(value as number, at, at + count);
}

// ---------------------------------------------------------------------------- the IO worker

/** The active messages the IO worker can serve, in the order of {@link ArrayAnnouncement}'s `ams`. */
export const kFarOpNames = ["shoal.array.op", "shoal.array.put", "shoal.array.get", "shoal.array.fill"] as const;
const FarOp = { Op: 0, Put: 1, Get: 2, Fill: 3 } as const;

/** What the first PE of a process tells its IO worker about an array. @internal */
export type ArrayAnnouncement =
  | {
    readonly kind: "array";
    readonly id: number;
    readonly dtype: Dtype;
    readonly length: number;
    readonly dist: Distribution;
    readonly numPes: number;
    readonly buffer: SharedArrayBuffer;
    /** The wire ids of {@link kFarOpNames}, the same on every PE. */
    readonly ams: readonly number[];
  }
  | { readonly kind: "free"; readonly id: number };

interface KnownArray {
  readonly target: Target;
  readonly layout: Layout;
}

/**
 * The IO worker's side: serves frames of far array operations from its process's buffers, and
 * writes the replies as the owner PE would have.
 */
export class FarOpServer implements FrameServer, LargeChannel {
  readonly #arrays = new Map<number, KnownArray>();
  /** Wire ids of kFarOpNames; empty until the first announcement. */
  #ams: readonly number[] = [];
  readonly #reader = new FrameReader(this);
  readonly #writer: FrameWriter;
  #payloads: readonly SharedArrayBuffer[] = [];
  #nextPayload = 0;
  /** The requests of the frame being served: kind, request id, argument, array, per request. */
  readonly #kinds: number[] = [];
  readonly #ids: number[] = [];
  readonly #args: unknown[][] = [];
  readonly #targets: KnownArray[] = [];
  /** Frames served, and frames passed on to their PE. */
  served = 0;
  passed = 0;

  constructor(largeBytes: number) {
    this.#writer = new FrameWriter(4096, largeBytes);
  }

  control(message: unknown): void {
    const announcement = message as ArrayAnnouncement;
    if (announcement.kind === "free") {
      this.#arrays.delete(announcement.id);
      return;
    }
    const info = kDtypes[announcement.dtype];
    this.#ams = announcement.ams;
    this.#arrays.set(announcement.id, {
      target: makeTarget(info, announcement.buffer),
      layout: new Layout(announcement.length, announcement.numPes, announcement.dist),
    });
  }

  takeLarge(src: number): SharedArrayBuffer {
    const payload = this.#payloads[this.#nextPayload++];
    if (payload === undefined) throw new TransportError(`a frame from PE ${src} names more large payloads than it carries`);
    return payload;
  }

  serve(dest: number, frame: Uint8Array, length: number, payloads: readonly SharedArrayBuffer[]): ServedFrame | undefined {
    if (this.#ams.length === 0 || length < kFrameHeaderBytes) return undefined;
    if (!this.#read(frame, length, payloads)) {
      this.passed++;
      return undefined;
    }
    const writer = this.#writer;
    writer.position = kFrameHeaderBytes;
    writer.messages = 0;
    writer.payloads.length = 0;
    for (let k = 0; k < this.#kinds.length; k++) {
      const kind = this.#kinds[k]!;
      const id = this.#ids[k]!;
      const mark = writer.mark();
      try {
        const result = this.#apply(kind, dest, this.#args[k]!, this.#targets[k]!);
        writer.header(MessageKind.Reply, 0, 0, id);
        writer.value(result);
        writer.complete();
      } catch (error) {
        writer.rollback(mark);
        const e = error instanceof Error ? error : new Error(String(error));
        const info: ErrorInfo = { name: e.name, message: e.message, stack: e.stack ?? `${e.name}: ${e.message}`, pe: dest, am: kFarOpNames[kind]! };
        writer.header(MessageKind.Failure, 0, this.#ams[kind]!, id);
        writer.value(info);
        writer.complete();
      }
    }
    writeFrameHeader(writer.view, dest, 0, writer.messages);
    this.#args.length = 0;
    this.#targets.length = 0;
    this.served++;
    return { bytes: writer.bytes, length: writer.position, payloads: writer.payloads };
  }

  /** Reads the frame's requests into #kinds…#targets; false unless every message is one this server can serve. */
  #read(frame: Uint8Array, length: number, payloads: readonly SharedArrayBuffer[]): boolean {
    const reader = this.#reader;
    reader.reset(frame, kFrameHeaderBytes);
    const view = reader.view;
    const source = frameSourceOf(frame);
    reader.source = source;
    const count = view.getUint32(4, true);
    this.#payloads = payloads;
    this.#nextPayload = 0;
    this.#kinds.length = this.#ids.length = this.#args.length = this.#targets.length = 0;
    const ams = this.#ams;
    for (let i = 0; i < count; i++) {
      const at = reader.position;
      if (at + kMessageHeaderBytes > length) return false;
      // Only plain requests that want their reply: fire-and-forget sends count ACKs, and a
      // request inside a `finish` owes a DONE, which only the owner PE can tell.
      if (view.getUint8(at) !== MessageKind.Request || view.getUint8(at + 1) !== kFlagReplyWanted) return false;
      const kind = ams.indexOf(view.getUint16(at + 2, true));
      if (kind < 0) return false;
      reader.position = at + kMessageHeaderBytes;
      let arg: unknown;
      try {
        arg = reader.value();
      } catch {
        return false; // the owner PE reports what it cannot read
      }
      if (!Array.isArray(arg)) return false;
      const array = this.#arrays.get(arg[0] as number);
      if (array === undefined) return false; // not announced yet, or freed: the PE knows
      this.#kinds.push(kind);
      this.#ids.push(view.getUint32(at + 4, true));
      this.#args.push(arg);
      this.#targets.push(array);
    }
    return this.#nextPayload === payloads.length;
  }

  #apply(kind: number, dest: number, arg: unknown[], array: KnownArray): unknown {
    const offset = array.layout.partOffset(dest);
    switch (kind) {
      case FarOp.Op:
        return runOpRequest(array.target, offset, arg as OpRequest);
      case FarOp.Put:
        putAt(array.target, offset + (arg[1] as number), arg[2] as AnyTypedArray);
        return undefined;
      case FarOp.Get:
        return getAt(array.target, offset + (arg[1] as number), arg[2] as number);
      default:
        fillAt(array.target, offset, array.layout.localLength(dest), arg[1] as Scalar);
        return undefined;
    }
  }
}
