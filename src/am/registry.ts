/**
 * The active-message registry. `defineAm` and `defineActivity` run at module top level, so every PE
 * defines the same set before `init()`. At `init()` the names are sorted and numbered; every PE
 * computes the same ids without talking, and PEs whose sets differ are found by comparing a hash.
 *
 * The registry lives on `globalThis` under a `Symbol.for` key, so two copies of the shoal package
 * loaded by one PE share it.
 *
 * @module
 */
import { RegistryError, StateError } from "../errors.js";
import { fnv1a } from "../util/index.js";

/**
 * What a handler receives besides its argument.
 *
 * @example
 * ```ts
 * const where = defineAm("where", (ctx: AmContext) => `PE ${ctx.pe} of ${ctx.numPes}, called by ${ctx.src}`);
 * ```
 */
export interface AmContext {
  /** The PE running the handler. */
  readonly pe: number;
  /** The number of PEs. */
  readonly numPes: number;
  /** The PE that sent the message. */
  readonly src: number;
}

/** A handler: runs on the destination PE; its (awaited) return value is the reply. */
export type AmHandler<A, R> = (ctx: AmContext, arg: A) => R | Promise<R>;

const kBrand = Symbol.for("shoal.Am");

/**
 * A registered active message: a name, a handler, and (after `init()`) its wire id. Returned by
 * {@link defineAm}; pass it to `world.exec`, `world.execAll` and `world.send`.
 *
 * @example
 * ```ts
 * const double: Am<number, number> = defineAm("double", (_ctx, x: number) => 2 * x);
 * ```
 */
export interface Am<A = unknown, R = unknown> {
  /** The name it was registered under. */
  readonly name: string;
  /** @internal */
  readonly [kBrand]: AmEntry;
  /** Type-only: the argument type. @internal */
  readonly __arg?: A;
  /** Type-only: the result type. @internal */
  readonly __result?: R;
}

/**
 * A registered activity: an async function that `world.at(pe, activity, ...args)` runs on another
 * PE. Returned by {@link defineActivity}.
 *
 * @example
 * ```ts
 * const square: Activity<[number], number> = defineActivity("square", async (x: number) => x * x);
 * ```
 */
export interface Activity<A extends unknown[] = unknown[], R = unknown> {
  /** The name it was registered under. */
  readonly name: string;
  /** @internal */
  readonly [kBrand]: AmEntry;
  /** Type-only: the argument types. @internal */
  readonly __args?: A;
  /** Type-only: the result type. @internal */
  readonly __result?: R;
}

/** @internal */
export interface AmEntry {
  readonly name: string;
  readonly handler: AmHandler<unknown, unknown>;
  /** Whether the argument is a tuple spread into the function (activities). */
  readonly spread: boolean;
  /**
   * Whether the IO worker of the destination's process may answer a request for it itself (see
   * `FrameServer` in lamellae/io/service.ts): set by {@link markServable}.
   */
  servable: boolean;
  id: number;
}

/** @internal */
export interface Registry {
  readonly entries: Map<string, AmEntry>;
  /** Entries by id, once frozen. */
  byId: AmEntry[];
  frozen: boolean;
  hash: number;
}

const kRegistryKey = Symbol.for("shoal.registry");

/** The registry of this PE (one per thread). @internal */
export function registry(): Registry {
  const holder = globalThis as unknown as Record<symbol, Registry | undefined>;
  let found = holder[kRegistryKey];
  if (found === undefined) {
    found = { entries: new Map(), byId: [], frozen: false, hash: 0 };
    holder[kRegistryKey] = found;
  }
  return found;
}

function register(name: string, handler: AmHandler<unknown, unknown>, spread: boolean, what: string): AmEntry {
  if (typeof name !== "string" || name.length === 0) {
    throw new RegistryError(`${what}: expected a non-empty name, got ${JSON.stringify(name)}`);
  }
  if (typeof handler !== "function") {
    throw new RegistryError(`${what}("${name}"): expected a function, got ${typeof handler}`);
  }
  const table = registry();
  if (table.frozen) {
    throw new StateError(`${what}("${name}") was called after init(): define active messages and activities at module top level, before init(), so every PE has the same set`);
  }
  if (table.entries.has(name)) {
    throw new RegistryError(`${what}: the name "${name}" is defined twice; every active message and activity needs its own name`);
  }
  const entry: AmEntry = { name, handler, spread, servable: false, id: -1 };
  table.entries.set(name, entry);
  return entry;
}

/**
 * Registers an active message under `name`. Call it at module top level, before `init()`, so
 * every PE registers the same set; ids are assigned from the sorted names. The handler runs on
 * the destination PE and its return value (awaited if it is a promise) is the reply.
 *
 * @example
 * ```ts
 * import { defineAm, init } from "shoal";
 * const greet = defineAm("greet", (ctx, from: number) => `PE ${ctx.pe} greets PE ${from}`);
 * const world = await init();
 * const replies = await world.execAll(greet, world.pe);
 * ```
 */
export function defineAm<A = undefined, R = void>(name: string, handler: (ctx: AmContext, arg: A) => R | Promise<R>): Am<A, Awaited<R>> {
  const entry = register(name, handler as AmHandler<unknown, unknown>, false, "defineAm");
  return { name, [kBrand]: entry } as Am<A, Awaited<R>>;
}

/**
 * Registers an async function that `world.at(pe, activity, ...args)` runs on any PE (APGAS's
 * `at`). Call it at module top level, before `init()`.
 *
 * @example
 * ```ts
 * import { defineActivity, init } from "shoal";
 * const square = defineActivity("square", async (x: number) => x * x);
 * const world = await init();
 * const nine = await world.at((world.pe + 1) % world.numPes, square, 3);
 * ```
 */
export function defineActivity<A extends unknown[], R>(name: string, fn: (...args: A) => R | Promise<R>): Activity<A, Awaited<R>> {
  const handler: AmHandler<unknown, unknown> = (_ctx, args) => fn(...(args as A));
  const entry = register(name, handler, true, "defineActivity");
  return { name, [kBrand]: entry } as Activity<A, Awaited<R>>;
}

/**
 * Marks `am` as one the IO worker of the destination's process may serve (the arrays' far
 * operations). A frame of such requests only is flagged so (lamellae/frame.ts): on a direct lane
 * between processes, the receiving socket gives it to that IO worker, never to the destination
 * PE's sink, so the PE is not woken.
 * @internal
 */
export function markServable(am: object): void {
  const entry = entryOf(am);
  if (entry === undefined) throw new RegistryError(`markServable: expected an active message from defineAm, got ${typeof am}`);
  entry.servable = true;
}

/** The entry behind an AM or activity reference, or undefined when `value` is not one. @internal */
export function entryOf(value: unknown): AmEntry | undefined {
  if (typeof value !== "object" || value === null) return undefined;
  return (value as { [kBrand]?: AmEntry })[kBrand];
}

/** Freezes the registry and numbers the entries by sorted name. Returns the set's hash. @internal */
export function freezeRegistry(): Registry {
  const table = registry();
  if (table.frozen) return table;
  const names = [...table.entries.keys()].sort();
  if (names.length > 0xffff) throw new RegistryError(`at most 65535 active messages can be defined, got ${names.length}`);
  table.byId = names.map((name, id) => {
    const entry = table.entries.get(name)!;
    entry.id = id;
    return entry;
  });
  table.hash = fnv1a(names.join("\u0000"));
  table.frozen = true;
  return table;
}
