/**
 * The types of a collective's plan: what `team.plan(op, bytes)` returns and `team.explain` prints.
 * The plans are made in `collectives/plan.ts`.
 *
 * @module
 */

/**
 * The collectives that follow the topology's hierarchy.
 *
 * @example
 * ```ts
 * const op: PlannedOp = "allreduce";
 * console.log(world.explain(op, 8));
 * ```
 */
export type PlannedOp = "barrier" | "broadcast" | "reduce" | "allreduce" | "scan";

/**
 * How a level's messages travel: shared memory, active messages inside a process, ipc, tcp, or
 * across modules (`gw`, as ParaStation's gateways).
 *
 * @example
 * ```ts
 * const links: LinkKind[] = world.plan("allreduce", 8).levels.map((level) => level.link);
 * ```
 */
export type LinkKind = "shm" | "am" | "ipc" | "tcp" | "gw";

/**
 * An algorithm a level can run.
 *
 * @example
 * ```ts
 * const top: Algorithm = world.plan("allreduce", 1 << 20).levels.at(-1)!.algorithm;
 * ```
 */
export type Algorithm = "shared memory" | "binomial tree" | "recursive doubling" | "reduce + broadcast" | "ring" | "dissemination" | "linear";

/**
 * One level of a plan.
 *
 * @example
 * ```ts
 * for (const level of world.plan("allreduce", 8).levels) console.log(level.name, level.algorithm);
 * ```
 */
export interface LevelPlan {
  /** What its groups are: "flat", "process", "node", "module", or "modules" (the module leaders). */
  readonly name: "flat" | "process" | "node" | "module" | "modules";
  /** Team ranks of each group, leader first, in rank order. */
  readonly groups: readonly (readonly number[])[];
  /** Whether this is the last level (one group, running the operation itself). */
  readonly last: boolean;
  readonly link: LinkKind;
  readonly algorithm: Algorithm;
  /** Messages this level sends, over all its groups (0 for shared memory). */
  readonly messages: number;
  /** How many of them go between PEs of different modules. */
  readonly crossModule: number;
  /** Estimated time of the level, µs (its slowest group). */
  readonly micros: number;
}

/**
 * A collective's plan on a team: its levels, and the messages and time they add up to.
 *
 * @example
 * ```ts
 * const plan = world.plan("allreduce", 8);
 * console.log(plan.messages, plan.crossModule, plan.micros);
 * ```
 */
export interface CollectivePlan {
  readonly op: PlannedOp;
  readonly bytes: number;
  readonly hier: 0 | 1 | 2;
  readonly team: string;
  readonly levels: readonly LevelPlan[];
  /** Messages of the whole operation (a broadcast or reduce whose root is not rank 0 adds one). */
  readonly messages: number;
  /** Of which between PEs of different modules. */
  readonly crossModule: number;
  /** Estimated time, µs: the levels' sum, up and down. */
  readonly micros: number;
}

