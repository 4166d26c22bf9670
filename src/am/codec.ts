/**
 * The value codec of active messages: how an argument, a result or an error travels in a frame.
 *
 * Each value starts with a one-byte tag:
 * ```
 * tag  value          then
 *   0  undefined      -
 *   1  null           -
 *   2  false          -
 *   3  true           -
 *   4  int32          i32
 *   5  number         f64
 *   6  string         u32 byte length, UTF-8 bytes
 *   7  bigint         i64 (values outside the 64-bit signed range use tag 11)
 *   8  typed array    u8 dtype, u32 byte length, padding to an 8-byte boundary of the frame, raw bytes
 *   9  large typed    u8 dtype; the bytes travel by reference on the transport's side channel
 *  10  tuple          u32 count, then count values (arguments of an activity)
 *  11  other          u32 byte length, msgpackr bytes (plain objects, arrays, Map, Set, Date, …)
 * ```
 * Typed arrays are never converted element by element: their bytes are copied as they are.
 * Values that cannot travel (functions, symbols, cyclic structures) are refused with an
 * {@link EncodeError} before anything is written.
 *
 * @module
 */
import { Packr } from "msgpackr";

import { EncodeError, describeValue } from "../errors.js";
import { alignUp } from "../util/index.js";

const TAG_UNDEFINED = 0;
const TAG_NULL = 1;
const TAG_FALSE = 2;
const TAG_TRUE = 3;
const TAG_INT32 = 4;
const TAG_FLOAT64 = 5;
const TAG_STRING = 6;
const TAG_BIGINT = 7;
const TAG_TYPED = 8;
const TAG_LARGE = 9;
const TAG_TUPLE = 10;
const TAG_OTHER = 11;

type TypedArray =
  | Int8Array | Uint8Array | Uint8ClampedArray | Int16Array | Uint16Array | Int32Array | Uint32Array
  | Float32Array | Float64Array | BigInt64Array | BigUint64Array;

type TypedArrayConstructor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => TypedArray;

/** dtype code → constructor; the code is the index. */
const kTypedConstructors: readonly TypedArrayConstructor[] = [
  Int8Array, Uint8Array, Uint8ClampedArray, Int16Array, Uint16Array, Int32Array, Uint32Array,
  Float32Array, Float64Array, BigInt64Array, BigUint64Array,
];

function dtypeCode(value: TypedArray): number {
  // Buffer and other subclasses travel as their base type.
  for (let code = 0; code < kTypedConstructors.length; code++) {
    if (value instanceof kTypedConstructors[code]!) return code;
  }
  return -1;
}

const kPackr = new Packr({ moreTypes: true, useRecords: false, structuredClone: false, copyBuffers: true });
const kEncoder = new TextEncoder();
const kDecoder = new TextDecoder();
const kInt64Min = -(2n ** 63n);
const kInt64Max = 2n ** 63n - 1n;

/** Where large payloads go and come from: the transport's side channel. */
export interface LargeChannel {
  shipLarge(dest: number, bytes: Uint8Array): void;
  takeLarge(src: number): SharedArrayBuffer;
}

/**
 * A growable frame being written for one destination. Messages are appended with the `write*`
 * methods; {@link mark} and {@link rollback} undo a message that failed to encode.
 */
export class FrameWriter {
  bytes: Uint8Array;
  view: DataView;
  position = 0;
  messages = 0;
  /** Large typed arrays of the message being written, shipped when it is complete. */
  readonly #large: Uint8Array[] = [];
  #largeBytes: number;

  constructor(initialBytes: number, largeBytes: number) {
    this.bytes = new Uint8Array(initialBytes);
    this.view = new DataView(this.bytes.buffer);
    this.#largeBytes = largeBytes;
  }

  ensure(extra: number): void {
    const needed = this.position + extra;
    if (needed <= this.bytes.byteLength) return;
    let size = this.bytes.byteLength * 2;
    while (size < needed) size *= 2;
    const bytes = new Uint8Array(size);
    bytes.set(this.bytes.subarray(0, this.position));
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer);
  }

  /** Writes an 8-byte message header. */
  header(kind: number, flags: number, amId: number, requestId: number): void {
    this.ensure(8);
    const view = this.view;
    const at = this.position;
    view.setUint8(at, kind);
    view.setUint8(at + 1, flags);
    view.setUint16(at + 2, amId, true);
    view.setUint32(at + 4, requestId, true);
    this.position = at + 8;
  }

  /** Appends one value (see the tag table). Throws EncodeError, leaving the writer to be rolled back. */
  value(value: unknown): void {
    switch (typeof value) {
      case "number":
        if ((value | 0) === value && !Object.is(value, -0)) {
          this.ensure(5);
          this.view.setUint8(this.position, TAG_INT32);
          this.view.setInt32(this.position + 1, value, true);
          this.position += 5;
        } else {
          this.ensure(9);
          this.view.setUint8(this.position, TAG_FLOAT64);
          this.view.setFloat64(this.position + 1, value, true);
          this.position += 9;
        }
        return;
      case "string":
        this.#string(value);
        return;
      case "boolean":
        this.#tag(value ? TAG_TRUE : TAG_FALSE);
        return;
      case "undefined":
        this.#tag(TAG_UNDEFINED);
        return;
      case "bigint":
        if (value >= kInt64Min && value <= kInt64Max) {
          this.ensure(9);
          this.view.setUint8(this.position, TAG_BIGINT);
          this.view.setBigInt64(this.position + 1, value, true);
          this.position += 9;
        } else {
          this.#other(value);
        }
        return;
      case "object":
        if (value === null) {
          this.#tag(TAG_NULL);
        } else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) {
          this.#typed(value as TypedArray);
        } else {
          checkEncodable(value, "value", []);
          this.#other(value);
        }
        return;
      default:
        throw new EncodeError(`cannot send ${describeValue(value)}: expected a number, string, boolean, bigint, null, undefined, typed array, array, plain object, Map, Set or Date`);
    }
  }

  /** Appends a tuple of values (an activity's arguments). */
  tuple(values: readonly unknown[]): void {
    this.ensure(5);
    this.view.setUint8(this.position, TAG_TUPLE);
    this.view.setUint32(this.position + 1, values.length, true);
    this.position += 5;
    for (const value of values) this.value(value);
  }

  #tag(tag: number): void {
    this.ensure(1);
    this.bytes[this.position++] = tag;
  }

  #string(value: string): void {
    const maxBytes = value.length * 3;
    this.ensure(5 + maxBytes);
    const at = this.position;
    this.bytes[at] = TAG_STRING;
    let length = 0;
    if (value.length < 64) {
      // Short ASCII strings are the common case; a plain loop beats encodeInto's call overhead.
      const bytes = this.bytes;
      let i = 0;
      for (; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at + 5 + i] = code;
      }
      length = i === value.length ? i : kEncoder.encodeInto(value, bytes.subarray(at + 5)).written;
    } else {
      length = kEncoder.encodeInto(value, this.bytes.subarray(at + 5)).written;
    }
    this.view.setUint32(at + 1, length, true);
    this.position = at + 5 + length;
  }

  #typed(value: TypedArray): void {
    const code = dtypeCode(value);
    if (code < 0) throw new EncodeError(`cannot send ${describeValue(value)}: not a typed array shoal knows`);
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (value.byteLength >= this.#largeBytes) {
      this.ensure(2);
      this.bytes[this.position] = TAG_LARGE;
      this.bytes[this.position + 1] = code;
      this.position += 2;
      this.#large.push(bytes);
      return;
    }
    this.ensure(6 + 8 + value.byteLength);
    const at = this.position;
    this.bytes[at] = TAG_TYPED;
    this.bytes[at + 1] = code;
    this.view.setUint32(at + 2, value.byteLength, true);
    const start = alignUp(at + 6, 8);
    this.bytes.set(bytes, start);
    this.position = start + value.byteLength;
  }

  #other(value: unknown): void {
    const packed = kPackr.pack(value);
    this.ensure(5 + packed.byteLength);
    this.view.setUint8(this.position, TAG_OTHER);
    this.view.setUint32(this.position + 1, packed.byteLength, true);
    this.bytes.set(packed, this.position + 5);
    this.position += 5 + packed.byteLength;
  }

  /** Remembers where the current message starts. */
  mark(): number {
    if (this.#large.length > 0) this.#large.length = 0;
    return this.position;
  }

  /** Undoes everything written since `mark`. */
  rollback(mark: number): void {
    this.position = mark;
    if (this.#large.length > 0) this.#large.length = 0;
  }

  /** Completes the current message: counts it and ships its large payloads to `dest`. */
  complete(channel: LargeChannel, dest: number): void {
    this.messages++;
    if (this.#large.length === 0) return;
    for (const bytes of this.#large) channel.shipLarge(dest, bytes);
    this.#large.length = 0;
  }
}

/** Refuses values that cannot travel, naming where in the value the problem is. */
function checkEncodable(value: object, path: string, ancestors: object[]): void {
  if (ancestors.includes(value)) throw new EncodeError(`cannot send a cyclic structure: ${path} refers back to one of its parents`);
  if (ancestors.length > 64) throw new EncodeError(`cannot send a structure nested more than 64 levels deep (at ${path})`);
  if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer || value instanceof Date || value instanceof RegExp) return;
  ancestors.push(value);
  if (value instanceof Map) {
    for (const [key, item] of value) {
      checkItem(key, `${path}.key`, ancestors);
      checkItem(item, `${path}.get(${String(key)})`, ancestors);
    }
  } else if (value instanceof Set || Array.isArray(value)) {
    let i = 0;
    for (const item of value as Iterable<unknown>) checkItem(item, `${path}[${i++}]`, ancestors);
  } else {
    for (const key of Object.keys(value)) checkItem((value as Record<string, unknown>)[key], `${path}.${key}`, ancestors);
  }
  ancestors.pop();
}

function checkItem(item: unknown, path: string, ancestors: object[]): void {
  if (typeof item === "function" || typeof item === "symbol") {
    throw new EncodeError(`cannot send ${describeValue(item)} (at ${path}): only data travels between PEs; register code with defineAm or defineActivity instead`);
  }
  if (typeof item === "object" && item !== null) checkEncodable(item, path, ancestors);
}

/** Reads values from a received frame. */
export class FrameReader {
  bytes: Uint8Array = new Uint8Array(0);
  view: DataView = new DataView(new ArrayBuffer(0));
  position = 0;
  source = 0;
  #channel: LargeChannel;

  constructor(channel: LargeChannel) {
    this.#channel = channel;
  }

  /** Starts reading `bytes` at `position`; set {@link source} before reading values. */
  reset(bytes: Uint8Array, position: number): void {
    if (bytes !== this.bytes) {
      this.bytes = bytes;
      this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    }
    this.position = position;
  }

  value(): unknown {
    const view = this.view;
    const at = this.position;
    const tag = view.getUint8(at);
    switch (tag) {
      case TAG_UNDEFINED: this.position = at + 1; return undefined;
      case TAG_NULL: this.position = at + 1; return null;
      case TAG_FALSE: this.position = at + 1; return false;
      case TAG_TRUE: this.position = at + 1; return true;
      case TAG_INT32: this.position = at + 5; return view.getInt32(at + 1, true);
      case TAG_FLOAT64: this.position = at + 9; return view.getFloat64(at + 1, true);
      case TAG_BIGINT: this.position = at + 9; return view.getBigInt64(at + 1, true);
      case TAG_STRING: {
        const length = view.getUint32(at + 1, true);
        const start = at + 5;
        this.position = start + length;
        if (length < 64) {
          const bytes = this.bytes;
          let text = "";
          for (let i = start; i < start + length; i++) {
            const code = bytes[i]!;
            if (code >= 0x80) return kDecoder.decode(bytes.subarray(start, start + length));
            text += String.fromCharCode(code);
          }
          return text;
        }
        return kDecoder.decode(this.bytes.subarray(start, start + length));
      }
      case TAG_TYPED: {
        const Constructor = kTypedConstructors[view.getUint8(at + 1)]!;
        const byteLength = view.getUint32(at + 2, true);
        const start = alignUp(at + 6, 8);
        this.position = start + byteLength;
        const copy = this.bytes.slice(start, start + byteLength);
        return new Constructor(copy.buffer, 0, byteLength / (Constructor as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
      }
      case TAG_LARGE: {
        const Constructor = kTypedConstructors[view.getUint8(at + 1)]!;
        this.position = at + 2;
        const buffer = this.#channel.takeLarge(this.source);
        return new Constructor(buffer);
      }
      case TAG_TUPLE: {
        const count = view.getUint32(at + 1, true);
        this.position = at + 5;
        const values = new Array<unknown>(count);
        for (let i = 0; i < count; i++) values[i] = this.value();
        return values;
      }
      case TAG_OTHER: {
        const length = view.getUint32(at + 1, true);
        const start = at + 5;
        this.position = start + length;
        return kPackr.unpack(this.bytes.subarray(start, start + length));
      }
      default:
        throw new EncodeError(`malformed frame from PE ${this.source}: unknown value tag ${tag} at byte ${at}`);
    }
  }
}
