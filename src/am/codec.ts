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
 *   5  number         f64 (also -0, NaN, ±Infinity)
 *   6  string         u32 byte length, UTF-8 bytes
 *   7  bigint         i64
 *   8  typed array    u8 dtype, u32 byte length, padding to an 8-byte boundary of the frame, raw bytes
 *   9  large typed    u8 dtype; the bytes travel by reference on the transport's side channel
 *  10  array          u32 count, then count values (also an activity's arguments)
 *  11  plain object   u32 count, then count × (key: u32 byte length + UTF-8, value)
 *  12  Map            u32 count, then count × (key value, value)
 *  13  Set            u32 count, then count values
 *  14  Date           f64 milliseconds since the epoch
 *  15  big bigint     u32 byte length, decimal digits (a bigint outside the 64-bit signed range)
 *  16  shared buffer  -; the SharedArrayBuffer itself travels on the side channel, shared, not copied
 * ```
 * Typed arrays are never converted element by element: their bytes are copied as they are, also
 * inside arrays and objects. Values that cannot travel (functions, symbols, class instances other
 * than the ones above, cyclic structures) are refused with an {@link EncodeError} that says where
 * in the value the problem is, before anything is sent.
 *
 * @module
 */
import { EncodeError, describeValue } from "../errors.js";
import { copyToShared } from "../lamellae/index.js";
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
const TAG_ARRAY = 10;
const TAG_OBJECT = 11;
const TAG_MAP = 12;
const TAG_SET = 13;
const TAG_DATE = 14;
const TAG_BIG_BIGINT = 15;
const TAG_SHARED = 16;
/** Containers nested deeper than this are refused (a guard against cycles through getters, and stack overflow). */
const kMaxDepth = 64;

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

const kEncoder = new TextEncoder();
const kDecoder = new TextDecoder();
const kInt64Min = -(2n ** 63n);
const kInt64Max = 2n ** 63n - 1n;

/** Where large payloads come from: the transport's side channel. */
export interface LargeChannel {
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
  /**
   * Large typed arrays of the message being written, copied when it is complete, and shared
   * buffers, which are not copied.
   */
  readonly #large: (Uint8Array | SharedArrayBuffer)[] = [];
  /**
   * Copies of the large payloads of the frame's completed messages, in order. They are posted when
   * the frame is sent (see ShmTransport.send), not before: a frame that itself travels by
   * reference must reach the side channel ahead of them.
   */
  readonly payloads: SharedArrayBuffer[] = [];
  readonly #largeBytes: number;

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
          this.#tag(TAG_BIG_BIGINT);
          this.#text(value.toString());
        }
        return;
      case "object":
        if (value === null) this.#tag(TAG_NULL);
        else if (ArrayBuffer.isView(value) && !(value instanceof DataView)) this.#typed(value as TypedArray);
        else this.#container(value);
        return;
      default:
        throw this.#refuse(value, "");
    }
  }

  /** Appends an array of values (an activity's arguments). */
  tuple(values: readonly unknown[]): void {
    this.#container(values);
  }

  /** Where in the value being written the writer is, for error messages: keys and indices. */
  readonly #path: string[] = [];
  /** The containers being written, outermost first, to refuse cycles. */
  readonly #ancestors: object[] = [];

  #refuse(value: unknown, why: string): EncodeError {
    const where = this.#path.length === 0 ? "" : ` (at value${this.#path.join("")})`;
    const expected = "expected a number, string, boolean, bigint, null, undefined, typed array, SharedArrayBuffer, Date, or an array, plain object, Map or Set of those";
    return new EncodeError(`cannot send ${describeValue(value)}${where}: ${why === "" ? expected : why}`);
  }

  #container(value: object): void {
    const ancestors = this.#ancestors;
    if (ancestors.includes(value)) throw this.#refuse(value, "it contains itself (a cyclic structure); send a tree");
    if (ancestors.length >= kMaxDepth) throw this.#refuse(value, `it is nested more than ${kMaxDepth} levels deep`);
    const path = this.#path;
    ancestors.push(value);
    if (Array.isArray(value)) {
      this.#count(TAG_ARRAY, value.length);
      for (let i = 0; i < value.length; i++) {
        path.push(`[${i}]`);
        this.value(value[i]);
        path.pop();
      }
    } else if (value instanceof Map) {
      this.#count(TAG_MAP, value.size);
      for (const [key, item] of value) {
        path.push(`.keys()`);
        this.value(key);
        path.pop();
        path.push(`.get(${describeValue(key)})`);
        this.value(item);
        path.pop();
      }
    } else if (value instanceof Set) {
      this.#count(TAG_SET, value.size);
      for (const item of value) {
        path.push(`.values()`);
        this.value(item);
        path.pop();
      }
    } else if (value instanceof SharedArrayBuffer) {
      this.#tag(TAG_SHARED);
      this.#large.push(value);
    } else if (value instanceof Date) {
      this.ensure(9);
      this.view.setUint8(this.position, TAG_DATE);
      this.view.setFloat64(this.position + 1, value.getTime(), true);
      this.position += 9;
    } else {
      const proto: unknown = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw this.#refuse(value, "only plain objects travel, without their class; send the data as a plain object and rebuild the instance on the other side");
      }
      const keys = Object.keys(value);
      this.#count(TAG_OBJECT, keys.length);
      for (const key of keys) {
        this.#text(key);
        path.push(`.${key}`);
        this.value((value as Record<string, unknown>)[key]);
        path.pop();
      }
    }
    ancestors.pop();
  }

  #count(tag: number, count: number): void {
    this.ensure(5);
    this.view.setUint8(this.position, tag);
    this.view.setUint32(this.position + 1, count, true);
    this.position += 5;
  }

  #tag(tag: number): void {
    this.ensure(1);
    this.bytes[this.position++] = tag;
  }

  #string(value: string): void {
    this.#tag(TAG_STRING);
    this.#text(value);
  }

  /** Writes u32 byte length + UTF-8 bytes. */
  #text(value: string): void {
    this.ensure(4 + value.length * 3);
    const at = this.position;
    let length = 0;
    if (value.length < 64) {
      // Short ASCII strings are the common case; a plain loop beats encodeInto's call overhead.
      const bytes = this.bytes;
      let i = 0;
      for (; i < value.length; i++) {
        const code = value.charCodeAt(i);
        if (code >= 0x80) break;
        bytes[at + 4 + i] = code;
      }
      length = i === value.length ? i : kEncoder.encodeInto(value, bytes.subarray(at + 4)).written;
    } else {
      length = kEncoder.encodeInto(value, this.bytes.subarray(at + 4)).written;
    }
    this.view.setUint32(at, length, true);
    this.position = at + 4 + length;
  }

  #typed(value: TypedArray): void {
    const code = dtypeCode(value);
    if (code < 0) throw this.#refuse(value, "not a typed array shoal knows");
    const bytes = new Uint8Array(value.buffer, value.byteOffset, value.byteLength);
    if (value.byteLength >= this.#largeBytes) {
      this.ensure(2);
      this.bytes[this.position] = TAG_LARGE;
      this.bytes[this.position + 1] = code;
      this.position += 2;
      this.#large.push(kHandedOver.has(value) ? (value.buffer as SharedArrayBuffer) : bytes);
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

  /** Remembers where the current message starts. */
  mark(): number {
    if (this.#large.length > 0) this.#large.length = 0;
    return this.position;
  }

  /** Undoes everything written since `mark`. */
  rollback(mark: number): void {
    this.position = mark;
    if (this.#large.length > 0) this.#large.length = 0;
    this.#path.length = 0;
    this.#ancestors.length = 0;
  }

  /**
   * Completes the current message: counts it, and copies its large payloads (now: the caller may
   * change its typed arrays as soon as the call returns) into {@link payloads}.
   */
  complete(): void {
    this.messages++;
    if (this.#large.length === 0) return;
    for (const item of this.#large) {
      this.payloads.push(item instanceof SharedArrayBuffer ? item : copyToShared(item, item.byteLength));
    }
    this.#large.length = 0;
  }
}

/** Typed arrays whose SharedArrayBuffer the sender gave up: they travel by reference, uncopied. */
const kHandedOver = new WeakSet<TypedArray>();

/**
 * Buffers of hand-over arrays whose messages have been answered, by byte length, for the next one
 * of that length: a new buffer costs a first touch of every page (on some machines as much as the
 * copy itself). At most {@link kPoolBytes} are kept.
 */
const kPool = new Map<number, SharedArrayBuffer[]>();
const kPoolBytes = 256 * 1024 * 1024;
let pooledBytes = 0;

/**
 * A typed array of `length` elements over a SharedArrayBuffer of its own, which the caller gives
 * up once it passes the array as (part of) an active message's argument: when large, it then
 * travels by reference instead of being copied. For shoal's own messages (a far `put`), whose
 * caller builds the array for the message and never touches it again; its contents are
 * undefined until written. @internal
 */
export function handOverArray<T extends TypedArray>(Array: new (buffer: SharedArrayBuffer) => T, bytesPerElement: number, length: number): T {
  const bytes = length * bytesPerElement;
  const pooled = kPool.get(bytes)?.pop();
  if (pooled !== undefined) pooledBytes -= bytes;
  const array = new Array(pooled ?? new SharedArrayBuffer(bytes));
  kHandedOver.add(array);
  return array;
}

/**
 * Gives back a {@link handOverArray} once the reply to its message has come: nobody reads it any
 * more (the receiver took its bytes before answering), so the next one may reuse its memory. @internal
 */
export function releaseHandOver(array: TypedArray): void {
  const buffer = array.buffer as SharedArrayBuffer;
  const bytes = buffer.byteLength;
  if (!kHandedOver.has(array) || bytes < 64 * 1024 || pooledBytes + bytes > kPoolBytes) return;
  kHandedOver.delete(array);
  let list = kPool.get(bytes);
  if (list === undefined) kPool.set(bytes, (list = []));
  list.push(buffer);
  pooledBytes += bytes;
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
      case TAG_STRING:
        this.position = at + 1;
        return this.#text();
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
      case TAG_ARRAY: {
        const count = view.getUint32(at + 1, true);
        this.position = at + 5;
        const values = new Array<unknown>(count);
        for (let i = 0; i < count; i++) values[i] = this.value();
        return values;
      }
      case TAG_OBJECT: {
        const count = view.getUint32(at + 1, true);
        this.position = at + 5;
        const object: Record<string, unknown> = {};
        for (let i = 0; i < count; i++) {
          const key = this.#text();
          const item = this.value();
          // "__proto__" is an own key like any other here, not the prototype.
          if (key === "__proto__") Object.defineProperty(object, key, { value: item, enumerable: true, writable: true, configurable: true });
          else object[key] = item;
        }
        return object;
      }
      case TAG_MAP: {
        const count = view.getUint32(at + 1, true);
        this.position = at + 5;
        const map = new Map<unknown, unknown>();
        for (let i = 0; i < count; i++) {
          const key = this.value();
          map.set(key, this.value());
        }
        return map;
      }
      case TAG_SET: {
        const count = view.getUint32(at + 1, true);
        this.position = at + 5;
        const set = new Set<unknown>();
        for (let i = 0; i < count; i++) set.add(this.value());
        return set;
      }
      case TAG_DATE:
        this.position = at + 9;
        return new Date(view.getFloat64(at + 1, true));
      case TAG_BIG_BIGINT:
        this.position = at + 1;
        return BigInt(this.#text());
      case TAG_SHARED:
        this.position = at + 1;
        return this.#channel.takeLarge(this.source);
      default:
        throw new EncodeError(`malformed frame from PE ${this.source}: unknown value tag ${tag} at byte ${at}`);
    }
  }

  /** Reads u32 byte length + UTF-8 bytes. */
  #text(): string {
    const start = this.position + 4;
    const length = this.view.getUint32(this.position, true);
    const end = start + length;
    this.position = end;
    const bytes = this.bytes;
    if (length < 64) {
      let text = "";
      for (let i = start; i < end; i++) {
        const code = bytes[i]!;
        if (code >= 0x80) return kDecoder.decode(bytes.subarray(start, end));
        text += String.fromCharCode(code);
      }
      return text;
    }
    // TextDecoder refuses views of shared memory (frames that came by reference).
    return kDecoder.decode(bytes.buffer instanceof SharedArrayBuffer ? bytes.slice(start, end) : bytes.subarray(start, end));
  }
}
