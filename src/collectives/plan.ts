/**
 * How a collective runs on a team: its levels, the groups of each level, the algorithm each
 * level uses, and what that costs. `team.explain(op, bytes)` prints it.
 *
 * **Levels** (ParaStation MPI's MSA-aware collectives, with shoal's process level first), chosen
 * by `SHOAL_HIER`:
 *
 * | SHOAL_HIER | levels |
 * |---|---|
 * | 0 | one flat level: every member, messages between every pair (even inside a process) |
 * | 1 | the members of each process (shared memory), then the process leaders of each module, then the module leaders |
 * | 2 | the members of each process (shared memory), then the process leaders of each node, then the node leaders of each module, then the module leaders |
 *
 * A group's leader is its member of lowest rank, so team rank 0 leads every group it is in.
 * Levels whose groups all have one member are left out. Every level but the last reduces to its
 * leaders on the way up and broadcasts from them on the way down; the last level has one group,
 * which runs the operation itself (an allreduce runs an allreduce there).
 *
 * **Algorithms** of a level of messages, for a group of m members and b bytes, with the
 * alpha-beta model (α: the cost of a message, β: the cost of a byte, by the slowest link of the
 * level: see {@link kLinks}):
 *
 * | algorithm | for | time | messages |
 * |---|---|---|---|
 * | binomial tree | reduce, broadcast, barrier's arrival and release | ⌈log2 m⌉ (α + bβ) | m - 1 |
 * | recursive doubling | allreduce | (log2 p + 2 if m is no power of 2) (α + bβ), p the largest power of 2 ≤ m | p log2 p + 2(m - p) |
 * | reduce + broadcast | allreduce | 2 ⌈log2 m⌉ (α + bβ) | 2 (m - 1) |
 * | ring (reduce-scatter + allgather) | allreduce of more than 8 bytes among more than 2 members | 2 (m - 1) (α + bβ / m) | 2 m (m - 1) |
 * | dissemination | barrier | ⌈log2 m⌉ α | m ⌈log2 m⌉ |
 * | linear | scan, exscan below the last level: the members' values to the leader, their offsets back | 2 (m - 1) (α + bβ) | 2 (m - 1) |
 * | recursive doubling (scan) | scan, exscan on the last level (partner index XOR 2^k) | ⌈log2 m⌉ (α + bβ) | about m log2 m |
 *
 * A scan follows the levels only where every group is a run of consecutive ranks (so that the
 * groups' totals combine in rank order); otherwise it is one flat level.
 *
 * The cheapest wins; a tie goes to fewer messages. The process level costs the leader one
 * read of each member's slot: α_shm + m b β_shm.
 *
 * @module
 */
import type { Algorithm, CollectivePlan, LevelPlan, LinkKind, PlannedOp, Topology } from "../team/index.js";

/**
 * The alpha-beta constants of each kind of link: α in µs per message, β in µs per byte. Measured
 * orders of magnitude on a 2-core VM (shoal's own round trips), not a calibration of each machine.
 */
export const kLinks: Readonly<Record<LinkKind, { alpha: number; beta: number }>> = {
  shm: { alpha: 0.5, beta: 0.0001 },
  am: { alpha: 2, beta: 0.0003 },
  ipc: { alpha: 50, beta: 0.001 },
  tcp: { alpha: 60, beta: 0.001 },
  gw: { alpha: 100, beta: 0.002 },
};

/** The members of the team a plan is made for. */
export interface PlanTeam {
  readonly name: string;
  readonly size: number;
  worldPe(rank: number): number;
  readonly topology: Topology;
}

/**
 * The plan of `op` on `team` for `bytes` bytes at awareness `hier`. `shm` says whether the value
 * can go through shared memory (a number, bigint or typed array of at most the slot size).
 */
export function makePlan(team: PlanTeam, op: PlannedOp, bytes: number, hier: 0 | 1 | 2, shm: boolean, gwMtu: number): CollectivePlan {
  const topology = team.topology;
  const all = Array.from({ length: team.size }, (_, r) => r);
  const levels: LevelPlan[] = [];
  // A node's group never spans modules: where one host runs processes of several modules (an
  // emulated modular machine), its node level is cut by module.
  const keys: { name: LevelPlan["name"]; key: (pe: number) => string | number }[] = hier === 0
    ? []
    : [
      { name: "process", key: (pe) => topology.processOf(pe) },
      ...(hier === 2 ? [{ name: "node" as const, key: (pe: number) => `${topology.moduleOf(pe)}/${topology.nodeOf(pe)}` }] : []),
      { name: "module", key: (pe) => topology.moduleOf(pe) },
    ];
  let participants = all;
  const structure: { name: LevelPlan["name"]; groups: number[][] }[] = [];
  for (const { name, key } of keys) {
    const byKey = new Map<string | number, number[]>();
    for (const rank of participants) {
      const k = key(team.worldPe(rank));
      let group = byKey.get(k);
      if (group === undefined) byKey.set(k, (group = []));
      group.push(rank);
    }
    const groups = [...byKey.values()].sort((a, b) => a[0]! - b[0]!);
    if (groups.some((g) => g.length > 1)) structure.push({ name, groups });
    participants = groups.map((g) => g[0]!);
  }
  if (participants.length > 1 || structure.length === 0) structure.push({ name: hier === 0 ? "flat" : "modules", groups: [participants] });
  // A scan combines groups in order: only groups whose members' subtrees are consecutive runs of
  // ranks keep rank order.
  if (op === "scan" && !keepsOrder(structure.map((level) => level.groups))) {
    structure.length = 0;
    structure.push({ name: "flat", groups: [all] });
  }

  for (let index = 0; index < structure.length; index++) {
    const { name, groups } = structure[index]!;
    const last = index === structure.length - 1;
    const viaShm = name === "process" && shm && op !== "scan";
    const link = viaShm ? "shm" : slowestLink(team, groups);
    const algorithm = viaShm ? "shared memory" : chooseAlgorithm(op, last, groups, bytes, link);
    let messages = 0;
    let crossModule = 0;
    let micros = 0;
    // A message across modules larger than SHOAL_GW_MTU travels as this many chunks (the ring's blocks are smaller).
    const piece = algorithm === "ring" ? Math.ceil(bytes / groups[0]!.length) : bytes;
    const chunks = op === "barrier" || piece <= gwMtu ? 1 : Math.ceil(piece / gwMtu);
    for (const group of groups) {
      if (group.length < 2) continue;
      const pairs = viaShm ? [] : messagesOf(algorithm, op, last, group.length);
      for (const [from, to] of pairs) {
        const across = topology.moduleOf(team.worldPe(group[from]!)) !== topology.moduleOf(team.worldPe(group[to]!));
        messages += across ? chunks : 1;
        if (across) crossModule += chunks;
      }
      micros = Math.max(micros, costOf(algorithm, op, last, group.length, bytes, link));
    }
    levels.push({ name, groups, last, link, algorithm, messages, crossModule, micros });
  }
  const messages = levels.reduce((n, l) => n + l.messages, 0);
  const crossModule = levels.reduce((n, l) => n + l.crossModule, 0);
  return { op, bytes, hier, team: team.name, levels, messages, crossModule, micros: levels.reduce((t, l) => t + l.micros, 0) };
}

/** Whether, level by level, each group's members lead runs of ranks that follow each other in order. */
function keepsOrder(levels: readonly (readonly (readonly number[])[])[]): boolean {
  // The last rank of the run each participant leads so far (a rank alone leads itself).
  const runEnd = new Map<number, number>();
  for (const groups of levels) {
    for (const group of groups) {
      let end = runEnd.get(group[0]!) ?? group[0]!;
      for (let k = 1; k < group.length; k++) {
        if (group[k] !== end + 1) return false;
        end = runEnd.get(group[k]!) ?? group[k]!;
      }
      runEnd.set(group[0]!, end);
    }
  }
  return true;
}

/** The plan of a broadcast or reduce from or to `root`: one more message between rank 0 and the root when it is not 0. */
export function withRoot(plan: CollectivePlan, team: PlanTeam, root: number, gwMtu: number): CollectivePlan {
  if (root === 0) return plan;
  const chunks = plan.bytes <= gwMtu ? 1 : Math.ceil(plan.bytes / gwMtu);
  const cross = team.topology.moduleOf(team.worldPe(0)) !== team.topology.moduleOf(team.worldPe(root)) ? chunks : 0;
  return { ...plan, messages: plan.messages + (cross || 1), crossModule: plan.crossModule + cross };
}

/** The slowest link between members of any group of a level. */
function slowestLink(team: PlanTeam, groups: readonly (readonly number[])[]): LinkKind {
  const t = team.topology;
  let worst: LinkKind = "am";
  const rank: Record<LinkKind, number> = { shm: 0, am: 1, ipc: 2, tcp: 3, gw: 4 };
  for (const group of groups) {
    const first = team.worldPe(group[0]!);
    for (const r of group) {
      const pe = team.worldPe(r);
      const link: LinkKind = t.moduleOf(pe) !== t.moduleOf(first) ? "gw"
        : t.nodeOf(pe) !== t.nodeOf(first) ? "tcp"
          : t.processOf(pe) !== t.processOf(first) ? "ipc" : "am";
      if (rank[link] > rank[worst]) worst = link;
    }
  }
  return worst;
}

const log2ceil = (m: number): number => Math.ceil(Math.log2(m));
const largestPowerOf2 = (m: number): number => 2 ** Math.floor(Math.log2(m));

function costOf(algorithm: Algorithm, op: PlannedOp, last: boolean, m: number, bytes: number, link: LinkKind): number {
  const { alpha, beta } = kLinks[link];
  const hop = alpha + bytes * beta;
  // A level that is not the last runs twice (up and down), except for a reduce and a broadcast, which go one way.
  const both = !last && (op === "allreduce" || op === "barrier") ? 2 : 1;
  switch (algorithm) {
    case "shared memory": return both * (alpha + m * bytes * beta);
    case "binomial tree": return both * log2ceil(m) * hop;
    case "recursive doubling":
      if (op === "scan") return log2ceil(m) * hop;
      return (Math.log2(largestPowerOf2(m)) + (largestPowerOf2(m) === m ? 0 : 2)) * hop;
    case "linear": return 2 * (m - 1) * hop;
    case "reduce + broadcast": return 2 * log2ceil(m) * hop;
    case "ring": return 2 * (m - 1) * (alpha + (bytes / m) * beta);
    case "dissemination": return log2ceil(m) * alpha;
  }
}

function chooseAlgorithm(op: PlannedOp, last: boolean, groups: readonly (readonly number[])[], bytes: number, link: LinkKind): Algorithm {
  if (op === "scan") return last ? "recursive doubling" : "linear";
  if (!last || op === "reduce" || op === "broadcast") return "binomial tree";
  if (op === "barrier") return "dissemination";
  const m = groups[0]!.length;
  const candidates: Algorithm[] = ["recursive doubling", "reduce + broadcast"];
  // Scalars (8 bytes) have no blocks to pass around the ring.
  if (m > 2 && bytes > 8) candidates.push("ring");
  let best = candidates[0]!;
  for (const candidate of candidates.slice(1)) {
    const a = costOf(candidate, op, last, m, bytes, link);
    const b = costOf(best, op, last, m, bytes, link);
    if (a < b || (a === b && messagesOf(candidate, op, last, m).length < messagesOf(best, op, last, m).length)) best = candidate;
  }
  return best;
}

/**
 * The messages `algorithm` sends in a group of `m` (group indices, leader 0), as [from, to]
 * pairs: the same schedule the algorithms in algorithms.ts run.
 */
export function messagesOf(algorithm: Algorithm, op: PlannedOp, last: boolean, m: number): [number, number][] {
  const pairs: [number, number][] = [];
  const binomialUp = (): void => {
    for (let mask = 1; mask < m; mask <<= 1) for (let r = mask; r < m; r += 2 * mask) pairs.push([r, r - mask]);
  };
  const binomialDown = (): void => {
    for (let r = 1; r < m; r++) pairs.push([r - (r & -r), r]);
  };
  switch (algorithm) {
    case "shared memory":
      return pairs;
    case "binomial tree":
      if (op === "broadcast") binomialDown();
      else if (op === "reduce") binomialUp();
      else {
        // Not the last level of an allreduce or barrier: up, then down.
        binomialUp();
        if (!last) binomialDown();
      }
      return pairs;
    case "reduce + broadcast":
      binomialUp();
      binomialDown();
      return pairs;
    case "linear":
      for (let r = 1; r < m; r++) pairs.push([r, 0]);
      for (let r = 1; r < m; r++) pairs.push([0, r]);
      return pairs;
    case "recursive doubling": {
      if (op === "scan") {
        for (let mask = 1; mask < m; mask <<= 1) for (let r = 0; r < m; r++) if ((r ^ mask) < m) pairs.push([r, r ^ mask]);
        return pairs;
      }
      const p = largestPowerOf2(m);
      const extra = m - p;
      // Ranks below 2·extra fold in pairs first: the even one sends to the odd one, which goes on.
      for (let r = 0; r < 2 * extra; r += 2) pairs.push([r, r + 1]);
      const active = Array.from({ length: p }, (_, k) => (k < extra ? 2 * k + 1 : k + extra));
      for (let mask = 1; mask < p; mask <<= 1) for (let k = 0; k < p; k++) pairs.push([active[k]!, active[k ^ mask]!]);
      for (let r = 0; r < 2 * extra; r += 2) pairs.push([r + 1, r]);
      return pairs;
    }
    case "ring":
      for (let round = 0; round < 2 * (m - 1); round++) for (let r = 0; r < m; r++) pairs.push([r, (r + 1) % m]);
      return pairs;
    case "dissemination":
      for (let distance = 1; distance < m; distance <<= 1) for (let r = 0; r < m; r++) pairs.push([r, (r + distance) % m]);
      return pairs;
  }
}

/**
 * The plan as text: one line per level with its groups, link, algorithm, messages and estimated
 * time, then the totals.
 */
export function explainPlan(plan: CollectivePlan): string {
  const lines = [`${plan.op} of ${plan.bytes} bytes on ${plan.team}, SHOAL_HIER=${plan.hier}:`];
  for (const [k, level] of plan.levels.entries()) {
    const sizes = [...new Set(level.groups.map((g) => g.length))].join("/");
    const role = level.last ? plan.op : plan.op === "broadcast" ? "broadcast down" : plan.op === "reduce" ? "reduce up" : plan.op === "scan" ? "totals up, offsets down" : "up and down";
    lines.push(
      `  level ${k + 1} ${level.name.padEnd(8)} ${String(level.groups.length).padStart(3)} group${level.groups.length === 1 ? " " : "s"} of ${sizes.padEnd(5)} ` +
      `${level.link.padEnd(3)} ${level.algorithm.padEnd(18)} ${role.padEnd(14)} ${String(level.messages).padStart(5)} messages ` +
      `(${level.crossModule} across modules)  ~${level.micros.toFixed(1)} µs`,
    );
  }
  lines.push(`  total: ${plan.messages} messages, ${plan.crossModule} across modules, ~${plan.micros.toFixed(1)} µs`);
  return lines.join("\n");
}
