/**
 * A team: PEs of the job, and the calls a PE makes on them. The world (`src/world.ts`) is the team
 * of every PE, with the distributed arrays on top.
 *
 * @module
 */
import { entryOf, type Activity, type Am, type AmEntry, type Engine, type EngineCounters } from "../am/index.js";
import { RegistryError, ShoalRangeError, ShoalTypeError, StateError, describeValue } from "../errors.js";
import type { ShoalConfig } from "../config/index.js";
import type { TransportCounters } from "../lamellae/index.js";

/**
 * What `world.stats()` returns: counters of this PE.
 *
 * @example
 * ```ts
 * const stats: WorldStats = world.stats();
 * console.log(stats.engine.requestsSent, stats.transport.framesSent);
 * ```
 */
export interface WorldStats {
  /** This PE. */
  readonly pe: number;
  /** Counters of the active-message engine. */
  readonly engine: Readonly<EngineCounters>;
  /** Counters of the transport. */
  readonly transport: Readonly<TransportCounters>;
}

/**
 * The argument list of a call to an AM whose argument type is `A`: optional when `A` admits undefined.
 *
 * @example
 * ```ts
 * const ping = defineAm("ping", (_ctx, _arg: undefined) => "pong");
 * await world.exec(1, ping); // AmArgs<undefined> is [arg?: undefined]
 * ```
 */
export type AmArgs<A> = undefined extends A ? [arg?: A] : [arg: A];

/** @internal What `init` hands the team: the pieces it wires together. */
export interface TeamParts {
  readonly engine: Engine;
  readonly barrier: () => Promise<void>;
  readonly config: ShoalConfig;
}

/**
 * PEs of a job, seen from one of them, and what they do together: active messages, APGAS, barriers.
 * The `World` returned by `init()` is the team of every PE.
 *
 * @example
 * ```ts
 * import { defineAm, init } from "shoal";
 * const greet = defineAm("greet", (ctx, from: number) => `PE ${ctx.pe} greets PE ${from}`);
 * const world = await init();
 * console.log(await world.exec((world.pe + 1) % world.numPes, greet, world.pe));
 * await world.barrier();
 * ```
 */
export class Team {
  /** This PE's number, `0 <= pe < numPes`. */
  readonly pe: number;
  /** The number of PEs in the job. */
  readonly numPes: number;
  /**
   * The settings this PE runs with (from the `SHOAL_*` variables and their defaults), read-only.
   *
   * @example
   * ```ts
   * console.log(`aggregating up to ${world.config.aggregationBytes} bytes per frame`);
   * ```
   */
  readonly config: Readonly<ShoalConfig>;
  /**
   * This PE's process, `0 <= process < numProcesses`. The PEs of one process are worker threads
   * sharing memory; processes talk over NNG. Process `p` holds PEs `p * pesPerProcess` to
   * `(p + 1) * pesPerProcess - 1`.
   *
   * @example
   * ```ts
   * console.log(`PE ${world.pe} runs in process ${world.process} of ${world.numProcesses}`);
   * ```
   */
  readonly process: number;
  /** The number of processes of the job (1 under `shoal run -n N` without `--procs`). */
  readonly numProcesses: number;
  /** The number of PEs of each process (every process has as many). */
  readonly pesPerProcess: number;
  readonly #engine: Engine;
  readonly #barrier: () => Promise<void>;
  #closed = false;

  /** @internal Use `init()`. */
  constructor(parts: TeamParts) {
    this.#engine = parts.engine;
    this.#barrier = parts.barrier;
    this.pe = parts.engine.pe;
    this.numPes = parts.engine.numPes;
    this.config = Object.freeze({ ...parts.config });
    const transport = parts.engine.transport;
    this.pesPerProcess = transport.localPes;
    this.process = Math.floor(transport.firstPe / transport.localPes);
    this.numProcesses = this.numPes / transport.localPes;
  }

  /**
   * The process of PE `pe`: PEs of one process share memory, so an array element they own is
   * updated directly, without a message.
   *
   * @example
   * ```ts
   * const near = world.processOf(other) === world.process;
   * ```
   */
  processOf(pe: number): number {
    if (typeof pe !== "number" || !Number.isInteger(pe) || pe < 0 || pe >= this.numPes) {
      throw new ShoalRangeError(`processOf: expected a PE in 0..${this.numPes - 1}, got ${describeValue(pe)}`);
    }
    return Math.floor(pe / this.pesPerProcess);
  }

  /**
   * Runs active message `am` on PE `pe` with `arg`, and resolves to the handler's result. A handler
   * that throws rejects it with a {@link RemoteError}. Small messages to one PE are sent together.
   *
   * @example
   * ```ts
   * const double = defineAm("double", (_ctx, x: number) => 2 * x);
   * const world = await init();
   * const four = await world.exec(0, double, 2);
   * ```
   */
  exec<A, R>(pe: number, am: Am<A, R>, ...arg: AmArgs<A>): Promise<R>;
  exec(pe: number, am: Am, arg?: unknown): Promise<unknown> {
    // The overload above types the argument; this signature avoids a rest array per call.
    const entry = this.#check(pe, am, "exec", false);
    return this.#engine.request(pe, entry, arg);
  }

  /**
   * Runs `am` with `arg` on every PE, and resolves to their results in PE order.
   *
   * @example
   * ```ts
   * const whoAmI = defineAm("whoAmI", (ctx) => ctx.pe);
   * const world = await init();
   * const pes = await world.execAll(whoAmI); // [0, 1, 2, …]
   * ```
   */
  execAll<A, R>(am: Am<A, R>, ...arg: AmArgs<A>): Promise<R[]>;
  execAll(am: Am, arg?: unknown): Promise<unknown[]> {
    const entry = this.#check(0, am, "execAll", false);
    const calls: Promise<unknown>[] = [];
    for (let pe = 0; pe < this.numPes; pe++) calls.push(this.#engine.request(pe, entry, arg));
    return Promise.all(calls);
  }

  /**
   * Runs `am` on PE `pe` without waiting for a result (fire-and-forget). {@link waitAll} waits for
   * such messages to complete and rejects with the first one that threw.
   *
   * @example
   * ```ts
   * const count = defineAm("count", (_ctx, n: number) => { total += n; });
   * const world = await init();
   * for (let i = 0; i < 1000; i++) world.send(i % world.numPes, count, 1);
   * await world.waitAll();
   * ```
   */
  send<A, R>(pe: number, am: Am<A, R>, ...arg: AmArgs<A>): void;
  send(pe: number, am: Am, arg?: unknown): void {
    const entry = this.#check(pe, am, "send", false);
    this.#engine.send(pe, entry, arg);
  }

  /**
   * APGAS `at`: runs the registered async function `activity` on PE `pe` with `args`, and resolves
   * to its result. Inside {@link finish}, the activity and everything it spawns are tracked.
   *
   * @example
   * ```ts
   * const square = defineActivity("square", async (x: number) => x * x);
   * const world = await init();
   * const nine = await world.at((world.pe + 1) % world.numPes, square, 3);
   * ```
   */
  at<A extends unknown[], R>(pe: number, activity: Activity<A, R>, ...args: A): Promise<R> {
    const entry = this.#check(pe, activity, "at", true);
    return this.#engine.request(pe, entry, args) as Promise<R>;
  }

  /**
   * APGAS `finish`: runs `body`, then waits until every active message and activity spawned
   * inside it, transitively and on every PE, has completed. Rejects with the first failure among
   * them (whether or not its own handle was awaited), else resolves to `body`'s result.
   *
   * @example
   * ```ts
   * await world.finish(async () => {
   *   for (let pe = 0; pe < world.numPes; pe++) void world.at(pe, work, pe);
   * }); // every `work`, and whatever each spawned, has completed here
   * ```
   */
  finish<T>(body: () => T | Promise<T>): Promise<T> {
    this.#checkOpen("finish");
    if (typeof body !== "function") throw new ShoalTypeError(`finish: expected a function, got ${describeValue(body)}`);
    return this.#engine.finish(body);
  }

  /**
   * Collective: every PE must call it. Resolves once every PE has called it. Active messages keep
   * being served while a PE waits. A PE waiting longer than `SHOAL_BARRIER_TIMEOUT_MS` prints which
   * PEs have not arrived.
   *
   * @example
   * ```ts
   * await world.barrier();
   * ```
   */
  barrier(): Promise<void> {
    this.#checkOpen("barrier");
    return this.#barrier();
  }

  /**
   * Resolves when every active message and activity this PE has started has completed, and
   * rejects with the first failure of a fire-and-forget message ({@link send}) since the last call.
   *
   * @example
   * ```ts
   * for (let i = 0; i < 100; i++) world.send(i % world.numPes, count, 1);
   * await world.waitAll();
   * ```
   */
  waitAll(): Promise<void> {
    this.#checkOpen("waitAll");
    return this.#engine.waitAll();
  }

  /**
   * Counters of this PE: messages, frames and bytes sent and received, progress steps, sleeps.
   *
   * @example
   * ```ts
   * console.log(world.stats().engine.requestsSent);
   * ```
   */
  stats(): WorldStats {
    return { pe: this.pe, engine: { ...this.#engine.counters }, transport: { ...this.#engine.transport.counters } };
  }

  /**
   * Sends this PE's waiting messages now rather than when it next yields.
   * @internal
   */
  flush(): void {
    this.#engine.flush();
  }

  /**
   * Collective: waits for this PE's messages, then for every PE (a barrier), then stops the
   * progress loop. The launcher calls it after the program's module has finished; programs need
   * not call it.
   * @internal
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.#engine.waitAll();
    await this.#barrier();
    this.#closed = true;
    this.#engine.stop();
  }

  #checkOpen(what: string): void {
    if (this.#closed) throw new StateError(`${what}: this world has been closed; every call must come before the program ends`);
  }

  #check(pe: number, am: unknown, what: string, activity: boolean): AmEntry {
    this.#checkOpen(what);
    if (typeof pe !== "number" || !Number.isInteger(pe)) {
      throw new ShoalTypeError(`${what}: expected an integer PE number, got ${describeValue(pe)}`);
    }
    if (pe < 0 || pe >= this.numPes) {
      throw new ShoalRangeError(`${what}: expected a PE in 0..${this.numPes - 1}, got ${pe}`);
    }
    const entry = entryOf(am);
    if (entry === undefined) {
      throw new RegistryError(`${what}: expected ${activity ? "an activity returned by defineActivity" : "an active message returned by defineAm"}, got ${describeValue(am)}`);
    }
    if (entry.spread !== activity) {
      throw new RegistryError(activity
        ? `${what}: "${entry.name}" is an active message; run it with world.exec, or define it with defineActivity to use world.at`
        : `${what}: "${entry.name}" is an activity; run it with world.at, or define it with defineAm to use world.${what}`);
    }
    if (entry.id < 0) {
      throw new RegistryError(`${what}: "${entry.name}" was defined after init(); define it at module top level so every PE has it`);
    }
    return entry;
  }
}
