/**
 * `init()`: the one place that wires the layers together into a {@link World}.
 *
 * @module
 */
import { MessageChannel, isMainThread } from "node:worker_threads";

import { Engine, freezeRegistry } from "./am/index.js";
import { setArrayAnnouncer } from "./array/state.js";
import { barrier, createCollectives } from "./collectives/index.js";
import { readConfig, type ShoalConfig } from "./config/index.js";
import { RegistryError } from "./errors.js";
import { ShmTransport, createRingBuffer, jobControlBytes, moduleWord, nodeWord, registryWord, type ShmEndpoint } from "./lamellae/index.js";
import { Topology, type ProcessLocation } from "./team/index.js";
import { MessageHistogram, formatHistogram } from "./stats/index.js";
import { fnv1a } from "./util/index.js";
import { World } from "./world.js";

/** What the launcher leaves for a PE before its program runs. @internal */
export interface PeContext {
  readonly endpoint: ShmEndpoint;
  readonly config: ShoalConfig;
  /** PEs of this process (for the spin policy). */
  readonly localPes: number;
  /**
   * In a job of several processes: what names this process's node (the launcher's node index, or
   * the host's name); processes with the same key are on one node.
   */
  readonly nodeKey?: string;
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
  // SHOAL_HISTOGRAM=1 without a launcher: this thread is the whole process, so it prints the
  // table itself as the process exits (as the launcher's thread does after its PEs, launch/run.ts).
  const histogram = config.histogram === undefined ? undefined : MessageHistogram.create(config.histogram, 1);
  if (histogram !== undefined) {
    process.once("exit", () => process.stderr.write(`${formatHistogram(histogram.snapshot(), "shoal: message histogram of process 0 of 1 (PEs 0..0)")}\n`));
  }
  return {
    endpoint: {
      pe: 0,
      numPes: 1,
      control: new SharedArrayBuffer(jobControlBytes(1)),
      rings: [createRingBuffer(config.ringBytes)],
      portsOut: [channel.port1],
      portsIn: [channel.port2],
      ...(histogram === undefined ? {} : { histogram: histogram.share() }),
    },
    config,
    localPes: 1,
  };
}

/**
 * The job's topology from the arrival words every PE wrote before init's barrier, read after it.
 * In a job of one process every PE is in process 0, on node 0, in this process's module.
 */
function readTopology(transport: ShmTransport, moduleId: number): Topology {
  const { control, numPes, localPes } = transport;
  if (!transport.multiProcess) return new Topology(localPes, [{ nodeKey: 0, module: moduleId }]);
  const processes: ProcessLocation[] = [];
  for (let first = 0; first < numPes; first += localPes) {
    processes.push({ nodeKey: Atomics.load(control, nodeWord(first, numPes)), module: Atomics.load(control, moduleWord(first, numPes)) });
  }
  return new Topology(localPes, processes);
}

async function start(): Promise<World> {
  const context = ((globalThis as Holder)[kContextKey] as PeContext | undefined) ?? soloContext();
  const table = freezeRegistry();
  const transport = new ShmTransport(context.endpoint, !isMainThread);
  const engine = new Engine(transport, table, context.config, context.localPes);
  // The first PE of each process tells its IO worker about arrays, whose far operations it serves.
  setArrayAnnouncer(transport.multiProcess && transport.pe === transport.firstPe ? (message) => transport.tellIoWorker(message) : undefined);
  const { pe, numPes } = transport;
  // This PE's arrival words (lamellae/shm/job.ts), written before init's barrier: after it, every
  // PE's are in this process's control block.
  Atomics.store(transport.control, registryWord(pe, numPes), table.hash | 0);
  Atomics.store(transport.control, nodeWord(pe, numPes), fnv1a(context.nodeKey ?? "") | 0);
  Atomics.store(transport.control, moduleWord(pe, numPes), context.config.moduleId);
  await barrier(engine, context.config.barrierTimeoutMs);
  const world = new World({
    engine,
    config: context.config,
    barrier: () => barrier(engine, context.config.barrierTimeoutMs),
    collectives: createCollectives(engine, context.config),
    topology: readTopology(transport, context.config.moduleId),
  });
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
