/**
 * The topology of a job: where each PE runs. A PE belongs to a **process** (worker threads that
 * share memory), a process to a **node** (a host), and a node to a **module** (ParaStation's
 * modular supercomputing: a group of nodes, such as a CPU cluster and a booster).
 *
 * - Process `p` holds PEs `p·T … p·T+T-1`, where T is the number of PEs of each process.
 * - Node ids are dense, `0 … numNodes-1`, numbered in order of first appearance by process rank:
 *   process 0's node is node 0, the first process on another node gives node 1, and so on.
 * - Module ids are the integers the user or the launcher gave (`SHOAL_MODULE_ID`,
 *   `shoal run --modules M`, ParaStation's `PSP_MSA_MODULE_ID`); without one, every PE is in module 0.
 *
 * `init()` learns every process's node and module in its first barrier (see `init.ts`), so every
 * PE holds the same table.
 *
 * @module
 */
import { ShoalRangeError, ShoalTypeError, describeValue } from "../errors.js";

/**
 * Where one PE runs: its process, its node and its module.
 *
 * @example
 * ```ts
 * const { process, node, module } = world.topology.of(world.pe);
 * console.log(`PE ${world.pe}: process ${process}, node ${node}, module ${module}`);
 * ```
 */
export interface PeLocation {
  /** The PE, `0 <= pe < numPes`. */
  readonly pe: number;
  /** Its process, `0 <= process < numProcesses`: PEs of one process share memory. */
  readonly process: number;
  /** Its node (host), `0 <= node < numNodes`. */
  readonly node: number;
  /** Its module: an id the user or the launcher gave (0 by default); see {@link Topology.modules}. */
  readonly module: number;
}

/** What `init()` learns of one process: a key naming its node (equal keys, one node) and its module. @internal */
export interface ProcessLocation {
  readonly nodeKey: number | string;
  readonly module: number;
}

/**
 * Where every PE of the job runs: `{ pe, process, node, module }` for each, and the PEs of each
 * node and module. Every PE sees the same topology, as `world.topology`.
 *
 * @example
 * ```ts
 * const world = await init();
 * const here = world.topology.of(world.pe);
 * const neighbours = world.topology.pesOfNode(here.node); // the PEs on this PE's host
 * if (world.pe === 0) console.log(world.topology.describe());
 * ```
 */
export class Topology {
  /** The number of PEs of the job. */
  readonly numPes: number;
  /** The number of processes of the job. */
  readonly numProcesses: number;
  /** The number of nodes (hosts) the job's processes run on. */
  readonly numNodes: number;
  /** The number of modules the job's nodes belong to. */
  readonly numModules: number;
  /**
   * The ids of the job's modules, sorted ascending, each once (`[0]` when none was given).
   *
   * @example
   * ```ts
   * for (const module of world.topology.modules) console.log(module, world.topology.pesOfModule(module));
   * ```
   */
  readonly modules: readonly number[];
  readonly #pesPerProcess: number;
  readonly #locations: readonly PeLocation[];
  readonly #pesOfNode: readonly (readonly number[])[];
  readonly #pesOfModule: ReadonlyMap<number, readonly number[]>;

  /**
   * The topology of a job of `processes.length` processes of `pesPerProcess` PEs each, from what
   * each process said of itself. Node ids are given in order of first appearance of a node key.
   * @internal Use `world.topology`.
   */
  constructor(pesPerProcess: number, processes: readonly ProcessLocation[]) {
    if (!Number.isInteger(pesPerProcess) || pesPerProcess < 1 || processes.length < 1) {
      throw new ShoalRangeError(`Topology: expected at least one process of at least one PE, got ${processes.length} of ${describeValue(pesPerProcess)}`);
    }
    const nodeIds = new Map<number | string, number>();
    const locations: PeLocation[] = [];
    const pesOfNode: number[][] = [];
    const pesOfModule = new Map<number, number[]>();
    for (const [process, { nodeKey, module }] of processes.entries()) {
      if (!Number.isInteger(module) || module < 0) {
        throw new ShoalRangeError(`Topology: expected process ${process}'s module to be an integer of at least 0, got ${describeValue(module)}`);
      }
      let node = nodeIds.get(nodeKey);
      if (node === undefined) {
        node = nodeIds.size;
        nodeIds.set(nodeKey, node);
        pesOfNode.push([]);
      }
      let ofModule = pesOfModule.get(module);
      if (ofModule === undefined) pesOfModule.set(module, (ofModule = []));
      for (let pe = process * pesPerProcess; pe < (process + 1) * pesPerProcess; pe++) {
        locations.push(Object.freeze({ pe, process, node, module }));
        pesOfNode[node]!.push(pe);
        ofModule.push(pe);
      }
    }
    this.#pesPerProcess = pesPerProcess;
    this.#locations = Object.freeze(locations);
    this.#pesOfNode = Object.freeze(pesOfNode.map((pes) => Object.freeze(pes)));
    for (const pes of pesOfModule.values()) Object.freeze(pes);
    this.#pesOfModule = pesOfModule;
    this.numPes = locations.length;
    this.numProcesses = processes.length;
    this.numNodes = pesOfNode.length;
    this.modules = Object.freeze([...pesOfModule.keys()].sort((a, b) => a - b));
    this.numModules = this.modules.length;
  }

  /**
   * Where PE `pe` runs.
   *
   * @example
   * ```ts
   * const { node } = world.topology.of(0); // the node of PE 0
   * ```
   */
  of(pe: number): PeLocation {
    return this.#locations[this.#checkPe(pe, "of")]!;
  }

  /**
   * The process of PE `pe`.
   *
   * @example
   * ```ts
   * const sharesMemory = world.topology.processOf(other) === world.process;
   * ```
   */
  processOf(pe: number): number {
    return this.#locations[this.#checkPe(pe, "processOf")]!.process;
  }

  /**
   * The node (host) of PE `pe`, `0 <= node < numNodes`.
   *
   * @example
   * ```ts
   * const sameHost = world.topology.nodeOf(other) === world.topology.nodeOf(world.pe);
   * ```
   */
  nodeOf(pe: number): number {
    return this.#locations[this.#checkPe(pe, "nodeOf")]!.node;
  }

  /**
   * The module of PE `pe`: one of {@link modules}.
   *
   * @example
   * ```ts
   * const onBooster = world.topology.moduleOf(world.pe) === 1;
   * ```
   */
  moduleOf(pe: number): number {
    return this.#locations[this.#checkPe(pe, "moduleOf")]!.module;
  }

  /**
   * The PEs on node `node`, in ascending order.
   *
   * @example
   * ```ts
   * const here = world.topology.pesOfNode(world.topology.nodeOf(world.pe));
   * ```
   */
  pesOfNode(node: number): readonly number[] {
    if (typeof node !== "number" || !Number.isInteger(node)) {
      throw new ShoalTypeError(`pesOfNode: expected an integer node number, got ${describeValue(node)}`);
    }
    const pes = this.#pesOfNode[node];
    if (pes === undefined) throw new ShoalRangeError(`pesOfNode: expected a node in 0..${this.numNodes - 1}, got ${node}`);
    return pes;
  }

  /**
   * The PEs of module `module` (one of {@link modules}), in ascending order.
   *
   * @example
   * ```ts
   * const booster = world.topology.modules.includes(1) ? world.topology.pesOfModule(1) : [];
   * ```
   */
  pesOfModule(module: number): readonly number[] {
    if (typeof module !== "number" || !Number.isInteger(module)) {
      throw new ShoalTypeError(`pesOfModule: expected an integer module id, got ${describeValue(module)}`);
    }
    const pes = this.#pesOfModule.get(module);
    if (pes === undefined) {
      throw new ShoalRangeError(`pesOfModule: expected one of the job's modules (${this.modules.join(", ")}; see topology.modules), got ${module}`);
    }
    return pes;
  }

  /**
   * The topology as text: a summary line, then one line per process with its PEs, node and module.
   * `shoal info` prints the same for the job `shoal run` would start.
   *
   * @example
   * ```ts
   * if (world.pe === 0) console.log(world.topology.describe());
   * // 4 PEs in 2 processes on 1 node in 2 modules (0, 1)
   * // process 0: PEs 0..1, node 0, module 0
   * // process 1: PEs 2..3, node 0, module 1
   * ```
   */
  describe(): string {
    const count = (n: number, noun: string, plural: string): string => `${n} ${n === 1 ? noun : plural}`;
    const lines = [
      `${count(this.numPes, "PE", "PEs")} in ${count(this.numProcesses, "process", "processes")} on ` +
        `${count(this.numNodes, "node", "nodes")} in ${count(this.numModules, "module", "modules")} (${this.modules.join(", ")})`,
    ];
    const perProcess = this.#pesPerProcess;
    for (let process = 0; process < this.numProcesses; process++) {
      const first = process * perProcess;
      const { node, module } = this.#locations[first]!;
      const pes = perProcess === 1 ? `PE ${first}` : `PEs ${first}..${first + perProcess - 1}`;
      lines.push(`process ${process}: ${pes}, node ${node}, module ${module}`);
    }
    return lines.join("\n");
  }

  /**
   * The same as {@link describe}.
   *
   * @example
   * ```ts
   * console.log(`${world.topology}`);
   * ```
   */
  toString(): string {
    return this.describe();
  }

  #checkPe(pe: number, what: string): number {
    if (typeof pe !== "number" || !Number.isInteger(pe)) {
      throw new ShoalTypeError(`${what}: expected an integer PE number, got ${describeValue(pe)}`);
    }
    if (pe < 0 || pe >= this.numPes) throw new ShoalRangeError(`${what}: expected a PE in 0..${this.numPes - 1}, got ${pe}`);
    return pe;
  }
}
