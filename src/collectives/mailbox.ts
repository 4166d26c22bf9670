/**
 * Point-to-point messages between the members of a team, for the collective algorithms: one
 * active message (`shoal.coll`) that drops its payload into the destination PE's mailbox, keyed by
 * (team, collective call, step, sender), where the algorithm's `receive` finds it.
 *
 * A message may arrive before its receiver has reached that call, or even created that team: the
 * mailbox keeps it until then. Every member calls a team's collectives in the same order, so the
 * call's sequence number names the same call on every member.
 *
 * A payload is either a value (anything the codec carries; typed arrays travel as bytes) or an
 * error: when one member finds the call cannot go on (bad input, mismatched lengths), it sends
 * errors instead of values along the algorithm's edges, so every member fails with the reason
 * instead of waiting forever.
 *
 * @module
 */
import { defineAm, entryOf, type AmEntry, type Engine } from "../am/index.js";
import type { ReducibleValue } from "../../kernels/index.js";
import { CollectiveError } from "../errors.js";
import type { TeamMembers } from "../team/index.js";

/**
 * What travels: [team id, call number, step, sender's team rank, kind, payload], where kind is 0
 * (a value), 1 (an error), or a chunk of a typed array cut at `SHOAL_GW_MTU` (gateway
 * fragmentation): 2 + the number of chunks, with payload [the chunk's first element, total length, the chunk].
 */
type Message = [team: number, sequence: number, step: number, from: number, kind: number, payload: unknown];

const kValue = 0;
const kError = 1;
const kChunks = 2;

interface Slot {
  kind: number;
  payload: unknown;
  /** Chunks that have come, for a chunked value. */
  chunks?: number;
}

type Typed = Extract<ReducibleValue, object>;

/** This PE's mailbox (one per thread: each PE is a thread). */
const kMailbox = new Map<string, Slot>();

function keyOf(team: number, sequence: number, step: number, from: number): string {
  return `${team}:${sequence}:${step}:${from}`;
}

const collectiveAm = defineAm("shoal.coll", (_ctx, message: Message) => {
  const key = keyOf(message[0], message[1], message[2], message[3]);
  const kind = message[4];
  if (kind < kChunks) {
    kMailbox.set(key, { kind, payload: message[5] });
    return;
  }
  // A chunk: the chunks of one value come in order on one link; the first makes the whole.
  const [offset, length, chunk] = message[5] as [number, number, Typed];
  let slot = kMailbox.get(key);
  if (slot === undefined) {
    slot = { kind, payload: new (chunk.constructor as new (n: number) => Typed)(length), chunks: 0 };
    kMailbox.set(key, slot);
  }
  (slot.payload as Typed).set(chunk as never, offset);
  slot.chunks!++;
});

let collectiveEntry: AmEntry | undefined;

function send(engine: Engine, worldPe: number, message: Message): void {
  collectiveEntry ??= entryOf(collectiveAm)!;
  // Never acknowledged, never part of a `finish`: a collective sends exactly the messages its plan says.
  engine.post(worldPe, collectiveEntry, message);
}

/**
 * One collective call on a team: sends and receives the call's messages. `what` names the call in
 * errors ("allreduce on the world team").
 * @internal
 */
export class Call {
  readonly #engine: Engine;
  readonly #team: TeamMembers;
  readonly #sequence: number;
  readonly #timeoutMs: number;
  readonly #gwMtu: number;
  readonly what: string;
  /** Set once the call has failed: every later send carries the error instead of a value. */
  #error: string | undefined;

  constructor(engine: Engine, team: TeamMembers, sequence: number, what: string, timeoutMs: number, gwMtu: number) {
    this.#engine = engine;
    this.#team = team;
    this.#sequence = sequence;
    this.#timeoutMs = timeoutMs;
    this.#gwMtu = gwMtu;
    this.what = what;
  }

  get rank(): number {
    return this.#team.rank;
  }

  /** The call's number on its team. */
  get sequence(): number {
    return this.#sequence;
  }

  /** Why the call failed, once it has. */
  get reason(): string | undefined {
    return this.#error;
  }

  /** The team rank of world PE `pe` (for messages). */
  rankOfPe(pe: number): number {
    for (let rank = 0; rank < this.#team.size; rank++) if (this.#team.worldPe(rank) === pe) return rank;
    return -1;
  }

  get size(): number {
    return this.#team.size;
  }

  /** Sends `payload` to team rank `to` for `step` (or the call's error, once it has one). */
  send(to: number, step: number, payload: unknown): void {
    const team = this.#team;
    const error = this.#error;
    const dest = team.worldPe(to);
    if (error === undefined && ArrayBuffer.isView(payload) && payload.byteLength > this.#gwMtu) {
      const topology = team.topology;
      if (topology.moduleOf(dest) !== topology.moduleOf(team.worldPe(team.rank))) {
        this.#sendChunks(dest, step, payload as unknown as Typed);
        return;
      }
    }
    send(this.#engine, dest, [team.id, this.#sequence, step, team.rank, error === undefined ? kValue : kError, error ?? payload]);
  }

  /** Gateway fragmentation: a typed array that crosses modules, in chunks of at most SHOAL_GW_MTU bytes, sent one after the other. */
  #sendChunks(dest: number, step: number, data: Typed): void {
    const team = this.#team;
    const per = Math.max(1, Math.floor(this.#gwMtu / data.BYTES_PER_ELEMENT));
    const count = Math.ceil(data.length / per);
    for (let index = 0; index < count; index++) {
      const chunk = data.subarray(index * per, Math.min(data.length, (index + 1) * per));
      send(this.#engine, dest, [team.id, this.#sequence, step, team.rank, kChunks + count, [index * per, data.length, chunk]]);
    }
  }

  /**
   * Marks the call failed with `reason` (this member's own finding): later sends carry it. Returns
   * the error to throw once this member has passed it on.
   */
  fail(reason: string): CollectiveError {
    this.#error ??= reason;
    return new CollectiveError(`${this.what}: ${this.#error}`);
  }

  /** Whether the call has failed. */
  get failed(): boolean {
    return this.#error !== undefined;
  }

  /** The error to throw at the end of a failed call. */
  error(): CollectiveError {
    return new CollectiveError(`${this.what}: ${this.#error ?? "failed"}`);
  }

  /**
   * Waits for the message of `step` from team rank `from`; an error message marks the call failed
   * and resolves to undefined. While it waits longer than `SHOAL_BARRIER_TIMEOUT_MS`, it says so
   * on stderr, naming the rank it waits for, and again at each interval.
   */
  async receive(from: number, step: number): Promise<unknown> {
    const key = keyOf(this.#team.id, this.#sequence, step, from);
    let slot = kMailbox.get(key);
    if (slot === undefined || !complete(slot)) {
      const started = performance.now();
      const report = setInterval(() => {
        const team = this.#team;
        process.stderr.write(
          `shoal: PE ${team.worldPe(team.rank)} has waited ${Math.round(performance.now() - started)} ms in ${this.what} (collective call ${this.#sequence + 1} on it) ` +
          `for rank ${from} (PE ${team.worldPe(from)}) (a member that skips a collective call, or calls them in another order, hangs the others)\n`,
        );
      }, this.#timeoutMs);
      report.unref();
      try {
        await this.#engine.waitUntil(() => {
          const waiting = kMailbox.get(key);
          return waiting !== undefined && complete(waiting);
        });
      } finally {
        clearInterval(report);
      }
      slot = kMailbox.get(key)!;
    }
    kMailbox.delete(key);
    if (slot.kind === kError) {
      this.#error ??= slot.payload as string;
      return undefined;
    }
    return slot.payload;
  }
}

function complete(slot: Slot): boolean {
  return slot.kind < kChunks || slot.chunks === slot.kind - kChunks;
}

/** How many messages wait in this PE's mailbox for calls it has not reached (for tests and leaks). @internal */
export function mailboxSize(): number {
  return kMailbox.size;
}
