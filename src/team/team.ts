/**
 * A team: PEs of the job, and the calls a PE makes on them. The world (`src/world.ts`) is the team
 * of every PE, with the distributed arrays on top.
 *
 * @module
 */
import { reductionNamed, type ReducibleValue, type Reduction, type ReductionKernel, type Scalar } from "../../kernels/index.js";
import { entryOf, type Activity, type Am, type AmEntry, type Engine, type EngineCounters } from "../am/index.js";
import { CollectiveError, RegistryError, ShoalRangeError, ShoalTypeError, StateError, describeValue } from "../errors.js";
import type { ShoalConfig } from "../config/index.js";
import type { TransportCounters } from "../lamellae/index.js";
import type { HistogramSnapshot } from "../stats/index.js";
import type { CollectivePlan, PlannedOp } from "./plan.js";
import type { Topology } from "./topology.js";

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
  /**
   * With `SHOAL_HISTOGRAM=1`, this PE's message-size histogram: the frames it sent, by size and
   * connection type (`shm` to PEs of its process; `ipc`, `tcp` or `gw` for those its process's IO
   * worker carried to other processes for it). The exit print sums every PE of the process.
   * `undefined` when the histogram is off.
   */
  readonly histogram: HistogramSnapshot | undefined;
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

/**
 * The members of a team as the collective algorithms see them. @internal
 */
export interface TeamMembers {
  /** The team's id: the same on every member, different for every team. */
  readonly id: number;
  /** How messages name it: "the world team", "team 3 (split of the world team)". */
  readonly name: string;
  /** This PE's rank in the team. */
  readonly rank: number;
  readonly size: number;
  /** The world PE of team rank `rank`. */
  worldPe(rank: number): number;
  /** The job's topology. */
  readonly topology: Topology;
}

/**
 * The collective operations, supplied by `init` from `collectives/` (which sits below this layer).
 * `sequence` numbers a team's collective calls, the same on every member. @internal
 */
export interface CollectiveOps {
  /** Sets the awareness of this PE's later calls (every PE must set the same). */
  setHierarchy(level: 0 | 1 | 2): void;
  /** The plan `op` on `bytes` bytes of typed data follows on `team` (from `root`, for a broadcast or reduce). */
  plan(team: TeamMembers, op: PlannedOp, bytes: number, root: number): CollectivePlan;
  /** The plan as text. */
  explain(plan: CollectivePlan): string;
  barrier(team: TeamMembers, sequence: number): Promise<void>;
  broadcast(team: TeamMembers, sequence: number, value: unknown, root: number): Promise<unknown>;
  reduce(team: TeamMembers, sequence: number, value: unknown, reduction: Reduction, root: number): Promise<unknown>;
  allreduce(team: TeamMembers, sequence: number, value: unknown, reduction: Reduction): Promise<ReducibleValue>;
  scan(team: TeamMembers, sequence: number, value: unknown, reduction: Reduction | ReductionKernel, exclusive: boolean): Promise<ReducibleValue>;
  gather(team: TeamMembers, sequence: number, value: unknown, root: number): Promise<unknown[] | undefined>;
  allgather(team: TeamMembers, sequence: number, value: unknown): Promise<unknown[]>;
  scatter(team: TeamMembers, sequence: number, values: unknown, root: number): Promise<unknown>;
  alltoall(team: TeamMembers, sequence: number, data: Extract<ReducibleValue, object>): Promise<Extract<ReducibleValue, object>>;
  alltoallv(team: TeamMembers, sequence: number, parts: unknown[]): Promise<unknown[]>;
  reduceScatter(team: TeamMembers, sequence: number, data: unknown, reduction: Reduction, counts: readonly number[] | undefined): Promise<ReducibleValue>;
}

/**
 * A strided team's shape, for {@link Team.team}: ranks `start`, `start + stride`, … of the parent
 * team, `size` of them.
 *
 * @example
 * ```ts
 * const evens = await world.team({ start: 0, stride: 2, size: Math.ceil(world.numPes / 2) });
 * ```
 */
export interface StridedShape {
  readonly start: number;
  readonly stride: number;
  readonly size: number;
}

/**
 * A reduction operator: one from `defineReduction` or a built-in (`sum`, `max`, …), or its name.
 *
 * @example
 * ```ts
 * const op: ReductionOp = "max";
 * const largest = await world.allreduce(world.pe, op);
 * ```
 */
export type ReductionOp = Reduction | string;

/** A team's place in the job: its id, name, and members (world PE numbers, by rank). @internal */
interface Membership {
  readonly id: number;
  readonly name: string;
  readonly members: readonly number[];
  readonly rank: number;
}

/** @internal What `init` hands the team: the pieces it wires together. */
export interface TeamParts {
  readonly engine: Engine;
  readonly collectives: CollectiveOps;
  readonly barrier: () => Promise<void>;
  readonly config: ShoalConfig;
  /** Where every PE of the job runs; one object shared by every team of this PE. */
  readonly topology: Topology;
}

/**
 * PEs of a job, seen from one of them, and what they do together: active messages, APGAS, barriers,
 * collectives. The `World` returned by `init()` is the team of every PE; `split`, `splitByNode`,
 * `splitByModule` and `team` make sub-teams of any team.
 *
 * In a team, PEs are numbered by their **rank** in it, `0..numPes-1`: `team.pe` is this PE's rank,
 * and `exec`, `send`, `at`, the roots of collectives, and the results of `gather` use ranks.
 * `worldPe(rank)` and `rankOf(pe)` translate. Handlers see world PE numbers (`ctx.pe`, `ctx.src`).
 *
 * **Collectives** (`barrier`, `broadcast`, `reduce`, `allreduce`, `scan`, `exscan`, `gather`,
 * `allgather`, `scatter`, `alltoall`, `alltoallv`, `reduceScatter`) must be called by every member
 * of the team, in the same order. A member whose input does not fit the others' makes the call
 * fail on every member with a `CollectiveError`, instead of hanging them.
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
  /** This PE's rank in the team, `0 <= pe < numPes` (in the world team, its PE number). */
  readonly pe: number;
  /** The number of PEs in the team (in the world team, in the job). */
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
  /**
   * Where every PE of the job runs, `{ pe, process, node, module }` (world PE numbers): the same
   * object for every team of this PE, and the same table on every PE.
   *
   * @example
   * ```ts
   * const { node, module } = world.topology.of(world.pe);
   * console.log(`PE ${world.pe} runs on node ${node} of ${world.topology.numNodes}, in module ${module}`);
   * ```
   */
  readonly topology: Topology;
  readonly #engine: Engine;
  readonly #parts: TeamParts;
  readonly #barrier: () => Promise<void>;
  /** World PE numbers by rank; undefined for the world team (rank = PE). */
  readonly #members: readonly number[] | undefined;
  readonly #id: number;
  readonly #name: string;
  /** The team as the collective algorithms see it. */
  readonly #view: TeamMembers;
  /** This team's collective calls so far (they number each call's messages). */
  #sequence = 0;
  /** Teams made from this one so far (they give the new teams their ids). */
  #children = 0;
  #closed = false;

  /** @internal Use `init()` (the world), or `split`, `splitByNode`, `splitByModule`, `team` (sub-teams). */
  constructor(parts: TeamParts, membership?: Membership) {
    this.#engine = parts.engine;
    this.#parts = parts;
    this.#members = membership?.members;
    this.#id = membership?.id ?? 0;
    this.#name = membership?.name ?? "the world team";
    this.#barrier = membership === undefined ? parts.barrier : () => parts.collectives.barrier(this.#view, this.#sequence++);
    this.pe = membership?.rank ?? parts.engine.pe;
    this.numPes = membership?.members.length ?? parts.engine.numPes;
    this.#view = { id: this.#id, name: this.#name, rank: this.pe, size: this.numPes, worldPe: (rank) => this.worldPe(rank), topology: parts.topology };
    this.config = Object.freeze({ ...parts.config });
    const transport = parts.engine.transport;
    this.pesPerProcess = transport.localPes;
    this.process = Math.floor(transport.firstPe / transport.localPes);
    this.numProcesses = parts.engine.numPes / transport.localPes;
    this.topology = parts.topology;
  }

  /** The team's id: 0 for the world, the same on every member of a sub-team. @internal */
  get teamId(): number {
    return this.#id;
  }

  /**
   * The world PE number of this team's rank `rank`.
   *
   * @example
   * ```ts
   * const node = await world.splitByNode();
   * const leader = node.worldPe(0); // the world PE of the node's first member
   * ```
   */
  worldPe(rank: number): number {
    const members = this.#members;
    if (members === undefined) return rank;
    const pe = members[rank];
    if (pe === undefined) throw new ShoalRangeError(`worldPe: expected a rank in 0..${this.numPes - 1} of ${this.#name}, got ${describeValue(rank)}`);
    return pe;
  }

  /**
   * The rank in this team of world PE `pe`, or -1 when it is not a member.
   *
   * @example
   * ```ts
   * const evens = await world.team({ start: 0, stride: 2, size: Math.ceil(world.numPes / 2) });
   * evens?.rankOf(4); // 2
   * ```
   */
  rankOf(pe: number): number {
    const members = this.#members;
    if (members === undefined) return Number.isInteger(pe) && pe >= 0 && pe < this.numPes ? pe : -1;
    return members.indexOf(pe);
  }

  /**
   * The world PE numbers of the members, by rank.
   *
   * @example
   * ```ts
   * const odds = await world.split(world.pe % 2);
   * console.log(odds!.members()); // [1, 3, 5, 7] on the odd PEs of 8
   * ```
   */
  members(): number[] {
    return this.#members === undefined ? Array.from({ length: this.numPes }, (_, pe) => pe) : [...this.#members];
  }

  // ---------------------------------------------------------------- teams

  /**
   * Collective on this team: splits it into one team per `color`, like `MPI_Comm_split`. Members
   * with the same color form a team, ranked by `key` (default: their rank here), ties broken by
   * their rank here. A member that passes `undefined` as its color joins no team and gets
   * `undefined`.
   *
   * @example
   * ```ts
   * const row = await world.split(Math.floor(world.pe / 4)); // teams of 4 consecutive PEs
   * const sum = await row!.allreduce(world.pe, "sum");
   * ```
   */
  async split(color: number | undefined, key: number = this.pe): Promise<Team | undefined> {
    this.#checkOpen("split");
    if (color !== undefined && (typeof color !== "number" || !Number.isInteger(color) || color < 0)) {
      throw new ShoalTypeError(`split: expected a non-negative integer color, or undefined to join no team, got ${describeValue(color)}`);
    }
    if (typeof key !== "number" || !Number.isFinite(key)) throw new ShoalTypeError(`split: expected a finite number as the key, got ${describeValue(key)}`);
    const child = this.#children++;
    const all = await this.allgather(new Float64Array([color ?? -1, key]));
    if (color === undefined) return undefined;
    const ranks: number[] = [];
    for (let rank = 0; rank < all.length; rank++) if (all[rank]![0] === color) ranks.push(rank);
    ranks.sort((a, b) => all[a]![1]! - all[b]![1]! || a - b);
    return this.#child(child, `split of ${this.#name}, color ${color}`, ranks, color);
  }

  /**
   * Collective on this team: one team per node, of the members on this PE's node (PEs of one host).
   *
   * @example
   * ```ts
   * const node = await world.splitByNode();
   * const onThisHost = node.numPes;
   * ```
   */
  async splitByNode(): Promise<Team> {
    return (await this.split(this.#placeOf("node")))!;
  }

  /**
   * Collective on this team: one team per module, of the members in this PE's module
   * (`SHOAL_MODULE_ID`, `shoal run --modules`).
   *
   * @example
   * ```ts
   * const module = await world.splitByModule();
   * const leader = module.pe === 0;
   * ```
   */
  async splitByModule(): Promise<Team> {
    return (await this.split(this.#placeOf("module")))!;
  }

  /**
   * Collective on this team: the strided team of ranks `start`, `start + stride`, … (`size` of
   * them) of this team, or `undefined` on the members left out. Every member must pass the same
   * shape: one that differs is a `CollectiveError` on every member.
   *
   * @example
   * ```ts
   * const evens = await world.team({ start: 0, stride: 2, size: Math.ceil(world.numPes / 2) });
   * if (evens !== undefined) await evens.barrier();
   * ```
   */
  async team(shape: StridedShape): Promise<Team | undefined> {
    this.#checkOpen("team");
    const { start, stride, size } = (shape ?? {}) as Partial<StridedShape>;
    const valid = [start, stride, size].every((n) => typeof n === "number" && Number.isInteger(n)) && start! >= 0 && stride! >= 1 && size! >= 1;
    const mine = valid ? [start!, stride!, size!] : [-1, -1, -1];
    const child = this.#children++;
    const all = await this.allgather(new Float64Array(mine));
    const text = (v: ArrayLike<number>): string => (v[0]! < 0 ? "an invalid shape" : `{ start: ${v[0]}, stride: ${v[1]}, size: ${v[2]} }`);
    for (let rank = 0; rank < all.length; rank++) {
      const other = all[rank]!;
      if (other[0] !== mine[0] || other[1] !== mine[1] || other[2] !== mine[2]) {
        throw new CollectiveError(`team on ${this.#name}: rank ${rank} passed ${text(other)} but rank ${this.pe} passed ${text(mine)}; every member must pass the same shape`);
      }
    }
    if (!valid) throw new ShoalRangeError(`team: expected { start, stride, size } with integers start >= 0, stride >= 1, size >= 1, got ${describeValue(shape)}`);
    const last = start! + (size! - 1) * stride!;
    if (last >= this.numPes) {
      throw new ShoalRangeError(`team: { start: ${start}, stride: ${stride}, size: ${size} } reaches rank ${last}, but ${this.#name} has ranks 0..${this.numPes - 1}`);
    }
    const ranks = Array.from({ length: size! }, (_, k) => start! + k * stride!);
    return this.#child(child, `strided team ${text(mine)} of ${this.#name}`, ranks, 0);
  }

  #child(child: number, name: string, ranks: readonly number[], color: number): Team | undefined {
    const rank = ranks.indexOf(this.pe);
    if (rank < 0) return undefined;
    const id = teamId(this.#id, child, color);
    return new Team(this.#parts, { id, name, rank, members: ranks.map((r) => this.worldPe(r)) });
  }

  /** This PE's node or module. */
  #placeOf(what: "node" | "module"): number {
    const pe = this.worldPe(this.pe);
    return what === "node" ? this.topology.nodeOf(pe) : this.topology.moduleOf(pe);
  }

  // ---------------------------------------------------------------- collectives

  /** The team's view for the algorithms, once the call is known to be allowed. */
  #collective(what: string): TeamMembers {
    this.#checkOpen(what);
    return this.#view;
  }

  #root(root: number, what: string): number {
    if (typeof root !== "number" || !Number.isInteger(root) || root < 0 || root >= this.numPes) {
      throw new ShoalRangeError(`${what}: expected a root rank in 0..${this.numPes - 1} of ${this.#name}, got ${describeValue(root)}`);
    }
    return root;
  }

  /**
   * The plan a collective follows on this team for `bytes` bytes of typed data: its levels
   * (process, node, module, across modules, as `SHOAL_HIER` sets), each level's groups, link and
   * algorithm (chosen by an alpha-beta cost model), and the messages it sends. Not collective: it
   * only computes.
   *
   * @example
   * ```ts
   * const plan = world.plan("allreduce", 8);
   * console.log(plan.levels.map((level) => `${level.name}: ${level.algorithm}`), plan.crossModule);
   * ```
   */
  plan(op: PlannedOp, bytes: number, root = 0): CollectivePlan {
    this.#checkPlan(op, bytes);
    return this.#parts.collectives.plan(this.#view, op, bytes, this.#root(root, "plan"));
  }

  /**
   * {@link plan} as text, one line per level, like:
   * ```
   * allreduce of 8 bytes on the world team, SHOAL_HIER=2:
   *   level 1 process    2 groups of 2  shm shared memory      up and down        0 messages (0 across modules)  ~1.0 µs
   *   level 2 modules    1 group  of 2  ipc recursive doubling allreduce          2 messages (0 across modules)  ~50.0 µs
   *   total: 2 messages, 0 across modules, ~51.0 µs
   * ```
   *
   * @example
   * ```ts
   * if (world.pe === 0) console.log(world.explain("allreduce", 1 << 20));
   * ```
   */
  explain(op: PlannedOp, bytes: number, root = 0): string {
    return this.#parts.collectives.explain(this.plan(op, bytes, root));
  }

  /**
   * Collective in effect: sets how this PE's later collectives follow the topology, as
   * `SHOAL_HIER` does at start (every PE must set the same level, between the same calls). For
   * benchmarks that compare the levels in one run.
   * @internal
   */
  useHierarchy(level: 0 | 1 | 2): void {
    if (level !== 0 && level !== 1 && level !== 2) throw new ShoalRangeError(`useHierarchy: expected 0, 1 or 2, got ${describeValue(level)}`);
    this.#parts.collectives.setHierarchy(level);
  }

  #checkPlan(op: unknown, bytes: unknown): void {
    if (op !== "barrier" && op !== "broadcast" && op !== "reduce" && op !== "allreduce" && op !== "scan") {
      throw new ShoalTypeError(`plan: expected "barrier", "broadcast", "reduce", "allreduce" or "scan", got ${describeValue(op)}`);
    }
    if (typeof bytes !== "number" || !Number.isInteger(bytes) || bytes < 0) throw new ShoalRangeError(`plan: expected a byte count >= 0, got ${describeValue(bytes)}`);
  }

  /**
   * Collective: every member gets the root's `value` (the others' are ignored). Values are anything
   * an active message can carry; typed arrays travel as bytes.
   *
   * @example
   * ```ts
   * const settings = await world.broadcast(world.pe === 0 ? { steps: 10 } : undefined, 0);
   * ```
   */
  broadcast<T>(value: T | undefined, root = 0): Promise<T> {
    const team = this.#collective("broadcast");
    const at = this.#root(root, "broadcast");
    return this.#parts.collectives.broadcast(team, this.#sequence++, value, at) as Promise<T>;
  }

  /**
   * Collective: combines every member's `value` with `op` in rank order; the root gets the result,
   * the others `undefined`. Values: numbers (as f64), bigints (as i64), or typed arrays of one
   * length (element by element, in their dtype).
   *
   * @example
   * ```ts
   * const total = await world.reduce(new Float64Array([world.pe, 1]), "sum", 0); // on PE 0
   * ```
   */
  reduce<T extends ReducibleValue>(value: T, op: ReductionOp, root = 0): Promise<T | undefined> {
    const team = this.#collective("reduce");
    const reduction = reductionOf(op, "reduce");
    const at = this.#root(root, "reduce");
    return this.#parts.collectives.reduce(team, this.#sequence++, value, reduction, at) as Promise<T | undefined>;
  }

  /**
   * Collective: every member gets the combination of every member's `value` with `op` (see
   * {@link reduce} for the values).
   *
   * @example
   * ```ts
   * const largest = await world.allreduce(localMax, "max");
   * const counts = await world.allreduce(new Uint32Array(histogram), "sum");
   * ```
   */
  allreduce<T extends ReducibleValue>(value: T, op: ReductionOp): Promise<T> {
    const team = this.#collective("allreduce");
    const reduction = reductionOf(op, "allreduce");
    return this.#parts.collectives.allreduce(team, this.#sequence++, value, reduction) as Promise<T>;
  }

  /**
   * Collective: the inclusive prefix combination: rank r gets `value(0) op … op value(r)`.
   *
   * @example
   * ```ts
   * const upToMe = await world.scan(myCount, "sum");
   * ```
   */
  scan<T extends ReducibleValue>(value: T, op: ReductionOp): Promise<T> {
    const team = this.#collective("scan");
    const reduction = reductionOf(op, "scan");
    return this.#parts.collectives.scan(team, this.#sequence++, value, reduction, false) as Promise<T>;
  }

  /**
   * Collective: the exclusive prefix combination: rank r gets `value(0) op … op value(r-1)`, and
   * rank 0 the operator's identity (0 for a sum).
   *
   * @example
   * ```ts
   * const myOffset = await world.exscan(myCount, "sum"); // where this PE's items start
   * ```
   */
  exscan<T extends ReducibleValue>(value: T, op: ReductionOp): Promise<T> {
    const team = this.#collective("exscan");
    const reduction = reductionOf(op, "exscan");
    return this.#parts.collectives.scan(team, this.#sequence++, value, reduction, true) as Promise<T>;
  }

  /**
   * Collective: {@link exscan} of scalars with an operator already specialised for a dtype (an
   * array's scan combines its parts' totals with its own dtype's operator).
   * @internal
   */
  exscanWith(value: Scalar, kernel: ReductionKernel): Promise<Scalar> {
    const team = this.#collective("exscan");
    return this.#parts.collectives.scan(team, this.#sequence++, value, kernel, true) as Promise<Scalar>;
  }

  /**
   * Collective: the root gets every member's `value`, in rank order; the others `undefined`.
   * Values may differ in length and type.
   *
   * @example
   * ```ts
   * const parts = await world.gather(localResults, 0); // on PE 0: one entry per PE
   * ```
   */
  gather<T>(value: T, root = 0): Promise<T[] | undefined> {
    const team = this.#collective("gather");
    const at = this.#root(root, "gather");
    return this.#parts.collectives.gather(team, this.#sequence++, value, at) as Promise<T[] | undefined>;
  }

  /**
   * Collective: every member gets every member's `value`, in rank order.
   *
   * @example
   * ```ts
   * const sizes = await world.allgather(myItems.length); // one number per PE
   * ```
   */
  allgather<T>(value: T): Promise<T[]> {
    const team = this.#collective("allgather");
    return this.#parts.collectives.allgather(team, this.#sequence++, value) as Promise<T[]>;
  }

  /**
   * Collective: the root passes one value per rank (`values[r]` goes to rank r); every member gets
   * its own. The others' `values` are ignored.
   *
   * @example
   * ```ts
   * const work = await world.scatter(world.pe === 0 ? chunks : undefined, 0);
   * ```
   */
  scatter<T>(values: readonly T[] | undefined, root = 0): Promise<T> {
    const team = this.#collective("scatter");
    const at = this.#root(root, "scatter");
    return this.#parts.collectives.scatter(team, this.#sequence++, values, at) as Promise<T>;
  }

  /**
   * Collective: every member passes a typed array of `numPes × k` elements; chunk j (elements
   * `j*k … (j+1)*k-1`) goes to rank j, and the result's chunk j came from rank j. Every member
   * must pass the same type and length.
   *
   * @example
   * ```ts
   * const received = await world.alltoall(new Float64Array(world.numPes * 4)); // 4 to each PE
   * ```
   */
  alltoall<T extends Extract<ReducibleValue, object>>(data: T): Promise<T> {
    const team = this.#collective("alltoall");
    return this.#parts.collectives.alltoall(team, this.#sequence++, data) as Promise<T>;
  }

  /**
   * Collective: `parts[j]` goes to rank j (any values, of any lengths: empty ones too), and the
   * result's entry j came from rank j.
   *
   * @example
   * ```ts
   * const buckets = world.members().map((pe) => keysFor(pe)); // one Uint32Array per PE
   * const mine = await world.alltoallv(buckets);
   * ```
   */
  alltoallv<T>(parts: readonly T[]): Promise<T[]> {
    const team = this.#collective("alltoallv");
    return this.#parts.collectives.alltoallv(team, this.#sequence++, parts as unknown[]) as Promise<T[]>;
  }

  /**
   * Collective: combines every member's typed array element by element with `op`, and gives rank
   * r block r of the result: `counts[r]` elements, or by default as even a split as can be (the
   * first ranks one longer), like a block-distributed array.
   *
   * @example
   * ```ts
   * const myBlock = await world.reduceScatter(new Float64Array(1000), "sum");
   * ```
   */
  reduceScatter<T extends Extract<ReducibleValue, object>>(data: T, op: ReductionOp, options: { counts?: readonly number[] } = {}): Promise<T> {
    const team = this.#collective("reduceScatter");
    const reduction = reductionOf(op, "reduceScatter");
    return this.#parts.collectives.reduceScatter(team, this.#sequence++, data, reduction, options?.counts) as Promise<T>;
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
    return Math.floor(this.worldPe(pe) / this.pesPerProcess);
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
    return this.#engine.request(this.#members === undefined ? pe : this.#members[pe]!, entry, arg);
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
    for (let pe = 0; pe < this.numPes; pe++) calls.push(this.#engine.request(this.#members === undefined ? pe : this.#members[pe]!, entry, arg));
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
    this.#engine.send(this.#members === undefined ? pe : this.#members[pe]!, entry, arg);
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
    return this.#engine.request(this.#members === undefined ? pe : this.#members[pe]!, entry, args) as Promise<R>;
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
   * Counters of this PE: messages, frames and bytes sent and received, progress steps, sleeps, and
   * with `SHOAL_HISTOGRAM=1` the sizes of the frames it sent (`histogram`).
   *
   * @example
   * ```ts
   * console.log(world.stats().engine.requestsSent);
   * const histogram = world.stats().histogram; // SHOAL_HISTOGRAM=1 only
   * if (histogram !== undefined) console.log(histogram.bins, histogram.counts.shm);
   * ```
   */
  stats(): WorldStats {
    const transport = this.#engine.transport;
    return { pe: this.pe, engine: { ...this.#engine.counters }, transport: { ...transport.counters }, histogram: transport.histogramCounts() };
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
    if (this.#members !== undefined) throw new StateError(`close: only the world team is closed (by the launcher); ${this.#name} ends with it`);
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

function reductionOf(op: unknown, what: string): Reduction {
  if (typeof op === "string") return reductionNamed(op, what);
  if (typeof op === "object" && op !== null && typeof (op as Reduction).name === "string" && typeof (op as Reduction).kernel === "function") {
    return reductionNamed((op as Reduction).name, what);
  }
  throw new ShoalTypeError(`${what}: expected a reduction (such as "sum", or one from defineReduction), got ${describeValue(op)}`);
}

/** A team's id from its parent's, the parent's count of teams made before it, and its color: FNV-1a over the three. */
function teamId(parent: number, child: number, color: number): number {
  let hash = 0x811c9dc5;
  for (const word of [parent, child, color]) {
    for (let shift = 0; shift < 32; shift += 8) {
      hash ^= (word >>> shift) & 0xff;
      hash = Math.imul(hash, 0x01000193);
    }
  }
  // 0 is the world team's.
  return (hash >>> 0) || 1;
}
