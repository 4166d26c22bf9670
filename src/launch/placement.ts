/**
 * Where a launcher placed this process: its rank among the job's processes, the job's size, its
 * rank among the processes on its node, how many share the node, and which node it is. Read from
 * the variables the launchers set, which `config/` hands over (`readLauncherEnv`): this file
 * never reads `process.env`, so every case is a plain table in the tests.
 *
 * | launcher | rank | size | local rank | local size | node | node name |
 * |---|---|---|---|---|---|---|
 * | `shoal` (by hand) | `SHOAL_RANK` | `SHOAL_SIZE` | `SHOAL_LOCAL_RANK` (rank) | `SHOAL_LOCAL_SIZE` (size) | `SHOAL_NODE` | — |
 * | `mpirun` (Open MPI) | `OMPI_COMM_WORLD_RANK` | `OMPI_COMM_WORLD_SIZE` | `OMPI_COMM_WORLD_LOCAL_RANK` | `OMPI_COMM_WORLD_LOCAL_SIZE` | — | `PMIX_HOSTNAME` |
 * | `pmix` (`srun --mpi=pmix`) | `PMIX_RANK` | from srun | from srun | from srun | from srun | `PMIX_HOSTNAME` |
 * | `pmi` (MPICH's Hydra, Intel MPI, Cray PALS, `srun --mpi=pmi2`) | `PMI_RANK` | `PMI_SIZE` | `MPI_LOCALRANKID` or `PMI_LOCAL_RANK`, else from srun | `MPI_LOCALNRANKS` or `PMI_LOCAL_SIZE`, else from srun | from srun | — |
 * | `srun` (Slurm) | `SLURM_PROCID` | `SLURM_STEP_NUM_TASKS` or `SLURM_NTASKS` | `SLURM_LOCALID` | entry `SLURM_NODEID` of `SLURM_STEP_TASKS_PER_NODE` or `SLURM_TASKS_PER_NODE` | `SLURM_NODEID` | `SLURMD_NODENAME` |
 *
 * Open MPI also sets `OMPI_UNIVERSE_SIZE` (the slots mpirun was given; smaller than the size when
 * oversubscribed), reported as `universeSize`. `OMPI_COMM_WORLD_NODE_RANK` is not a node index
 * (it is the process's rank on its node counted over every job mpirun started there) and is not
 * used; Open MPI gives no node index, and PMIx gives the size only through its library, not in
 * the environment. When a launcher gives no node index but the local size equals the size, every
 * process is on one node: node 0.
 *
 * **Precedence.** Launchers nest, and a process inherits the variables of every launcher above
 * it: `mpirun` inside an `sbatch` script or an `srun` step sees Slurm's variables of the
 * allocation (all saying rank 0) beside its own. The launcher that started this process is the
 * innermost one, so the more specific variables win: `SHOAL_*` (set by hand, or by a shoal
 * launcher inside any of the others) over Open MPI's own `OMPI_COMM_WORLD_*` over `PMIX_RANK`
 * (which Open MPI sets too, without a size) over `PMI_*` (Hydra's `mpiexec` inside an allocation)
 * over Slurm's, which come last because they describe the allocation as much as the step. A
 * launcher counts as present when its rank variable is set; Slurm's only with `SLURM_STEP_ID` too,
 * because an `sbatch` script or an `salloc` shell has `SLURM_PROCID=0` and `SLURM_NTASKS` of the
 * whole allocation without being a task of a step: a program run there without `srun` is one
 * process.
 *
 * **Filling in.** `srun --mpi=pmix` and `srun --mpi=pmi2` start the processes themselves and set
 * Slurm's variables beside the PMI ones, which lack the size (PMIx) or the local rank and size
 * (PMI-2). Those fields are taken from Slurm's variables when they describe the same process:
 * the same rank (and size, where both give one), and for PMIx a namespace that Slurm named
 * (`slurm.pmix.JOB.STEP`).
 *
 * Every value is checked: integers, `rank < size`, `localRank < localSize <= size`, a node within
 * Slurm's per-node list; a wrong one is a `ConfigError` that names the variable and the fix.
 *
 * @module
 */
import type { LauncherEnv } from "../config/index.js";
import { ConfigError } from "../errors.js";

/** Who placed the process: a launcher, `shoal` (the `SHOAL_RANK` variables), or `none` (alone). */
export type Launcher = "shoal" | "mpirun" | "pmix" | "pmi" | "srun" | "none";

/** The fields of a {@link Placement} that come from variables. */
export type PlacementField = "rank" | "size" | "localRank" | "localSize" | "node" | "nodeName" | "universeSize";

/**
 * Where a launcher placed this process.
 *
 * @example
 * ```ts
 * readPlacement({ OMPI_COMM_WORLD_RANK: "1", OMPI_COMM_WORLD_SIZE: "2", OMPI_COMM_WORLD_LOCAL_RANK: "1", OMPI_COMM_WORLD_LOCAL_SIZE: "2" });
 * // { launcher: "mpirun", rank: 1, size: 2, localRank: 1, localSize: 2, node: 0, variables: { rank: "OMPI_COMM_WORLD_RANK", ... } }
 * ```
 */
export interface Placement {
  /** Who placed the process. */
  readonly launcher: Launcher;
  /** This process's rank among the job's processes, in `0..size-1`. */
  readonly rank: number;
  /** The number of processes of the job. */
  readonly size: number;
  /** This process's rank among the job's processes on its node, in `0..localSize-1`. */
  readonly localRank: number;
  /** The number of the job's processes on this process's node. */
  readonly localSize: number;
  /** The index of this process's node among the job's nodes, when the launcher says (or all share one). */
  readonly node?: number;
  /** The name of this process's node, when the launcher says. */
  readonly nodeName?: string;
  /** The number of slots the launcher was given (Open MPI's `OMPI_UNIVERSE_SIZE`), when it says. */
  readonly universeSize?: number;
  /** The variable each field was read from, for messages and `shoal exec --placement`. */
  readonly variables: Readonly<Partial<Record<PlacementField, string>>>;
}

/** A placement whose fields may still be missing, while it is read. */
type Found = { -readonly [F in Exclude<keyof Placement, "launcher" | "variables">]?: Placement[F] | undefined };

/** A launcher's rank variable, whose presence selects it, and what to tell a user about its variables. */
interface LauncherSpec {
  readonly rank: string;
  readonly fix: string;
}

/** The launchers in order of precedence (see the module comment for why). */
const kLaunchers = {
  shoal: {
    rank: "SHOAL_RANK",
    fix: "the SHOAL_RANK, SHOAL_SIZE, SHOAL_LOCAL_RANK, SHOAL_LOCAL_SIZE and SHOAL_NODE variables place a process by hand and win over any launcher's: correct it, or unset them all to use the launcher's placement",
  },
  mpirun: {
    rank: "OMPI_COMM_WORLD_RANK",
    fix: "Open MPI's mpirun sets the OMPI_COMM_WORLD_* variables: start shoal exec directly under mpirun without changing them, or unset them (env -u) if they leaked from another job's environment",
  },
  pmix: {
    rank: "PMIX_RANK",
    fix: "a PMIx launcher (mpirun, srun --mpi=pmix) sets the PMIX_* variables: start shoal exec directly under the launcher, or unset them if they leaked from another job's environment",
  },
  pmi: {
    rank: "PMI_RANK",
    fix: "a PMI launcher (MPICH's or Intel MPI's mpiexec, srun --mpi=pmi2) sets the PMI_* and MPI_LOCAL* variables: start shoal exec directly under the launcher, or unset them if they leaked from another job's environment",
  },
  srun: {
    rank: "SLURM_PROCID",
    fix: "Slurm's srun sets the SLURM_* variables: start shoal exec directly under srun, or unset them if they leaked from another job's environment",
  },
} as const satisfies Record<Exclude<Launcher, "none">, LauncherSpec>;

const kPrecedence = ["shoal", "mpirun", "pmix", "pmi", "srun"] as const;

/** The placement of a process that no launcher started: alone. */
const kAlone: Placement = { launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1, node: 0, variables: {} };

/**
 * Reads where a launcher placed this process from its variables (see the module comment for each
 * launcher's variables and their precedence). With none of them set, the process is alone: rank
 * 0 of 1, launcher `none`.
 *
 * @param env the launcher variables, as `readLauncherEnv()` of `config/` returns them (or any
 *   object of strings, in tests)
 * @throws ConfigError naming the variable when one is not an integer, is out of range, or is
 *   missing beside the others of its launcher
 *
 * @example
 * ```ts
 * import { readLauncherEnv } from "../config/index.js";
 * const placement = readPlacement(readLauncherEnv());
 * if (placement.size > 1) console.log(`process ${placement.rank} of ${placement.size}`);
 * ```
 */
export function readPlacement(env: LauncherEnv): Placement {
  const launcher = kPrecedence.find((name) => isPresent(env, name));
  if (launcher === undefined) {
    const stray = ["SHOAL_SIZE", "SHOAL_LOCAL_RANK", "SHOAL_LOCAL_SIZE", "SHOAL_NODE"].find((name) => isSet(env, name));
    if (stray !== undefined) {
      throw new ConfigError(`${stray} is set but SHOAL_RANK is not: set SHOAL_RANK and SHOAL_SIZE together to place this process by hand, or unset ${stray}`);
    }
    return { ...kAlone, variables: {} };
  }
  const reader = new VariableReader(env, kLaunchers[launcher].fix);
  const found = kReaders[launcher](reader);
  if (launcher === "pmix" || launcher === "pmi") fillFromSrun(env, launcher, found, reader);
  return check(launcher, found, reader);
}

/** Whether `name` is set to something (an empty variable counts as unset, as in the `SHOAL_*` settings). */
function isSet(env: LauncherEnv, name: string): boolean {
  const value = env[name];
  return value !== undefined && value !== "";
}

/** Whether `launcher` placed this process: its rank variable is set (and, for srun, a step's id). */
function isPresent(env: LauncherEnv, launcher: keyof typeof kLaunchers): boolean {
  if (!isSet(env, kLaunchers[launcher].rank)) return false;
  // A batch script or an salloc shell has SLURM_PROCID without being a task of a step.
  return launcher !== "srun" || isSet(env, "SLURM_STEP_ID") || isSet(env, "SLURM_STEPID");
}

/** Reads and checks variables, and records which variable each field came from. */
class VariableReader {
  readonly variables: Partial<Record<PlacementField, string>> = {};
  /** How to name a field's value in messages, where `VARIABLE=value` would mislead. */
  readonly descriptions: Partial<Record<PlacementField, string>> = {};

  constructor(
    readonly env: LauncherEnv,
    /** What to tell the user about the chosen launcher's variables. */
    readonly fix: string,
  ) {}

  has(name: string): boolean {
    return isSet(this.env, name);
  }

  /** The variable `name` as an integer of at least `min`, recorded as the source of `field`; undefined when unset. */
  integer(field: PlacementField, name: string, min: number): number | undefined {
    const raw = this.env[name];
    if (raw === undefined || raw === "") return undefined;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min) {
      throw new ConfigError(`${name}: expected an integer of at least ${min}, got ${JSON.stringify(raw)}; ${this.fix}`);
    }
    this.variables[field] = name;
    return value;
  }

  /** The first of `names` that is set, as an integer (see {@link integer}). */
  firstInteger(field: PlacementField, names: readonly string[], min: number): number | undefined {
    const name = names.find((candidate) => this.has(candidate));
    return name === undefined ? undefined : this.integer(field, name, min);
  }

  text(field: PlacementField, name: string): string | undefined {
    if (!this.has(name)) return undefined;
    this.variables[field] = name;
    return this.env[name];
  }

  /** A field's value as a message names it: `OMPI_COMM_WORLD_SIZE=3`. */
  describe(field: PlacementField, value: number): string {
    return this.descriptions[field] ?? `${this.variables[field] ?? field}=${value}`;
  }

  /** A ConfigError naming `name`, for a value that does not fit with the others. */
  error(name: string, expected: string, got: string): ConfigError {
    return new ConfigError(`${name}: expected ${expected}, got ${got}; ${this.fix}`);
  }
}

/** Each launcher's own variables. */
const kReaders: Record<keyof typeof kLaunchers, (reader: VariableReader) => Found> = {
  shoal(reader) {
    const byHand: Found = {
      rank: reader.integer("rank", "SHOAL_RANK", 0),
      size: reader.integer("size", "SHOAL_SIZE", 1),
      localRank: reader.integer("localRank", "SHOAL_LOCAL_RANK", 0),
      localSize: reader.integer("localSize", "SHOAL_LOCAL_SIZE", 1),
      node: reader.integer("node", "SHOAL_NODE", 0),
    };
    if (byHand.size === undefined) {
      throw new ConfigError(`SHOAL_SIZE: expected the number of processes of the job beside SHOAL_RANK=${byHand.rank}, got nothing; set both to place this process by hand, or unset SHOAL_RANK`);
    }
    if ((byHand.localRank === undefined) !== (byHand.localSize === undefined)) {
      const [given, missing] = byHand.localRank === undefined ? ["SHOAL_LOCAL_SIZE", "SHOAL_LOCAL_RANK"] : ["SHOAL_LOCAL_RANK", "SHOAL_LOCAL_SIZE"];
      throw new ConfigError(`${missing}: expected it beside ${given}, got nothing; set both, or neither when every process of the job runs on this node`);
    }
    if (byHand.localRank === undefined) {
      // Without local variables, the job is on one node (shoal run --procs, or a test).
      byHand.localRank = byHand.rank;
      byHand.localSize = byHand.size;
      reader.variables.localRank = "SHOAL_RANK";
      reader.variables.localSize = "SHOAL_SIZE";
      reader.descriptions.localSize = `${byHand.size}, since SHOAL_LOCAL_SIZE is unset (every process on this node)`;
    }
    return byHand;
  },
  mpirun(reader) {
    return {
      rank: reader.integer("rank", "OMPI_COMM_WORLD_RANK", 0),
      size: reader.integer("size", "OMPI_COMM_WORLD_SIZE", 1),
      localRank: reader.integer("localRank", "OMPI_COMM_WORLD_LOCAL_RANK", 0),
      localSize: reader.integer("localSize", "OMPI_COMM_WORLD_LOCAL_SIZE", 1),
      nodeName: reader.text("nodeName", "PMIX_HOSTNAME"),
      universeSize: reader.integer("universeSize", "OMPI_UNIVERSE_SIZE", 1),
    };
  },
  pmix(reader) {
    return {
      rank: reader.integer("rank", "PMIX_RANK", 0),
      nodeName: reader.text("nodeName", "PMIX_HOSTNAME"),
    };
  },
  pmi(reader) {
    return {
      rank: reader.integer("rank", "PMI_RANK", 0),
      size: reader.integer("size", "PMI_SIZE", 1),
      // MPICH's Hydra and Intel MPI set MPI_LOCAL*, Cray's PALS sets PMI_LOCAL_*.
      localRank: reader.firstInteger("localRank", ["MPI_LOCALRANKID", "PMI_LOCAL_RANK"], 0),
      localSize: reader.firstInteger("localSize", ["MPI_LOCALNRANKS", "PMI_LOCAL_SIZE"], 1),
    };
  },
  srun: readSrun,
};

/**
 * Slurm's variables of a task of a step. The step's own (`SLURM_STEP_*`) come first: with
 * `srun --preserve-env`, `SLURM_NTASKS` and `SLURM_TASKS_PER_NODE` stay those of the allocation.
 */
function readSrun(reader: VariableReader): Found {
  const found: Found = {
    rank: reader.integer("rank", "SLURM_PROCID", 0),
    size: reader.firstInteger("size", ["SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"], 1),
    localRank: reader.integer("localRank", "SLURM_LOCALID", 0),
    node: reader.integer("node", "SLURM_NODEID", 0),
    nodeName: reader.text("nodeName", "SLURMD_NODENAME"),
  };
  const countsName = ["SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"].find((name) => reader.has(name));
  if (countsName === undefined) return found;
  const text = reader.env[countsName]!;
  const runs = parseSlurmCounts(text);
  if (runs === undefined) {
    throw reader.error(countsName, `Slurm's tasks per node, such as "2(x3),1" (2 tasks on each of 3 nodes, then 1)`, JSON.stringify(text));
  }
  const nodes = runs.reduce((sum, run) => sum + run.times, 0);
  if (countsName === "SLURM_STEP_TASKS_PER_NODE" && found.size !== undefined) {
    const tasks = runs.reduce((sum, run) => sum + run.count * run.times, 0);
    if (tasks !== found.size) {
      throw reader.error(countsName, `per-node counts that add up to ${reader.variables.size}=${found.size}`, `${JSON.stringify(text)} (${tasks} tasks)`);
    }
  }
  if (found.node === undefined && nodes !== 1) {
    throw reader.error("SLURM_NODEID", `this node's index into ${countsName}=${JSON.stringify(text)}`, "nothing");
  }
  const node = found.node ?? 0;
  const localSize = slurmCountAt(runs, node);
  if (localSize === undefined) {
    throw reader.error("SLURM_NODEID", `a node index in 0..${nodes - 1} (${countsName}=${JSON.stringify(text)} lists ${nodes} nodes)`, String(node));
  }
  reader.variables.localSize = countsName;
  reader.descriptions.localSize = `${localSize}, node ${node}'s entry of ${countsName}=${JSON.stringify(text)}`;
  return { ...found, localSize };
}

/**
 * `srun --mpi=pmix` and `srun --mpi=pmi2` set Slurm's variables beside their own: the fields that
 * PMIx or PMI-2 leave out come from Slurm's when those describe the same process.
 */
function fillFromSrun(env: LauncherEnv, launcher: "pmix" | "pmi", found: Found, reader: VariableReader): void {
  const complete = found.size !== undefined && found.localRank !== undefined && found.localSize !== undefined && found.node !== undefined;
  if (complete || !isPresent(env, "srun")) return;
  if (launcher === "pmix" && !(env["PMIX_NAMESPACE"] ?? "").startsWith("slurm.pmix.")) return;
  const slurm = new VariableReader(env, kLaunchers.srun.fix);
  const fromSlurm = readSrun(slurm);
  if (fromSlurm.rank !== found.rank) return;
  if (found.size !== undefined && fromSlurm.size !== found.size) return;
  for (const field of ["size", "localRank", "localSize", "node"] as const) {
    if (found[field] === undefined && fromSlurm[field] !== undefined) {
      found[field] = fromSlurm[field];
      reader.variables[field] = slurm.variables[field]!;
      if (slurm.descriptions[field] !== undefined) reader.descriptions[field] = slurm.descriptions[field];
    }
  }
}

/** Requires the four numbers, checks that they fit together, and derives the node of a one-node job. */
function check(launcher: keyof typeof kLaunchers, found: Found, reader: VariableReader): Placement {
  const { rank, size, localRank, localSize } = found;
  const missing = (what: string, variables: string): ConfigError =>
    new ConfigError(`${kLaunchers[launcher].rank} is set, so ${launcher} placed this process, but ${what} is missing: expected ${variables}; ${reader.fix}`);
  if (rank === undefined) throw missing("the rank", kLaunchers[launcher].rank);
  if (size === undefined) throw missing("the number of processes", kMissingSize[launcher]);
  if (localRank === undefined || localSize === undefined) throw missing("the process's place on its node", kMissingLocal[launcher]);
  const variable = (field: PlacementField): string => reader.variables[field] ?? field;
  if (rank >= size) {
    throw reader.error(variable("rank"), `a rank in 0..${size - 1} (size: ${reader.describe("size", size)})`, String(rank));
  }
  if (localSize > size) {
    throw reader.error(variable("localSize"), `at most ${size} processes on one node (size: ${reader.describe("size", size)})`, String(localSize));
  }
  if (localRank >= localSize) {
    throw reader.error(variable("localRank"), `a local rank in 0..${localSize - 1} (local size: ${reader.describe("localSize", localSize)})`, String(localRank));
  }
  let node = found.node;
  if (localSize === size) {
    // Every process of the job is on this node, so there is one node.
    if (node !== undefined && node !== 0) {
      throw reader.error(variable("node"), `0, the only node, since all ${size} processes are on this one (local size: ${reader.describe("localSize", localSize)})`, String(node));
    }
    node = 0;
  }
  return {
    launcher,
    rank,
    size,
    localRank,
    localSize,
    ...(node === undefined ? {} : { node }),
    ...(found.nodeName === undefined ? {} : { nodeName: found.nodeName }),
    ...(found.universeSize === undefined ? {} : { universeSize: found.universeSize }),
    variables: { ...reader.variables },
  };
}

/** The variables that give the size, for the message when none did. */
const kMissingSize: Record<keyof typeof kLaunchers, string> = {
  shoal: "SHOAL_SIZE",
  mpirun: "OMPI_COMM_WORLD_SIZE",
  pmix: "the size from srun (SLURM_STEP_NUM_TASKS under srun --mpi=pmix) or from mpirun (OMPI_COMM_WORLD_SIZE), because PMIx gives it only through its library",
  pmi: "PMI_SIZE",
  srun: "SLURM_STEP_NUM_TASKS or SLURM_NTASKS",
};

/** The variables that give the local rank and size, for the message when they did not. */
const kMissingLocal: Record<keyof typeof kLaunchers, string> = {
  shoal: "SHOAL_LOCAL_RANK and SHOAL_LOCAL_SIZE",
  mpirun: "OMPI_COMM_WORLD_LOCAL_RANK and OMPI_COMM_WORLD_LOCAL_SIZE",
  pmix: "srun's SLURM_LOCALID and SLURM_STEP_TASKS_PER_NODE",
  pmi: "MPI_LOCALRANKID and MPI_LOCALNRANKS (Hydra), PMI_LOCAL_RANK and PMI_LOCAL_SIZE (PALS), or srun's SLURM_LOCALID and SLURM_STEP_TASKS_PER_NODE",
  srun: "SLURM_LOCALID and SLURM_STEP_TASKS_PER_NODE (or SLURM_TASKS_PER_NODE)",
};

/**
 * What names this process's node, for the job's topology: processes with the same key share a
 * node. The launcher's node index when it gives one (`SLURM_NODEID`, `SHOAL_NODE`, or node 0 when
 * every process is on this one), else the node's name as the launcher gives it (`PMIX_HOSTNAME`,
 * `SLURMD_NODENAME`), else `hostName` (the caller passes `os.hostname()`).
 *
 * @example
 * ```ts
 * nodeKeyOf(readPlacement(readLauncherEnv()), hostname()); // "node 0" under shoal run --procs
 * ```
 */
export function nodeKeyOf(placement: Placement, hostName: string): string {
  if (placement.node !== undefined) return `node ${placement.node}`;
  return `host ${placement.nodeName ?? hostName}`;
}

/** One run of Slurm's compressed per-node counts: `count` on each of `times` nodes (`"2(x3)"`). */
export interface SlurmCountRun {
  /** The count on each node of the run. */
  readonly count: number;
  /** The number of consecutive nodes with that count. */
  readonly times: number;
}

/**
 * Parses Slurm's compressed per-node counts, as in `SLURM_TASKS_PER_NODE`: comma-separated
 * counts, each optionally followed by `(xN)` for N consecutive nodes. Returns undefined when
 * `text` is not of that form or a count or repetition is not a positive integer.
 *
 * @example
 * ```ts
 * parseSlurmCounts("2(x3),1"); // [{ count: 2, times: 3 }, { count: 1, times: 1 }]: 2, 2, 2, 1
 * parseSlurmCounts("2x3");     // undefined
 * ```
 */
export function parseSlurmCounts(text: string): SlurmCountRun[] | undefined {
  const runs: SlurmCountRun[] = [];
  for (const item of text.split(",")) {
    const match = /^(\d+)(?:\(x(\d+)\))?$/.exec(item);
    if (match === null) return undefined;
    const count = Number(match[1]);
    const times = match[2] === undefined ? 1 : Number(match[2]);
    if (!Number.isSafeInteger(count) || !Number.isSafeInteger(times) || count < 1 || times < 1) return undefined;
    runs.push({ count, times });
  }
  return runs;
}

/** The count of node `node` (0-based) in `runs`, or undefined past the last node. */
function slurmCountAt(runs: readonly SlurmCountRun[], node: number): number | undefined {
  let first = 0;
  for (const run of runs) {
    if (node < first + run.times) return run.count;
    first += run.times;
  }
  return undefined;
}
