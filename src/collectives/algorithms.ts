/**
 * The collective operations of a team, over point-to-point messages between its members
 * (mailbox.ts). Ranks are team ranks, 0..size-1.
 *
 * Barrier (of sub-teams; the world's is lamellae's own), broadcast, reduce, allreduce, scan and
 * exscan follow the team's plan (plan.ts, hierarchy.ts): shared memory inside each process (not
 * for scans), then the levels of `SHOAL_HIER`, with the algorithm the cost model picks for each
 * level. The others are flat:
 *
 * | call | algorithm | messages |
 * |---|---|---|
 * | gather | every rank to the root | n - 1 |
 * | allgather | gather to rank 0, broadcast of the list | 2 (n - 1) |
 * | scatter | the root to every rank | n - 1 |
 * | alltoall, alltoallv | every rank to every other | n (n - 1) |
 * | reduceScatter | the planned reduce to rank 0, then its blocks to each rank | as reduce, + n - 1 |
 *
 * A member that finds the call cannot go on (its input does not fit) keeps to the algorithm's
 * messages but sends the error instead of values, so every member ends the call with the same
 * {@link CollectiveError} instead of waiting forever.
 *
 * @module
 */
import { combineValues, identityLike, valueKernel, type ReducibleValue, type Reduction, type ReductionKernel } from "../../kernels/index.js";
import type { Engine } from "../am/index.js";
import type { ShoalConfig } from "../config/index.js";
import type { CollectivePlan, CollectiveOps, PlannedOp, TeamMembers } from "../team/index.js";
import { groupPes, kRootStep, runPlanned, scanPlanned } from "./hierarchy.js";
import { Call } from "./mailbox.js";
import { explainPlan, makePlan, withRoot } from "./plan.js";
import { cachedArea, kSlotBytes } from "./shm.js";

// Steps of the phases of one call: a phase's rounds count up from its base.
const kBroadcastStep = 64;
/** reduceScatter's blocks, after its planned reduce (whose steps are never negative). */
const kScatterStep = -2;

/** Plans by team and (op, bytes, shared memory or not, elements). */
const kPlans = new WeakMap<TeamMembers, Map<number, CollectivePlan>>();
const kOpIndex: Record<PlannedOp, number> = { barrier: 0, broadcast: 1, reduce: 2, allreduce: 3, scan: 4 };

/** The collective operations, over `engine`'s active messages and the processes' shared memory. @internal */
export function createCollectives(engine: Engine, config: Pick<ShoalConfig, "barrierTimeoutMs" | "hier" | "gwMtu">): CollectiveOps {
  const { barrierTimeoutMs: timeoutMs, gwMtu } = config;
  let hier = config.hier;
  const call = (team: TeamMembers, sequence: number, what: string): Call => new Call(engine, team, sequence, `${what} on ${team.name}`, timeoutMs, gwMtu);

  /**
   * The plan for `value`. Members must all follow the same one, so it depends only on the value's
   * size rounded up to a power of two (and whether that fits shared memory): members whose values
   * differ less than that fail the call with a clear error, on the same schedule.
   */
  const planOf = (team: TeamMembers, op: PlannedOp, value: unknown): CollectivePlan => {
    const exact = typeof value === "object" && value !== null && ArrayBuffer.isView(value) ? value.byteLength : 8;
    const bytes = exact <= 8 ? 8 : 2 ** Math.ceil(Math.log2(exact));
    // Values larger than a slot go by message at the process level (one copy each, by reference,
    // and every member combines at once); a broadcast's value is known only to its root, so its
    // plan always has the area, which hands a large value on by message.
    const shm = op === "broadcast" || (op !== "scan" && bytes <= kSlotBytes);
    let plans = kPlans.get(team);
    if (plans === undefined) kPlans.set(team, (plans = new Map()));
    const key = (bytes * 8 + kOpIndex[op]) * 4 + hier;
    let plan = plans.get(key);
    if (plan === undefined) plans.set(key, (plan = makePlan(team, op, bytes, hier, shm, gwMtu)));
    return plan;
  };

  const planned = (c: Call, team: TeamMembers, op: PlannedOp, value: unknown, kernel: ReductionKernel | undefined): unknown => {
    // Every member must follow the same plan: the shape of the value decides it, so a member whose
    // value differs from rank 0's in shape fails the call (through `fits`) on the same schedule.
    const plan = planOf(team, op, op === "broadcast" ? null : value);
    return runPlanned({ engine, c, team, plan, op, kernel, fits: (got, fromRank) => fits(c, value, got, fromRank) }, value);
  };

  return {
    setHierarchy(level) {
      hier = level;
    },

    plan(team, op, bytes, root) {
      const plan = makePlan(team, op, bytes, hier, op === "broadcast" || (op !== "scan" && bytes <= kSlotBytes), gwMtu);
      return op === "broadcast" || op === "reduce" ? withRoot(plan, team, root, gwMtu) : plan;
    },

    explain(plan) {
      return explainPlan(plan);
    },

    async barrier(team, sequence) {
      const c = call(team, sequence, "barrier");
      await planned(c, team, "barrier", null, undefined);
      if (c.failed) throw c.error();
    },

    async broadcast(team, sequence, value, root) {
      const c = call(team, sequence, "broadcast");
      // Only the root knows the value, so the plan cannot depend on it: the process level hands a
      // value that does not fit shared memory on by message (hierarchy.ts, down).
      let mine = value;
      if (root !== 0) {
        if (c.rank === root) c.send(0, kRootStep, value);
        else if (c.rank === 0) mine = await c.receive(root, kRootStep);
      }
      const result = await planned(c, team, "broadcast", mine, undefined);
      if (c.failed) throw c.error();
      return result;
    },

    async reduce(team, sequence, value, reduction, root) {
      const c = call(team, sequence, "reduce");
      const kernel = kernelFor(c, reduction, value);
      let result = await planned(c, team, "reduce", value, kernel);
      if (root !== 0) {
        if (c.rank === 0) c.send(root, kRootStep, result);
        else if (c.rank === root) result = await c.receive(0, kRootStep);
      }
      if (c.failed) throw c.error();
      return c.rank === root ? fresh(result, value) : undefined;
    },

    async allreduce(team, sequence, value, reduction) {
      const c = call(team, sequence, "allreduce");
      const kernel = kernelFor(c, reduction, value);
      if (team.size === 1 && !c.failed) return fresh(value, value) as ReducibleValue;
      // One process: one level of shared memory, and (after the first call) nothing else to set up.
      const plan = planOf(team, "allreduce", value);
      const only = plan.levels.length === 1 ? plan.levels[0]! : undefined;
      const shared = only?.algorithm === "shared memory" ? cachedArea(team.id) : undefined;
      let result = shared !== undefined ? shared.upDown(c, value, kernel, groupPes(team, only!.groups[0]!)) : planned(c, team, "allreduce", value, kernel);
      if (result instanceof Promise) result = await result;
      if (c.failed) throw c.error();
      return fresh(result, value) as ReducibleValue;
    },

    async scan(team, sequence, value, reduction, exclusive) {
      const c = call(team, sequence, exclusive ? "exscan" : "scan");
      // A kernel given directly (an array's scan, with its dtype's operator) is used as it is.
      const kernel = "combine" in reduction ? reduction : kernelFor(c, reduction, value);
      const plan = planOf(team, "scan", value);
      const before = await scanPlanned(c, plan, value as ReducibleValue, kernel, (got, from) => fits(c, value, got, from));
      if (c.failed) throw c.error();
      if (exclusive) return before ?? identityLike(kernel!, value as ReducibleValue);
      return before === undefined ? fresh(value, value) as ReducibleValue : combineValues(kernel!, before, value as ReducibleValue);
    },

    async gather(team, sequence, value, root) {
      const c = call(team, sequence, "gather");
      const result = await gatherTo(c, value, root);
      if (c.failed) throw c.error();
      return result;
    },

    async allgather(team, sequence, value) {
      const c = call(team, sequence, "allgather");
      const gathered = await gatherTo(c, value, 0);
      const result = await broadcastFrom(c, gathered, 0, kBroadcastStep);
      if (c.failed) throw c.error();
      return result as unknown[];
    },

    async scatter(team, sequence, values, root) {
      const c = call(team, sequence, "scatter");
      const { rank, size } = c;
      let mine: unknown;
      if (rank === root) {
        const list = values as unknown[];
        if (!Array.isArray(list) || list.length !== size) {
          c.fail(`the root (rank ${root}) passed ${Array.isArray(list) ? `${list.length} values` : describe(list)}; expected an array of ${size} values, one per rank`);
        }
        for (let to = 0; to < size; to++) if (to !== rank) c.send(to, 0, c.failed ? null : list[to]);
        mine = c.failed ? undefined : list[rank];
      } else {
        mine = await c.receive(root, 0);
      }
      if (c.failed) throw c.error();
      return mine;
    },

    async alltoall(team, sequence, data) {
      const c = call(team, sequence, "alltoall");
      const { rank, size } = c;
      const typed = ArrayBuffer.isView(data) && !(data instanceof DataView);
      if (!typed) c.fail(`rank ${rank} passed ${describe(data)}; expected a typed array of size × k elements`);
      else if (data.length % size !== 0) c.fail(`rank ${rank} passed ${data.length} elements, which is not a multiple of the team's ${size} ranks (every rank sends k elements to each rank)`);
      const chunk = c.failed ? 0 : data.length / size;
      for (let to = 0; to < size; to++) if (to !== rank) c.send(to, 0, c.failed ? null : data.subarray(to * chunk, (to + 1) * chunk));
      const out = c.failed ? undefined : new (data.constructor as new (length: number) => typeof data)(data.length);
      out?.set(data.subarray(rank * chunk, (rank + 1) * chunk) as never, rank * chunk);
      for (let from = 0; from < size; from++) {
        if (from === rank) continue;
        const got = await c.receive(from, 0);
        if (c.failed) continue;
        if (!ArrayBuffer.isView(got) || got.constructor !== data.constructor || (got as typeof data).length !== chunk) {
          c.fail(`rank ${from} sent ${describe(got)} where rank ${rank} expects ${chunk} elements of ${data.constructor.name} (every rank must pass the same type and length)`);
          continue;
        }
        out!.set(got as never, from * chunk);
      }
      if (c.failed) throw c.error();
      return out!;
    },

    async alltoallv(team, sequence, parts) {
      const c = call(team, sequence, "alltoallv");
      const { rank, size } = c;
      if (!Array.isArray(parts) || parts.length !== size) {
        c.fail(`rank ${rank} passed ${Array.isArray(parts) ? `${parts.length} parts` : describe(parts)}; expected an array of ${size} parts, one per destination rank`);
      }
      for (let to = 0; to < size; to++) if (to !== rank) c.send(to, 0, c.failed ? null : parts[to]);
      const out = new Array<unknown>(size);
      if (!c.failed) out[rank] = parts[rank];
      for (let from = 0; from < size; from++) if (from !== rank) out[from] = await c.receive(from, 0);
      if (c.failed) throw c.error();
      return out;
    },

    async reduceScatter(team, sequence, data, reduction, counts) {
      const c = call(team, sequence, "reduceScatter");
      const { rank, size } = c;
      const kernel = kernelFor(c, reduction, data);
      if (!c.failed && typeof data !== "object") c.fail(`rank ${rank} passed ${describe(data)}; expected a typed array`);
      const length = c.failed ? 0 : (data as { length: number }).length;
      const blocks = c.failed ? [] : blockCounts(c, length, counts);
      const reduced = await planned(c, team, "reduce", data, kernel);
      let mine: unknown;
      if (rank === 0) {
        let start = 0;
        for (let to = 0; to < size; to++) {
          const n = blocks[to] ?? 0;
          const block = c.failed ? null : (reduced as Extract<ReducibleValue, object>).slice(start, start + n);
          start += n;
          if (to === 0) mine = block;
          else c.send(to, kScatterStep, block);
        }
      } else {
        mine = await c.receive(0, kScatterStep);
      }
      if (c.failed) throw c.error();
      return mine as ReducibleValue;
    },
  };
}

/** The result, never the caller's own array (a team of one member, or a level skipped, returns its value as it came). */
function fresh(result: unknown, value: unknown): unknown {
  return result === value && typeof value === "object" && value !== null && ArrayBuffer.isView(value) ? (value as Extract<ReducibleValue, object>).slice() : result;
}

/** The operator for values like `value`, or the call marked failed (and undefined). */
function kernelFor(c: Call, reduction: Reduction, value: unknown): ReductionKernel | undefined {
  const found = valueKernel(reduction, value);
  if (typeof found === "string") {
    c.fail(`rank ${c.rank} passed a value "${reduction.name}" cannot reduce: ${found}`);
    return undefined;
  }
  return found.kernel;
}

/** Whether `got` (from rank `from`) can be combined with this rank's `value`; if not, the call fails. */
function fits(c: Call, value: unknown, got: unknown, from: number): boolean {
  const same = typeof value !== "object"
    ? typeof got === typeof value
    : ArrayBuffer.isView(got) && got.constructor === (value as object).constructor && (got as unknown as { length: number }).length === (value as { length: number }).length;
  if (!same) c.fail(`rank ${from}'s value (${describe(got)}) does not match rank ${c.rank}'s (${describe(value)}): every rank must pass the same type${typeof value === "object" ? " and length" : ""}`);
  return same;
}

/** Binomial broadcast of `value` from `root`; resolves to the value on every rank. */
async function broadcastFrom(c: Call, value: unknown, root: number, step: number): Promise<unknown> {
  const { rank, size } = c;
  const relative = (rank - root + size) % size;
  let mask = 1;
  while (mask < size) {
    if ((relative & mask) !== 0) {
      value = await c.receive((relative - mask + root) % size, step);
      break;
    }
    mask <<= 1;
  }
  for (mask >>= 1; mask > 0; mask >>= 1) {
    if (relative + mask < size) c.send((relative + mask + root) % size, step, value);
  }
  return value;
}

/** Every rank's value to `root`, which gets them in rank order; the others get undefined. */
async function gatherTo(c: Call, value: unknown, root: number): Promise<unknown[] | undefined> {
  const { rank, size } = c;
  if (rank !== root) {
    c.send(root, 0, value);
    return undefined;
  }
  const out = new Array<unknown>(size);
  out[rank] = value;
  for (let from = 0; from < size; from++) if (from !== rank) out[from] = await c.receive(from, 0);
  return out;
}

/** The length of each rank's block: `counts` when given (checked), else as even as can be, the first ranks one longer. */
function blockCounts(c: Call, length: number, counts: readonly number[] | undefined): number[] {
  const size = c.size;
  if (counts === undefined) {
    const base = Math.floor(length / size);
    const extra = length % size;
    return Array.from({ length: size }, (_, r) => base + (r < extra ? 1 : 0));
  }
  let total = 0;
  const ok = Array.isArray(counts) && counts.length === size && counts.every((n) => Number.isInteger(n) && n >= 0);
  if (ok) for (const n of counts) total += n;
  if (!ok || total !== length) {
    c.fail(`rank ${c.rank} passed counts ${Array.isArray(counts) ? `[${counts.join(", ")}]` : describe(counts)}; expected ${size} non-negative integers that add up to the ${length} elements`);
    return [];
  }
  return [...counts];
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (value === undefined) return "undefined";
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of ${(value as unknown as { length: number }).length}`;
  if (Array.isArray(value)) return `an array of ${value.length}`;
  return typeof value === "object" ? `a ${(value as object).constructor?.name ?? "object"}` : `${typeof value} ${String(value)}`;
}
