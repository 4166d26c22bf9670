/**
 * The process level of the collectives: the members of a team that share a process combine and
 * share values through one `SharedArrayBuffer` of the team's (its *area*), with no message.
 *
 * Each local member has a slot; the leader (the member of lowest rank) has the result slot:
 *
 * ```
 * words (Int32, 16 per slot, one cache line each):  slot i: [0] call number + 1 (ARRIVED)  [1] kind  [2] length  [3] dtype  [4] CONSUMED  [5] READ  [6] WAITING
 *                                                    result: [0] call number + 1 (RELEASED) [1] kind  [2] length  [3] dtype
 * data:                                              slot 0 … slot k-1, result: kSlotBytes each
 * ```
 *
 * - **Up** (reduce, barrier): each member writes its value into its slot, then stores ARRIVED;
 *   the leader waits for every ARRIVED of this call and combines the slots in rank order.
 * - **Down** (broadcast, the end of an allreduce): the leader writes the value into the result
 *   slot, then stores RELEASED; the others wait for it and copy the value out.
 *
 * A member writes its slot again only once the leader has stored CONSUMED = the stamp of its last
 * value (the leader read it); the leader writes the result slot again only once every member has
 * stored READ = the stamp of the last result (each copied it out). A reduce, which has no way
 * down, and a broadcast, which has no way up, need exactly these; the other calls usually find
 * them set already. Waiting spins briefly (the other members are usually at the same call), then
 * sets the member's WAITING and lets its progress loop run; a writer rings the doorbell of a
 * member whose WAITING is set, and only then (ringing an idle PE would set its loop polling).
 *
 * The process's first PE allocates each team's area on the first request (one active message per
 * member and team, once).
 *
 * @module
 */
import { combineValues, type ReducibleValue, type ReductionKernel } from "../../kernels/index.js";
import { defineAm, entryOf, type Engine } from "../am/index.js";
import type { Call } from "./mailbox.js";

/** Bytes of each slot: values up to this size go through the area; larger ones as messages. */
export const kSlotBytes = 64 * 1024;
const kWordsPerSlot = 16;
const ARRIVED = 0;
const CONSUMED = 4;
const READ = 5;
/** A member's own word: 1 while it waits through its progress loop (which then needs a doorbell). */
const WAITING = 6;

const Kind = { Null: 0, Number: 1, Bigint: 2, Typed: 3, Error: 4, ByMessage: 5 } as const;

/** What the leader passes down instead of a value that does not fit: the value follows by message. */
export const kByMessage: unique symbol = Symbol("shoal.coll.byMessage");

type Typed = Extract<ReducibleValue, object>;
type TypedConstructor = new (buffer: ArrayBufferLike, byteOffset?: number, length?: number) => Typed;
const kConstructors: readonly TypedConstructor[] = [
  Int8Array, Uint8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array, BigInt64Array, BigUint64Array,
] as unknown as TypedConstructor[];

/** Whether `value` can go through an area: null, a number, a bigint, or a shoal typed array of at most kSlotBytes. */
export function fitsArea(value: unknown): boolean {
  if (value === null || typeof value === "number" || typeof value === "bigint") return true;
  return ArrayBuffer.isView(value) && kConstructors.includes(value.constructor as TypedConstructor) && value.byteLength <= kSlotBytes;
}

/** The bytes of the area of a process's `members` members. */
function areaBytes(members: number): number {
  return (members + 1) * (kWordsPerSlot * 4 + kSlotBytes);
}

// --------------------------------------------------------------------------------- allocation

/** On the process's first PE: each team's area, by team id. */
const kAllocated = new Map<number, SharedArrayBuffer>();

const areaAm = defineAm("shoal.coll.area", (_ctx, [team, members]: [number, number]) => {
  let area = kAllocated.get(team);
  if (area === undefined) kAllocated.set(team, (area = new SharedArrayBuffer(areaBytes(members))));
  return area;
});

/** This PE's areas, by team id. */
const kAreas = new Map<number, Area>();

/** This PE's area of team `team`, once {@link areaOf} has got it. */
export function cachedArea(team: number): Area | undefined {
  return kAreas.get(team);
}

/** The area of team `team` in this process, for its `members` local members of which this PE is `index`. */
export async function areaOf(engine: Engine, team: number, members: number, index: number): Promise<Area> {
  let area = kAreas.get(team);
  if (area === undefined) {
    const buffer = await engine.request(engine.transport.firstPe, entryOf(areaAm)!, [team, members]) as SharedArrayBuffer;
    area = kAreas.get(team) ?? new Area(engine, buffer, members, index);
    kAreas.set(team, area);
  }
  return area;
}

// --------------------------------------------------------------------------------------- area

/** Synchronous polls of a wait before it lets the progress loop run. */
const kSpinPolls = 4000;

/** A team's area in this process, seen from one of its local members. */
export class Area {
  readonly #engine: Engine;
  readonly #words: Int32Array;
  readonly #buffer: SharedArrayBuffer;
  readonly #members: number;
  readonly #index: number;
  readonly #dataStart: number;
  /** The data region by dtype code (kConstructors), made when first used. */
  readonly #views: (Typed | undefined)[] = [];
  /**
   * The stamp of this PE's last operation on the area. Every member makes the same operations on
   * a team's area in the same order (the same calls, the same plan), so
   * their counters agree; the words compare stamps for equality only, so wrapping is harmless.
   */
  #epoch = 0;
  /** A member: the stamp of its last value (0: none yet). */
  #lastWritten = 0;
  /** The leader: the stamp of its last result (0: none yet). */
  #lastReleased = 0;

  constructor(engine: Engine, buffer: SharedArrayBuffer, members: number, index: number) {
    this.#engine = engine;
    this.#buffer = buffer;
    this.#words = new Int32Array(buffer, 0, (members + 1) * kWordsPerSlot);
    this.#members = members;
    this.#index = index;
    this.#dataStart = (members + 1) * kWordsPerSlot * 4;
  }

  /**
   * Up: this member's `value` for call `c`. The leader (index 0) gets every member's value
   * combined in index order with `kernel` (or null without one: a barrier's arrival); the others
   * get undefined at once. A member whose call has failed passes its reason instead, and a value
   * that does not match the leader's fails the call there. Returns a promise only when it had to
   * wait longer than a short spin (the usual case is synchronous).
   */
  up(c: Call, value: unknown, kernel: ReductionKernel | undefined, pes: readonly number[]): unknown {
    const stamp = this.#next();
    if (this.#index === 0) return this.#combineFrom(c, value, kernel, pes, 1, value, stamp);
    const last = this.#lastWritten;
    if (last !== 0) {
      const waiting = this.#until(this.#index * kWordsPerSlot + CONSUMED, last);
      if (waiting !== true) return waiting.then(() => this.#arrive(c, value, pes, stamp));
    }
    return this.#arrive(c, value, pes, stamp);
  }

  /** Down: the leader's `value` for call `c` to every member; the leader passes it, the others get a copy (or the call's failure). Synchronous unless it had to wait. */
  down(c: Call, value: unknown, pes: readonly number[]): unknown {
    const stamp = this.#next();
    if (this.#index === 0) return this.#releaseFrom(c, value, pes, 1, stamp);
    const waiting = this.#until(this.#members * kWordsPerSlot, stamp);
    return waiting === true ? this.#take(c, pes, stamp) : waiting.then(() => this.#take(c, pes, stamp));
  }

  /** {@link up}, then {@link down} with the leader's combination: an allreduce (or barrier) in one process. */
  upDown(c: Call, value: unknown, kernel: ReductionKernel | undefined, pes: readonly number[]): unknown {
    const reduced = this.up(c, value, kernel, pes);
    return reduced instanceof Promise ? reduced.then((r) => this.down(c, r, pes)) : this.down(c, reduced, pes);
  }

  /** The stamp of the next operation (never 0, which the words start at). */
  #next(): number {
    this.#epoch = (this.#epoch + 1) | 0 || 1;
    return this.#epoch;
  }

  /** A member: writes its value (or its failure) into its slot, then ARRIVED. */
  #arrive(c: Call, value: unknown, pes: readonly number[], stamp: number): undefined {
    this.#write(this.#index, c.failed ? { error: c.reason } : value);
    this.#lastWritten = stamp;
    Atomics.store(this.#words, this.#index * kWordsPerSlot + ARRIVED, stamp);
    this.#wake(0, pes);
    return undefined;
  }

  /** The leader: combines the slots of members `member…` into `acc`. */
  #combineFrom(c: Call, value: unknown, kernel: ReductionKernel | undefined, pes: readonly number[], member: number, acc: unknown, stamp: number): unknown {
    const words = this.#words;
    for (; member < this.#members; member++) {
      const base = member * kWordsPerSlot;
      const waiting = this.#until(base + ARRIVED, stamp);
      if (waiting !== true) {
        const [next, sofar] = [member, acc];
        return waiting.then(() => this.#combineFrom(c, value, kernel, pes, next, sofar, stamp));
      }
      const got = this.#read(member, false);
      if (got instanceof Failure) c.fail(got.reason);
      else if (!c.failed && kernel !== undefined) {
        if (sameShape(value, got)) acc = combineValues(kernel, acc as ReducibleValue, got as ReducibleValue);
        else c.fail(`rank ${c.rankOfPe(pes[member]!)}'s value (${describeShape(got)}) does not match rank ${c.rank}'s (${describeShape(value)}): every rank must pass the same type and length`);
      }
      // The combination is a new array: nothing refers to the slot any more, and its member may write it again.
      Atomics.store(words, base + CONSUMED, stamp);
      this.#wake(member, pes);
    }
    return kernel === undefined ? null : acc;
  }

  /** The leader: once members `member…` have read the last result, writes this one and RELEASED. */
  #releaseFrom(c: Call, value: unknown, pes: readonly number[], member: number, stamp: number): unknown {
    const last = this.#lastReleased;
    if (last !== 0) {
      for (; member < this.#members; member++) {
        const waiting = this.#until(member * kWordsPerSlot + READ, last);
        if (waiting !== true) {
          const next = member;
          return waiting.then(() => this.#releaseFrom(c, value, pes, next, stamp));
        }
      }
    }
    this.#write(this.#members, c.failed ? { error: c.reason } : value);
    this.#lastReleased = stamp;
    Atomics.store(this.#words, this.#members * kWordsPerSlot, stamp);
    for (let other = 1; other < this.#members; other++) this.#wake(other, pes);
    return value;
  }

  /** A member: copies the released result out, then says so (READ). */
  #take(c: Call, pes: readonly number[], stamp: number): unknown {
    const got = this.#read(this.#members, true);
    Atomics.store(this.#words, this.#index * kWordsPerSlot + READ, stamp);
    this.#wake(0, pes);
    if (got instanceof Failure) {
      c.fail(got.reason);
      return undefined;
    }
    return got;
  }

  /** True once word `word` holds `stamp` within a short spin (the other members are usually at the same call); else a promise of it. */
  #until(word: number, stamp: number): true | Promise<void> {
    const words = this.#words;
    // With more PEs than cores a poll would take the core from the PE it waits for: one look only.
    const polls = this.#engine.spinMs > 0 ? kSpinPolls : 1;
    for (let poll = 0; poll < polls; poll++) if (Atomics.load(words, word) === stamp) return true;
    // Set WAITING before the progress loop's own check (Dekker: a writer stores, then loads WAITING).
    const waiting = this.#index * kWordsPerSlot + WAITING;
    Atomics.store(words, waiting, 1);
    return this.#engine.waitUntil(() => Atomics.load(words, word) === stamp, true).then(
      () => void Atomics.store(words, waiting, 0),
      (error: unknown) => {
        Atomics.store(words, waiting, 0);
        throw error;
      },
    );
  }

  /** Rings member `member`'s doorbell if it waits through its progress loop. */
  #wake(member: number, pes: readonly number[]): void {
    if (Atomics.load(this.#words, member * kWordsPerSlot + WAITING) !== 0) this.#engine.transport.wake(pes[member]!);
  }

  /** Writes `value` into slot `slot` (the result slot is `members`). */
  #write(slot: number, value: unknown): void {
    const words = this.#words;
    const word = slot * kWordsPerSlot;
    const offset = slot * kSlotBytes;
    if (typeof value === "number") {
      words[word + 1] = Kind.Number;
      this.#view(7)[offset / 8] = value as never;
    } else if (ArrayBuffer.isView(value)) {
      const typed = value as Typed;
      const code = kConstructors.indexOf(typed.constructor as TypedConstructor);
      words[word + 1] = Kind.Typed;
      words[word + 2] = typed.length;
      words[word + 3] = code;
      this.#view(code).set(typed as never, offset / typed.BYTES_PER_ELEMENT);
    } else if (typeof value === "bigint") {
      words[word + 1] = Kind.Bigint;
      this.#view(8)[offset / 8] = value as never;
    } else if (value === null || value === undefined) {
      words[word + 1] = Kind.Null;
    } else if (value === kByMessage) {
      words[word + 1] = Kind.ByMessage;
    } else {
      const text = kEncoder.encode(String((value as { error: unknown }).error).slice(0, 4000));
      words[word + 1] = Kind.Error;
      words[word + 2] = text.byteLength;
      (this.#view(1) as Uint8Array).set(text, offset);
    }
  }

  /** The value in slot `slot`: a view on the area (valid until the slot is written again), or a copy. */
  #read(slot: number, copy: boolean): unknown {
    const words = this.#words;
    const word = slot * kWordsPerSlot;
    const offset = slot * kSlotBytes;
    switch (words[word + 1]) {
      case Kind.Number: return this.#view(7)[offset / 8];
      case Kind.Typed: {
        const view = this.#view(words[word + 3]!);
        const start = offset / view.BYTES_PER_ELEMENT;
        const end = start + words[word + 2]!;
        return copy ? view.slice(start, end) : view.subarray(start, end);
      }
      case Kind.Bigint: return this.#view(8)[offset / 8];
      case Kind.Null: return null;
      case Kind.ByMessage: return kByMessage;
      default: return new Failure(kDecoder.decode((this.#view(1) as Uint8Array).slice(offset, offset + words[word + 2]!)));
    }
  }

  /** The data region as the typed array of dtype code `code` (made once). */
  #view(code: number): Typed {
    let view = this.#views[code];
    if (view === undefined) {
      const Typed = kConstructors[code]!;
      const bytes = this.#buffer.byteLength - this.#dataStart;
      view = new Typed(this.#buffer, this.#dataStart, bytes / (Typed as unknown as { BYTES_PER_ELEMENT: number }).BYTES_PER_ELEMENT);
      this.#views[code] = view;
    }
    return view;
  }
}

const kEncoder = new TextEncoder();
const kDecoder = new TextDecoder();

/** A member's failure, read from its slot. */
class Failure {
  constructor(readonly reason: string) {}
}

function sameShape(a: unknown, b: unknown): boolean {
  if (typeof a !== "object" || a === null) return typeof a === typeof b;
  return ArrayBuffer.isView(b) && b.constructor === (a as object).constructor && (b as Typed).length === (a as Typed).length;
}

function describeShape(value: unknown): string {
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${(value as Typed).length}`;
  return typeof value;
}
