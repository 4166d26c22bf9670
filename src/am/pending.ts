/**
 * The requests a PE has sent and not yet seen completed, by request id.
 *
 * An id is a slot index (low 24 bits) and the slot's generation (high 8 bits, never 0, so no id
 * is 0, which means "no id" on the wire). A slot is reused once its request completes, with the
 * next generation, so a late or duplicate message for an old request never matches the new one.
 * Entries are pooled: a request allocates neither a map entry nor, in the steady state, an object.
 *
 * @module
 */
import { ShoalError } from "../errors.js";
import type { AmEntry } from "./registry.js";
import type { Scope } from "./scope.js";

const kSlotBits = 24;
const kMaxSlots = 1 << kSlotBits;
const kSlotMask = kMaxSlots - 1;

/** A request waiting for its reply, its DONE, or both. @internal */
export class PendingRequest {
  id = 0;
  resolve: ((value: unknown) => void) | undefined = undefined;
  reject: ((reason: unknown) => void) | undefined = undefined;
  /** The scope that spawned it, when tracked. */
  scope: Scope | undefined = undefined;
  /** Whether the reply (or failure) has arrived, or none is expected. */
  replied = false;
  entry: AmEntry | undefined = undefined;
  dest = 0;
}

/** The pending requests of one PE. @internal */
export class PendingTable {
  readonly #slots: (PendingRequest | undefined)[] = [];
  readonly #generations: number[] = [];
  readonly #free: number[] = [];
  readonly #pool: PendingRequest[] = [];
  #size = 0;

  /** How many requests are pending. */
  get size(): number {
    return this.#size;
  }

  /** Opens a pending request and gives it an id. */
  open(entry: AmEntry, dest: number, scope: Scope | undefined, replyWanted: boolean): PendingRequest {
    let slot = this.#free.pop();
    if (slot === undefined) {
      slot = this.#slots.length;
      if (slot >= kMaxSlots) {
        throw new ShoalError(`PE has ${kMaxSlots} requests in flight, the most one PE can track: await some results (or use world.send for messages without one) before sending more`);
      }
      this.#slots.push(undefined);
      this.#generations.push(0);
    }
    const generation = (this.#generations[slot]! % 255) + 1;
    this.#generations[slot] = generation;
    const pending = this.#pool.pop() ?? new PendingRequest();
    pending.id = ((generation << kSlotBits) | slot) >>> 0;
    pending.entry = entry;
    pending.dest = dest;
    pending.scope = scope;
    pending.replied = !replyWanted;
    this.#slots[slot] = pending;
    this.#size++;
    return pending;
  }

  /** The pending request with `id`, or undefined (completed already, or never sent). */
  get(id: number): PendingRequest | undefined {
    const pending = this.#slots[id & kSlotMask];
    return pending !== undefined && pending.id === id ? pending : undefined;
  }

  /** Completes `pending`: frees its slot and returns it to the pool. Read what you need from it first. */
  close(pending: PendingRequest): void {
    const slot = pending.id & kSlotMask;
    this.#slots[slot] = undefined;
    this.#free.push(slot);
    this.#size--;
    pending.id = 0;
    pending.resolve = undefined;
    pending.reject = undefined;
    pending.scope = undefined;
    pending.entry = undefined;
    this.#pool.push(pending);
  }

  /** Every pending request (for failing them all). */
  *values(): IterableIterator<PendingRequest> {
    for (const pending of this.#slots) if (pending !== undefined) yield pending;
  }
}
