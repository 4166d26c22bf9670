/**
 * What a PE knows of each array it has joined: its layout, dtype and its process's shared buffer
 * of the array (as long as the whole array; see messages.ts), by id. Active messages about an
 * array name it by id; ids are given in the order arrays are created, which is the same on every
 * PE because creation is collective.
 *
 * @module
 */
import { registry } from "../am/index.js";
import { StateError } from "../errors.js";
import type { Team } from "../team/index.js";
import type { DtypeInfo } from "./dtype.js";
import { kFarOpNames, type ArrayAnnouncement } from "./far-ops.js";
import type { Layout } from "./layout.js";
import { makeTarget, type Target } from "./ops.js";

/** @internal */
export class ArrayState {
  readonly id: number;
  readonly layout: Layout;
  readonly info: DtypeInfo;
  readonly buffer: SharedArrayBuffer;
  readonly target: Target;
  /** This PE's rank in the array's team: the part it owns (its world PE for a world array). */
  readonly rank: number;
  /** Whether the array belongs to the world team: only those are announced to the IO worker, whose layout is by world PE. */
  readonly world: boolean;
  /** The array's team (its ranks own the parts). */
  readonly team: Team;
  freed = false;

  constructor(id: number, layout: Layout, info: DtypeInfo, buffer: SharedArrayBuffer, team: Team) {
    this.id = id;
    this.layout = layout;
    this.info = info;
    this.buffer = buffer;
    this.target = makeTarget(info, buffer);
    this.team = team;
    this.rank = team.pe;
    this.world = team.teamId === 0;
  }
}

/**
 * How this PE tells its process's IO worker about arrays: set by `init()` on the first PE of each
 * process of a multi-process job (the IO worker then applies other processes' operations on the
 * process's buffer itself; see far-ops.ts), undefined elsewhere.
 */
let announcer: ((message: ArrayAnnouncement) => void) | undefined;

/** @internal */
export function setArrayAnnouncer(announce: ((message: ArrayAnnouncement) => void) | undefined): void {
  announcer = announce;
}

/** Tells the IO worker (if this PE is the one that does) about a new array. */
function announceArray(state: ArrayState): void {
  if (announcer === undefined || !state.world) return;
  const entries = registry().entries;
  announcer({
    kind: "array", id: state.id, dtype: state.info.name, length: state.layout.length, dist: state.layout.dist,
    numPes: state.layout.numPes, buffer: state.buffer, ams: kFarOpNames.map((name) => entries.get(name)!.id),
  });
}

const kStates = new Map<number, ArrayState>();
const kFreed = new Set<number>();
/** Operations that arrived for an array before this PE finished creating it. */
const kWaiting = new Map<number, ((state: ArrayState) => void)[]>();
let lastId = 0;

/** The id the next array this PE creates gets. @internal */
export function nextArrayId(): number {
  return ++lastId;
}

/** @internal */
export function registerState(state: ArrayState): void {
  kStates.set(state.id, state);
  announceArray(state);
  const waiting = kWaiting.get(state.id);
  if (waiting !== undefined) {
    kWaiting.delete(state.id);
    for (const resume of waiting) resume(state);
  }
}

/** @internal */
export function forgetState(state: ArrayState): void {
  state.freed = true;
  kStates.delete(state.id);
  kFreed.add(state.id);
  if (state.world) announcer?.({ kind: "free", id: state.id });
}

/**
 * The array `id` of this PE, for a message about it that came from `src`. Another PE can learn of
 * a new array, and send an operation on it, before this PE has taken the creation's reply; such an
 * operation waits for it.
 * @internal
 */
export function stateOf(id: number, pe: number, src: number): ArrayState | Promise<ArrayState> {
  const state = kStates.get(id);
  if (state !== undefined) return state;
  if (kFreed.has(id)) {
    throw new StateError(`PE ${src} sent an operation on array #${id}, which PE ${pe} has freed; call world.barrier() before free(), so that no PE still uses the array`);
  }
  return new Promise((resolve) => {
    const waiting = kWaiting.get(id);
    if (waiting === undefined) kWaiting.set(id, [resolve]);
    else waiting.push(resolve);
  });
}
