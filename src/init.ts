/**
 * `init()`: the one place that wires the layers together into a {@link World}.
 *
 * @module
 */
import { MessageChannel, isMainThread } from "node:worker_threads";

import { Engine, freezeRegistry } from "./am/index.js";
import { setArrayAnnouncer } from "./array/state.js";
import { barrier } from "./collectives/index.js";
import { readConfig, type ShoalConfig } from "./config/index.js";
import { RegistryError } from "./errors.js";
import { ShmTransport, createRingBuffer, jobControlBytes, registryWord, type ShmEndpoint } from "./lamellae/index.js";
import { World } from "./world.js";

/** What the launcher leaves for a PE before its program runs. @internal */
export interface PeContext {
  readonly endpoint: ShmEndpoint;
  readonly config: ShoalConfig;
  /** PEs of this process (for the spin policy). */
  readonly localPes: number;
}

const kContextKey = Symbol.for("shoal.peContext");
const kWorldKey = Symbol.for("shoal.world");

type Holder = Record<symbol, unknown>;

/** Leaves the PE context for `init()`; called by the worker bootstrap. @internal */
export function setPeContext(context: PeContext): void {
  (globalThis as Holder)[kContextKey] = context;
}

/** The world of this PE if `init()` has been called, else undefined. @internal */
export function currentWorld(): Promise<World> | undefined {
  return (globalThis as Holder)[kWorldKey] as Promise<World> | undefined;
}

/** A one-PE job in this thread: `node app.js` without a launcher. */
function soloContext(): PeContext {
  const config = readConfig();
  const channel = new MessageChannel();
  channel.port1.unref();
  channel.port2.unref();
  return {
    endpoint: {
      pe: 0,
      numPes: 1,
      control: new SharedArrayBuffer(jobControlBytes(1)),
      rings: [createRingBuffer(config.ringBytes)],
      portsOut: [channel.port1],
      portsIn: [channel.port2],
    },
    config,
    localPes: 1,
  };
}

async function start(): Promise<World> {
  const context = ((globalThis as Holder)[kContextKey] as PeContext | undefined) ?? soloContext();
  const table = freezeRegistry();
  const transport = new ShmTransport(context.endpoint, !isMainThread);
  const engine = new Engine(transport, table, context.config, context.localPes);
  // The first PE of each process tells its IO worker about arrays, whose far operations it serves.
  setArrayAnnouncer(transport.multiProcess && transport.pe === transport.firstPe ? (message) => transport.tellIoWorker(message) : undefined);
  const world = new World({ engine, config: context.config, barrier: () => barrier(engine, context.config.barrierTimeoutMs) });
  const { pe, numPes } = transport;
  Atomics.store(transport.control, registryWord(pe, numPes), table.hash | 0);
  await world.barrier();
  const differing: number[] = [];
  for (let other = 0; other < numPes; other++) {
    if (Atomics.load(transport.control, registryWord(other, numPes)) !== (table.hash | 0)) differing.push(other);
  }
  // Handlers may use the program's `world`: let the program's continuation after `await init()`
  // run (it is queued when this resolves) before any handler does.
  setImmediate(() => engine.open());
  if (differing.length > 0) {
    throw new RegistryError(
      `PE ${pe} registered ${table.byId.length} active messages (${table.byId.map((e) => e.name).join(", ")}), ` +
      `but PE${differing.length === 1 ? "" : "s"} ${differing.join(", ")} registered a different set: ` +
      `call defineAm and defineActivity at module top level, unconditionally, so every PE defines the same names`,
    );
  }
  return world;
}

/**
 * Collective: every PE must call it. Joins the job and returns this PE's {@link World}. Under
 * `shoal run` the PE joins its job; run directly (`node app.js`), the program is a one-PE world.
 * Calling it again returns the same world.
 *
 * Define active messages and activities before calling it, at module top level.
 *
 * @example
 * ```ts
 * import { init } from "shoal";
 * const world = await init();
 * console.log(`PE ${world.pe} of ${world.numPes}`);
 * ```
 */
export function init(): Promise<World> {
  const holder = globalThis as Holder;
  let world = holder[kWorldKey] as Promise<World> | undefined;
  if (world === undefined) {
    world = start();
    holder[kWorldKey] = world;
  }
  return world;
}
