/**
 * Runs the collectives that follow the topology (barrier, broadcast, reduce, allreduce) along
 * their plan (plan.ts): up the levels to the leaders, the operation itself on the last level, and
 * back down. Each level's algorithm runs on its group's members, addressed by their index in the
 * group (the leader is index 0); the schedules are those `messagesOf` counts.
 *
 * Steps: level L's messages use steps `L * 4^10 + phase * 4^9 + round` (phase 0 up, 1 the last
 * level's operation, 2 down), and the hop between rank 0 and a root other than 0 uses kRootStep,
 * so no two messages of one call between the same two members share a step.
 *
 * @module
 */
import { combineValues, type ReducibleValue, type ReductionKernel } from "../../kernels/index.js";
import type { Engine } from "../am/index.js";
import type { Algorithm, CollectivePlan, LevelPlan, PlannedOp, TeamMembers } from "../team/index.js";
import type { Call } from "./mailbox.js";
import { areaOf, cachedArea, fitsArea, kByMessage, type Area } from "./shm.js";

/** The world PEs of each group of a plan (plans are cached, and so are these). */
const kGroupPes = new WeakMap<readonly number[], readonly number[]>();

export function groupPes(team: TeamMembers, group: readonly number[]): readonly number[] {
  let pes = kGroupPes.get(group);
  if (pes === undefined) kGroupPes.set(group, (pes = group.map((rank) => team.worldPe(rank))));
  return pes;
}

function area(call: PlannedCall, group: readonly number[], index: number): Area | Promise<Area> {
  return cachedArea(call.team.id) ?? areaOf(call.engine, call.team.id, group.length, index);
}

/** The step of the hop between rank 0 and a root other than 0. */
export const kRootStep = -1;

const stepOf = (level: number, phase: number, round: number): number => level * 1_048_576 + phase * 262_144 + round;

/** What one member does in one call of a planned collective. */
export interface PlannedCall {
  readonly engine: Engine;
  readonly c: Call;
  readonly team: TeamMembers;
  readonly plan: CollectivePlan;
  readonly op: PlannedOp;
  /** The combining operator (reduce, allreduce); undefined for barrier and broadcast. */
  readonly kernel: ReductionKernel | undefined;
  /** Checks a received value against this member's; false (with the call failed) when it does not fit. */
  readonly fits: (got: unknown, fromRank: number) => boolean;
}

/** The group of `level` this member belongs to, and its index there; undefined when it is not at this level. */
function myGroup(level: LevelPlan, rank: number): { group: readonly number[]; index: number } | undefined {
  for (const group of level.groups) {
    const index = group.indexOf(rank);
    if (index >= 0) return { group, index };
  }
  return undefined;
}

/**
 * Runs `call` with this member's `value`. Resolves to: the result on every member (allreduce,
 * broadcast from rank 0, barrier: null); on rank 0 the combined value for a reduce (undefined
 * elsewhere). An allreduce or barrier inside one process, through shared memory, completes
 * synchronously when the other members are already there.
 */
export function runPlanned(call: PlannedCall, value: unknown): unknown {
  const levels = call.plan.levels;
  if (levels.length === 1 && levels[0]!.algorithm === "shared memory" && (call.op === "allreduce" || call.op === "barrier")) {
    // The area exists after the team's first such call (allocating it takes a message).
    const shared = cachedArea(call.team.id);
    if (shared !== undefined) return shared.upDown(call.c, value, call.kernel, groupPes(call.team, levels[0]!.groups[0]!));
  }
  return runLevels(call, value);
}

async function runLevels(call: PlannedCall, value: unknown): Promise<unknown> {
  const { plan, op, c } = call;
  const levels = plan.levels;
  const rank = c.rank;
  let acc = value;
  if (op === "broadcast") {
    for (let l = levels.length - 1; l >= 0; l--) acc = await down(call, l, acc);
    return acc;
  }
  // Up: every level but the last reduces to its leaders (for a reduce, the last one too).
  const upTo = op === "reduce" ? levels.length : levels.length - 1;
  for (let l = 0; l < upTo; l++) {
    const mine = myGroup(levels[l]!, rank);
    if (mine === undefined) break;
    acc = await up(call, l, mine.group, mine.index, acc);
    if (mine.index !== 0) break;
  }
  if (op === "reduce") return rank === 0 ? acc : undefined;
  // The last level: the operation itself, among the leaders that reached it.
  const top = levels.length - 1;
  const topGroup = myGroup(levels[top]!, rank);
  if (topGroup !== undefined) acc = await allreduceLevel(call, top, topGroup.group, topGroup.index, acc);
  // Down.
  for (let l = levels.length - 2; l >= 0; l--) acc = await down(call, l, acc);
  return op === "barrier" ? null : acc;
}

/** Up one level: this member's value to its group's leader; the leader gets the combination (or null for a barrier). */
async function up(call: PlannedCall, l: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const { plan, c, kernel } = call;
  const level = plan.levels[l]!;
  if (group.length === 1) return value;
  if (level.algorithm === "shared memory") return (await area(call, group, index)).up(c, value, kernel, groupPes(call.team, group));
  return binomialUp(call, l, 0, group, index, value);
}

/** Down one level: the leader's value to every member of its group. */
async function down(call: PlannedCall, l: number, value: unknown): Promise<unknown> {
  const { plan, c } = call;
  const level = plan.levels[l]!;
  const mine = myGroup(level, c.rank);
  if (mine === undefined || mine.group.length === 1) return value;
  if (level.algorithm === "shared memory") {
    const shared = await area(call, mine.group, mine.index);
    const pes = groupPes(call.team, mine.group);
    if (mine.index !== 0) {
      const got = await shared.down(c, undefined, pes);
      return got === kByMessage ? c.receive(mine.group[0]!, stepOf(l, 2, 0)) : got;
    }
    // A value that does not fit the area (a broadcast's object, a large array) goes by message.
    if (fitsArea(value) || c.failed) return shared.down(c, value, pes);
    await shared.down(c, kByMessage, pes);
    for (let member = 1; member < mine.group.length; member++) c.send(mine.group[member]!, stepOf(l, 2, 0), value);
    return value;
  }
  return binomialDown(call.c, stepOf(l, 2, 0), mine.group, mine.index, value);
}

/** The last level of an allreduce or barrier, on its one group. */
async function allreduceLevel(call: PlannedCall, l: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const { plan, c } = call;
  const level = plan.levels[l]!;
  if (group.length === 1) return value;
  const algorithm: Algorithm = level.algorithm;
  switch (algorithm) {
    case "shared memory":
      return (await area(call, group, index)).upDown(c, value, call.kernel, groupPes(call.team, group));
    case "dissemination":
      await dissemination(c, stepOf(l, 1, 0), group, index);
      return null;
    case "recursive doubling":
      return recursiveDoubling(call, stepOf(l, 1, 0), group, index, value);
    case "ring":
      return ring(call, stepOf(l, 1, 0), group, index, value);
    default: {
      const reduced = await binomialUp(call, l, 1, group, index, value);
      return binomialDown(c, stepOf(l, 2, 0), group, index, reduced);
    }
  }
}

/** `acc` combined with `got` from team rank `fromRank`: `got ⊕ acc` when `gotFirst` (it covers lower ranks), else `acc ⊕ got`. */
function combine(call: PlannedCall, acc: unknown, got: unknown, fromRank: number, gotFirst = false): unknown {
  if (call.c.failed || call.kernel === undefined) return acc;
  if (!call.fits(got, fromRank)) return acc;
  return gotFirst
    ? combineValues(call.kernel, got as ReducibleValue, acc as ReducibleValue)
    : combineValues(call.kernel, acc as ReducibleValue, got as ReducibleValue);
}

/** Binomial reduction to index 0, in index order. */
async function binomialUp(call: PlannedCall, l: number, phase: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const c = call.c;
  let acc = value;
  for (let mask = 1, round = 0; mask < group.length; mask <<= 1, round++) {
    const step = stepOf(l, phase, round);
    if ((index & mask) !== 0) {
      c.send(group[index - mask]!, step, acc);
      return undefined;
    }
    const from = index + mask;
    if (from >= group.length) continue;
    const got = await c.receive(group[from]!, step);
    acc = combine(call, acc, got, group[from]!);
  }
  return acc;
}

/** Binomial broadcast from index 0: index r receives from r minus its lowest set bit. */
async function binomialDown(c: Call, step: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const m = group.length;
  let mask = 1;
  if (index !== 0) {
    mask = index & -index;
    value = await c.receive(group[index - mask]!, step);
  } else {
    while (mask < m) mask <<= 1;
  }
  for (mask >>= 1; mask > 0; mask >>= 1) if (index + mask < m) c.send(group[index + mask]!, step, value);
  return value;
}

/** Dissemination barrier: round k, send to index + 2^k, receive from index - 2^k. */
async function dissemination(c: Call, step: number, group: readonly number[], index: number): Promise<void> {
  const m = group.length;
  for (let distance = 1, round = 0; distance < m; distance <<= 1, round++) {
    c.send(group[(index + distance) % m]!, step + round, null);
    await c.receive(group[(index - distance + m) % m]!, step + round);
  }
}

/**
 * Recursive doubling over the largest power of two p ≤ m: the first 2(m - p) indices fold in pairs
 * first (the even one sends to the odd one) and the odd one gives the result back at the end.
 */
async function recursiveDoubling(call: PlannedCall, step: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const c = call.c;
  const m = group.length;
  const p = 2 ** Math.floor(Math.log2(m));
  const extra = m - p;
  let acc = value;
  if (index < 2 * extra) {
    if (index % 2 === 0) {
      c.send(group[index + 1]!, step, acc);
      return c.receive(group[index + 1]!, step + 65_535);
    }
    acc = combine(call, acc, await c.receive(group[index - 1]!, step), group[index - 1]!, true);
  }
  const me = index < 2 * extra ? (index - 1) / 2 : index - extra;
  const indexOf = (k: number): number => (k < extra ? 2 * k + 1 : k + extra);
  for (let mask = 1, round = 1; mask < p; mask <<= 1, round++) {
    const partner = indexOf(me ^ mask);
    c.send(group[partner]!, step + round, acc);
    const got = await c.receive(group[partner]!, step + round);
    // The lower half's values come first.
    acc = combine(call, acc, got, group[partner]!, partner < index);
  }
  if (index < 2 * extra) c.send(group[index - 1]!, step + 65_535, acc);
  return acc;
}

/**
 * Ring allreduce of a typed array: m - 1 rounds of reduce-scatter (block (index - round) goes to
 * the next member, which combines it into its own), then m - 1 rounds of allgather.
 */
async function ring(call: PlannedCall, step: number, group: readonly number[], index: number, value: unknown): Promise<unknown> {
  const c = call.c;
  const m = group.length;
  if (c.failed || typeof value !== "object" || value === null) {
    // Keep to the schedule with the error (or nothing) so that every member ends the call.
    for (let round = 0; round < 2 * (m - 1); round++) {
      c.send(group[(index + 1) % m]!, step + round, null);
      await c.receive(group[(index - 1 + m) % m]!, step + round);
    }
    return value;
  }
  const data = (value as Extract<ReducibleValue, object>).slice();
  const n = data.length;
  const startOf = (block: number): number => Math.floor((block * n) / m);
  const next = group[(index + 1) % m]!;
  const previous = group[(index - 1 + m) % m]!;
  for (let round = 0; round < m - 1; round++) {
    const sendBlock = (index - round + m) % m;
    const receiveBlock = (index - round - 1 + 2 * m) % m;
    c.send(next, step + round, data.subarray(startOf(sendBlock), startOf(sendBlock + 1)));
    const got = await c.receive(previous, step + round);
    if (c.failed || call.kernel === undefined) continue;
    const from = startOf(receiveBlock);
    const mine = data.subarray(from, startOf(receiveBlock + 1));
    if (!ArrayBuffer.isView(got) || (got as typeof mine).length !== mine.length || got.constructor !== mine.constructor) {
      c.fail(`rank ${c.rankOfPe(call.team.worldPe(previous))} sent a block that does not match rank ${c.rank}'s: every rank must pass the same type and length`);
      continue;
    }
    const combined = combineValues(call.kernel, got as typeof mine, mine) as typeof mine;
    data.set(combined as never, from);
  }
  for (let round = 0; round < m - 1; round++) {
    const sendBlock = (index + 1 - round + m) % m;
    const receiveBlock = (index - round + m) % m;
    c.send(next, step + m + round, data.subarray(startOf(sendBlock), startOf(sendBlock + 1)));
    const got = await c.receive(previous, step + m + round);
    if (c.failed) continue;
    data.set(got as never, startOf(receiveBlock));
  }
  return data;
}

/**
 * A scan along `plan`: resolves to the combination of the values of every rank before this one
 * (undefined for rank 0). Below the last level each group's leader gathers its members' subtree
 * totals in order (linear), goes up with their combination, and later sends each member the
 * combination of everything before it; the last level runs a recursive-doubling exclusive scan of
 * its leaders' totals. The plan follows the levels only where the groups are runs of ranks.
 */
export async function scanPlanned(
  c: Call, plan: CollectivePlan, value: ReducibleValue, kernel: ReductionKernel | undefined,
  fits: (got: unknown, fromRank: number) => boolean,
): Promise<ReducibleValue | undefined> {
  const levels = plan.levels;
  const rank = c.rank;
  const combine = (a: ReducibleValue | undefined, b: ReducibleValue): ReducibleValue =>
    (a === undefined || c.failed || kernel === undefined ? (a ?? b) : combineValues(kernel, a, b));
  // Up: where this PE leads, the members' totals in order, and what comes before each of them.
  const led: { level: number; group: readonly number[]; before: (ReducibleValue | undefined)[] }[] = [];
  let total = value;
  let waitFrom: { level: number; leader: number } | undefined;
  for (let l = 0; l < levels.length - 1; l++) {
    const mine = myGroup(levels[l]!, rank);
    if (mine === undefined) break;
    if (mine.index !== 0) {
      c.send(mine.group[0]!, stepOf(l, 0, 0), total);
      waitFrom = { level: l, leader: mine.group[0]! };
      break;
    }
    const before: (ReducibleValue | undefined)[] = [undefined];
    let acc = total;
    for (let k = 1; k < mine.group.length; k++) {
      before.push(acc);
      const got = await c.receive(mine.group[k]!, stepOf(l, 0, 0)) as ReducibleValue;
      if (!c.failed && fits(got, mine.group[k]!)) acc = combineValues(kernel!, acc, got);
    }
    led.push({ level: l, group: mine.group, before });
    total = acc;
  }
  // The last level: an exclusive scan of its members' totals.
  let offset: ReducibleValue | undefined;
  const top = myGroup(levels[levels.length - 1]!, rank);
  if (waitFrom === undefined && top !== undefined) {
    const group = top.group;
    const step = stepOf(levels.length - 1, 1, 0);
    let partial = total;
    for (let mask = 1, round = 0; mask < group.length; mask <<= 1, round++) {
      const partner = top.index ^ mask;
      if (partner >= group.length) continue;
      c.send(group[partner]!, step + round, partial);
      const got = await c.receive(group[partner]!, step + round) as ReducibleValue;
      if (c.failed || !fits(got, group[partner]!)) continue;
      if (partner < top.index) {
        // `got` covers ranks before this one's: it comes first.
        partial = combineValues(kernel!, got, partial);
        offset = offset === undefined ? got : combineValues(kernel!, got, offset);
      } else {
        partial = combineValues(kernel!, partial, got);
      }
    }
  } else if (waitFrom !== undefined) {
    const got = await c.receive(waitFrom.leader, stepOf(waitFrom.level, 2, 0));
    offset = got === null || got === undefined ? undefined : got as ReducibleValue;
  }
  // Down: each member led gets what comes before it.
  for (let k = led.length - 1; k >= 0; k--) {
    const { level, group, before } = led[k]!;
    for (let m = 1; m < group.length; m++) c.send(group[m]!, stepOf(level, 2, 0), combine(offset, before[m]!));
  }
  return offset;
}
