/**
 * The one reader of `process.env`. Every `SHOAL_*` variable is read here, checked, and documented
 * (the README has the same table).
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `SHOAL_SPIN_US` | `5000` | how long an idle PE polls before it sleeps (µs); 0 when PEs outnumber cores |
 * | `SHOAL_AGGREGATION_BYTES` | `32768` | a destination's outgoing frame is sent once it holds this many bytes (at most a quarter of the ring; the default shrinks with `SHOAL_RING_BYTES`) |
 * | `SHOAL_RING_BYTES` | `1048576` | bytes of each PE's inbound queue (a power of two, at least 65536) |
 * | `SHOAL_LARGE_BYTES` | `65536` | typed arrays of at least this many bytes move by reference (one copy) |
 * | `SHOAL_BARRIER_TIMEOUT_MS` | `10000` | a barrier that waits longer prints which PEs have not arrived, and again at each interval |
 * | `SHOAL_ABORT_GRACE_MS` | `2000` | after a PE fails, how long the others get to report before they are stopped |
 * | `SHOAL_ARRAY_OPS` | `direct` | how a PE updates array elements owned by another PE of its process: `direct` on shared memory with `Atomics`, or `am` as messages to the owner (the way they travel between processes) |
 * | `SHOAL_NNG_ADDON` | (unset) | path of the NNG addon to load instead of the package's `build/Release/shoal_nng.node` |
 * | `SHOAL_RANK`, `SHOAL_SIZE` | unset | place this process by hand as process RANK of SIZE, winning over any launcher's variables (read by `readLauncherEnv()`, checked by `launch/placement.ts`) |
 * | `SHOAL_LOCAL_RANK`, `SHOAL_LOCAL_SIZE` | `SHOAL_RANK`, `SHOAL_SIZE` | with `SHOAL_RANK`: this process's rank among the job's processes on its node, and their number (default: every process on this node) |
 * | `SHOAL_NODE` | unset | with `SHOAL_RANK`: the index of this process's node |
 * | `SHOAL_ROOT` | unset | the address where the job's rank 0 listens and every other process connects first: `ipc:///path` on one host, `tcp://host:port` across hosts (set by the launcher) |
 * | `SHOAL_JOB_TOKEN` | unset (the launcher generates one) | the job's secret, at least 16 characters; every connection between the job's processes proves it (HMAC-SHA256 of a nonce; it never travels) |
 * | `SHOAL_MTU` | `1048576` | the largest NNG message between two processes, in bytes (at least 64): the stream of frames between two processes is cut into messages of at most this size, so a large payload is pipelined |
 * | `SHOAL_HOST` | (the address that routes to `SHOAL_ROOT`'s host) | in a `tcp://` job, the address of this host on which the process listens for the others |
 * | `SHOAL_CONNECT_TIMEOUT_MS` | `30000` | how long a process waits for the others to connect when a multi-process job starts; then it fails, naming the ranks and addresses it could not reach |
 * | `SHOAL_HEARTBEAT_MS` | `1000` | in a multi-process job, each IO worker sends a heartbeat to every other process it has sent nothing to for this long (ms); `0`: no heartbeats and no timeout (every process of a job needs the same value) |
 * | `SHOAL_HEARTBEAT_TIMEOUT_MS` | 10 × `SHOAL_HEARTBEAT_MS` (`10000`) | a process from which no message at all came for this long (ms, at least twice `SHOAL_HEARTBEAT_MS`) is taken for lost, as if its connection had dropped: the job ends, naming it |
 * | `SHOAL_DIRECT` | `1` | in a multi-process job, PEs send small frames to PEs of other processes from their own threads, on their IO worker's connections, and such frames reach a PE that sleeps straight from the socket (the direct lanes, lamellae/nng/direct.ts); `0`: every frame goes through both IO workers. Off while the histogram counts `ipc`, `tcp` or `gw` frames (the IO worker counts them) |
 * | `SHOAL_IO_STATS` | `0` | `1`: each process of a multi-process job prints its IO worker's counters (messages, frames, bytes, heartbeats, congestions) to stderr at exit, as one JSON line |
 * | `SHOAL_HISTOGRAM` | `0` | `1`: count the frames each PE sends by size and connection type, and print each process's table to stderr at exit (also `world.stats().histogram`) |
 * | `SHOAL_HISTOGRAM_MIN` | `64` | the histogram's first bin: frames of at most this many bytes (an integer of at least 1) |
 * | `SHOAL_HISTOGRAM_MAX` | `67108864` | the histogram's last bin is the first of MIN << k·SHIFT that reaches this (at least MIN, at most 2^52); it also collects every larger frame |
 * | `SHOAL_HISTOGRAM_SHIFT` | `1` | each bin's bound is the previous one shifted left by this many bits (1..32) |
 * | `SHOAL_HISTOGRAM_CONTYPE` | unset (every type) | count only frames of this connection type: `shm` (within a process), `ipc` or `tcp` (between processes, by the link), `gw` (between modules) |
 * | `SHOAL_HIER` | `2` | how the collectives follow the topology (like ParaStation's `PSP_MSA_AWARE_COLLOPS`): `0` flat (messages between every pair of members), `1` shared memory inside each process, then the processes of each module, then one leader per module, `2` as 1 with the processes of each node before the module (`team.explain` prints the plan) |
 * | `SHOAL_GW_MTU` | `65536` | a collective's typed array that crosses modules and is larger than this many bytes (at least 8) is cut into chunks of at most this size, which travel one after the other |
 * | `SHOAL_MODULE_ID` | ParaStation's `PSP_MSA_MODULE_ID`, else `0` | the module of this process's PEs (`world.topology`), an integer in 0..2147483647; `shoal run --procs P --modules M` sets it for each process |
 *
 * @module
 */
import { availableParallelism } from "node:os";

import { ConfigError } from "../errors.js";

/**
 * The runtime settings, resolved from the environment and defaults.
 *
 * @example
 * ```ts
 * const config: Readonly<ShoalConfig> = world.config;
 * console.log(config.ringBytes, config.arrayOps);
 * ```
 */
export interface ShoalConfig {
  /** Polling time of an idle PE before it sleeps, in microseconds. */
  readonly spinUs: number;
  /** Size at which a destination's frame is flushed, in bytes. */
  readonly aggregationBytes: number;
  /** Capacity of each PE's inbound ring, in bytes. */
  readonly ringBytes: number;
  /** Typed arrays of at least this many bytes move by reference. */
  readonly largeBytes: number;
  /** Interval after which a waiting barrier reports the PEs that have not arrived, in ms. */
  readonly barrierTimeoutMs: number;
  /** Grace period between a PE's failure and stopping the other PEs, in ms. */
  readonly abortGraceMs: number;
  /** How array operations reach other PEs' parts in this process: `direct` (shared memory) or `am` (messages). */
  readonly arrayOps: "direct" | "am";
  /** Cores available to this process. */
  readonly cores: number;
  /** Path of the NNG addon to load instead of the package's own build, or `undefined` for that build. */
  readonly nngAddon: string | undefined;
  /** The address of the job's rank 0 (`SHOAL_ROOT`), or `undefined` when no launcher gave one. */
  readonly root: string | undefined;
  /** The job's secret token (`SHOAL_JOB_TOKEN`), or `undefined` when the launcher is to generate one. */
  readonly jobToken: string | undefined;
  /** How long a starting multi-process job waits for its processes to connect, in ms. */
  readonly connectTimeoutMs: number;
  /** After this long without sending to another process, an IO worker sends it a heartbeat, in ms (`SHOAL_HEARTBEAT_MS`; 0: none). */
  readonly heartbeatMs: number;
  /** Another process silent for this long is taken for lost, in ms (`SHOAL_HEARTBEAT_TIMEOUT_MS`; 0 when heartbeats are off). */
  readonly heartbeatTimeoutMs: number;
  /** Whether PEs use the direct lanes to other processes (`SHOAL_DIRECT`, default on). */
  readonly direct: boolean;
  /** Whether each process prints its IO worker's counters at exit (`SHOAL_IO_STATS=1`). */
  readonly ioStats: boolean;
  /** The largest NNG message between two processes, in bytes. */
  readonly mtu: number;
  /** The address this host listens on in a `tcp://` job (`SHOAL_HOST`), or `undefined` to find it. */
  readonly host: string | undefined;
  /**
   * The message-size histogram's settings when `SHOAL_HISTOGRAM=1`, else `undefined` (no counting):
   * bins from `min` to `max` bytes, each `shift` bits above the last, counting only `contype`
   * (`undefined`: every connection type).
   */
  readonly histogram: HistogramConfig | undefined;
  /** The module of this process's PEs (`SHOAL_MODULE_ID`, else ParaStation's `PSP_MSA_MODULE_ID`, else 0). */
  readonly moduleId: number;
  /** How the collectives follow the topology (`SHOAL_HIER`): 0 flat, 1 module-aware, 2 module- and node-aware. */
  readonly hier: 0 | 1 | 2;
  /** Collective payloads that cross modules are cut into chunks of at most this many bytes (`SHOAL_GW_MTU`). */
  readonly gwMtu: number;
}

/**
 * The message-size histogram's settings (`SHOAL_HISTOGRAM_MIN`, `_MAX`, `_SHIFT`, `_CONTYPE`), as
 * ParaStation MPI's `PSP_HISTOGRAM_*` define them.
 *
 * @example
 * ```ts
 * const histogram = world.config.histogram; // undefined unless SHOAL_HISTOGRAM=1
 * if (histogram !== undefined) console.log(`bins from ${histogram.min} to ${histogram.max} bytes`);
 * ```
 */
export interface HistogramConfig {
  /** The first bin's bound, in bytes: it counts frames of at most this size. */
  readonly min: number;
  /** The last bin's bound is the first `min << k·shift` that reaches this; it also counts every larger frame. */
  readonly max: number;
  /** Each bin's bound is the previous one shifted left by this many bits. */
  readonly shift: number;
  /** The one connection type counted, or `undefined` for all: `shm`, `ipc`, `tcp` or `gw`. */
  readonly contype: "shm" | "ipc" | "tcp" | "gw" | undefined;
}

/** The histogram's settings when only `SHOAL_HISTOGRAM=1` is set (ParaStation's defaults). @internal */
export const kDefaultHistogramConfig: HistogramConfig = { min: 64, max: 64 * 1024 * 1024, shift: 1, contype: undefined };

/** The defaults of {@link ShoalConfig}. @internal */
export const kDefaultConfig: ShoalConfig = {
  spinUs: 5000,
  aggregationBytes: 32 * 1024,
  ringBytes: 1024 * 1024,
  largeBytes: 64 * 1024,
  barrierTimeoutMs: 10_000,
  abortGraceMs: 2000,
  arrayOps: "direct",
  cores: 1,
  nngAddon: undefined,
  root: undefined,
  jobToken: undefined,
  connectTimeoutMs: 30_000,
  heartbeatMs: 1000,
  heartbeatTimeoutMs: 10_000,
  direct: true,
  ioStats: false,
  mtu: 1024 * 1024,
  host: undefined,
  histogram: undefined,
  moduleId: 0,
  hier: 2,
  gwMtu: 65536,
};

/** The shortest `SHOAL_JOB_TOKEN` accepted, in characters (connectMesh checks the same bound). */
const kMinJobTokenLength = 16;

function readInteger(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value) || value < min) {
    throw new ConfigError(`${name}: expected an integer of at least ${min}, got ${JSON.stringify(raw)}; unset it to use the default ${fallback}`);
  }
  return value;
}

function readChoice<T extends string>(env: NodeJS.ProcessEnv, name: string, choices: readonly T[], fallback: T): T {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (!(choices as readonly string[]).includes(raw)) {
    throw new ConfigError(`${name}: expected one of ${choices.join(", ")}, got ${JSON.stringify(raw)}; unset it to use the default ${fallback}`);
  }
  return raw as T;
}

function readRoot(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env["SHOAL_ROOT"];
  if (raw === undefined || raw === "") return undefined;
  if (!/^(ipc:\/\/.+|tcp:\/\/.+:\d+)$/.test(raw)) {
    throw new ConfigError(`SHOAL_ROOT: expected ipc:///path or tcp://host:port, got ${JSON.stringify(raw)}`);
  }
  return raw;
}

/** The largest module id: module ids travel as 32-bit words. */
const kMaxModuleId = 0x7fffffff;

/** `SHOAL_MODULE_ID`, else ParaStation's launcher variable `PSP_MSA_MODULE_ID`, else 0. */
function readModuleId(env: NodeJS.ProcessEnv): number {
  for (const name of ["SHOAL_MODULE_ID", "PSP_MSA_MODULE_ID"]) {
    const raw = env[name];
    if (raw === undefined || raw === "") continue;
    const value = Number(raw);
    if (!/^\d+$/.test(raw) || value > kMaxModuleId) {
      const fix = name === "SHOAL_MODULE_ID"
        ? "set it to this process's module, or unset it for module 0"
        : "ParaStation's launcher sets it to the process's module; set SHOAL_MODULE_ID, which wins over it, or unset it";
      throw new ConfigError(`${name}: expected a module id, an integer in 0..${kMaxModuleId}, got ${JSON.stringify(raw)}; ${fix}`);
    }
    return value;
  }
  return 0;
}

/** The largest `SHOAL_HISTOGRAM_MAX`: bins' bounds stay exact integers. */
const kMaxHistogramBytes = 2 ** 52;

/**
 * `SHOAL_HISTOGRAM` and its settings: `undefined` when off. The settings are checked even when it
 * is off, so that a mistyped value is not silently ignored.
 */
function readHistogram(env: NodeJS.ProcessEnv): HistogramConfig | undefined {
  const on = readChoice(env, "SHOAL_HISTOGRAM", ["0", "1"] as const, "0") === "1";
  const defaults = kDefaultHistogramConfig;
  const min = readInteger(env, "SHOAL_HISTOGRAM_MIN", defaults.min, 1);
  const max = readInteger(env, "SHOAL_HISTOGRAM_MAX", Math.max(defaults.max, min), 1);
  if (max < min || max > kMaxHistogramBytes) {
    throw new ConfigError(`SHOAL_HISTOGRAM_MAX: expected an integer from SHOAL_HISTOGRAM_MIN (${min}) to ${kMaxHistogramBytes}, got ${max}; raise it, or lower SHOAL_HISTOGRAM_MIN`);
  }
  const shift = readInteger(env, "SHOAL_HISTOGRAM_SHIFT", defaults.shift, 1);
  if (shift > 32) throw new ConfigError(`SHOAL_HISTOGRAM_SHIFT: expected a number of bits in 1..32, got ${shift}; unset it to use the default ${defaults.shift}`);
  const rawContype = env["SHOAL_HISTOGRAM_CONTYPE"];
  const contypes = ["shm", "ipc", "tcp", "gw"] as const;
  let contype: HistogramConfig["contype"];
  if (rawContype !== undefined && rawContype !== "") {
    if (!(contypes as readonly string[]).includes(rawContype)) {
      throw new ConfigError(`SHOAL_HISTOGRAM_CONTYPE: expected one of ${contypes.join(", ")}, got ${JSON.stringify(rawContype)}; unset it to count every connection type`);
    }
    contype = rawContype as HistogramConfig["contype"];
  }
  return on ? { min, max, shift, contype } : undefined;
}

/** The longest heartbeat interval: a timer's delay is a signed 32-bit number of ms. */
const kMaxHeartbeatMs = 0x7fffffff;

/**
 * `SHOAL_HEARTBEAT_MS` and `SHOAL_HEARTBEAT_TIMEOUT_MS`. The timeout defaults to 10 intervals and
 * must be at least 2, so that a heartbeat that is one interval late is not taken for a loss.
 */
function readHeartbeat(env: NodeJS.ProcessEnv): { heartbeatMs: number; heartbeatTimeoutMs: number } {
  const heartbeatMs = readInteger(env, "SHOAL_HEARTBEAT_MS", kDefaultConfig.heartbeatMs, 0);
  if (heartbeatMs > kMaxHeartbeatMs) throw new ConfigError(`SHOAL_HEARTBEAT_MS: expected at most ${kMaxHeartbeatMs} ms, got ${heartbeatMs}; use 0 to turn heartbeats off`);
  const heartbeatTimeoutMs = readInteger(env, "SHOAL_HEARTBEAT_TIMEOUT_MS", 10 * heartbeatMs, 1);
  if (heartbeatMs === 0) return { heartbeatMs, heartbeatTimeoutMs: 0 };
  if (heartbeatTimeoutMs < 2 * heartbeatMs) {
    throw new ConfigError(
      `SHOAL_HEARTBEAT_TIMEOUT_MS: expected at least twice SHOAL_HEARTBEAT_MS (${2 * heartbeatMs} ms), got ${heartbeatTimeoutMs}; raise it, lower SHOAL_HEARTBEAT_MS, or unset it for ${10 * heartbeatMs}`,
    );
  }
  return { heartbeatMs, heartbeatTimeoutMs };
}

function readJobToken(env: NodeJS.ProcessEnv): string | undefined {
  const raw = env["SHOAL_JOB_TOKEN"];
  if (raw === undefined || raw === "") return undefined;
  if (raw.length < kMinJobTokenLength) {
    throw new ConfigError(`SHOAL_JOB_TOKEN: expected at least ${kMinJobTokenLength} characters, got ${raw.length}; use a random one, for example \`openssl rand -hex 32\`, or unset it to let the launcher generate one`);
  }
  return raw;
}

/**
 * Reads every `SHOAL_*` variable, checks it, and returns the resolved settings.
 * @internal
 */
export function readConfig(env: NodeJS.ProcessEnv = process.env): ShoalConfig {
  const ringBytes = readInteger(env, "SHOAL_RING_BYTES", kDefaultConfig.ringBytes, 65536);
  if ((ringBytes & (ringBytes - 1)) !== 0 || ringBytes > 1 << 30) {
    throw new ConfigError(`SHOAL_RING_BYTES: expected a power of two between 65536 and 1073741824, got ${ringBytes}`);
  }
  const aggregationBytes = readInteger(env, "SHOAL_AGGREGATION_BYTES", Math.min(kDefaultConfig.aggregationBytes, ringBytes / 4), 64);
  if (aggregationBytes > ringBytes / 4) {
    throw new ConfigError(`SHOAL_AGGREGATION_BYTES: expected at most a quarter of SHOAL_RING_BYTES (${ringBytes / 4}), got ${aggregationBytes}`);
  }
  return {
    spinUs: readInteger(env, "SHOAL_SPIN_US", kDefaultConfig.spinUs, 0),
    aggregationBytes,
    ringBytes,
    largeBytes: readInteger(env, "SHOAL_LARGE_BYTES", kDefaultConfig.largeBytes, 1024),
    barrierTimeoutMs: readInteger(env, "SHOAL_BARRIER_TIMEOUT_MS", kDefaultConfig.barrierTimeoutMs, 1),
    abortGraceMs: readInteger(env, "SHOAL_ABORT_GRACE_MS", kDefaultConfig.abortGraceMs, 0),
    arrayOps: readChoice(env, "SHOAL_ARRAY_OPS", ["direct", "am"] as const, kDefaultConfig.arrayOps),
    cores: availableParallelism(),
    nngAddon: env["SHOAL_NNG_ADDON"] === "" ? undefined : env["SHOAL_NNG_ADDON"],
    root: readRoot(env),
    jobToken: readJobToken(env),
    connectTimeoutMs: readInteger(env, "SHOAL_CONNECT_TIMEOUT_MS", kDefaultConfig.connectTimeoutMs, 1),
    ...readHeartbeat(env),
    direct: readChoice(env, "SHOAL_DIRECT", ["0", "1"] as const, "1") === "1",
    ioStats: readChoice(env, "SHOAL_IO_STATS", ["0", "1"] as const, "0") === "1",
    mtu: readInteger(env, "SHOAL_MTU", kDefaultConfig.mtu, 64),
    host: env["SHOAL_HOST"] === "" ? undefined : env["SHOAL_HOST"],
    histogram: readHistogram(env),
    moduleId: readModuleId(env),
    hier: Number(readChoice(env, "SHOAL_HIER", ["0", "1", "2"] as const, String(kDefaultConfig.hier) as "2")) as 0 | 1 | 2,
    gwMtu: readInteger(env, "SHOAL_GW_MTU", kDefaultConfig.gwMtu, 8),
  };
}

/** The raw variables that place a process in a job, by name, unchecked (see {@link readLauncherEnv}). */
export type LauncherEnv = Readonly<Record<string, string | undefined>>;

/** The names of the variables that cluster launchers set to place a process, and shoal's own for a launch by hand. */
const kLauncherVariable = /^(SHOAL_(RANK|SIZE|LOCAL_RANK|LOCAL_SIZE|NODE|LAUNCHER_FD)|OMPI_COMM_WORLD_\w+|OMPI_UNIVERSE_SIZE|PMIX_\w+|PMI_\w+|MPI_LOCAL\w+|SLURM_\w+|SLURMD_NODENAME)$/;

/**
 * Returns the variables by which a launcher placed this process, as they are: Open MPI's
 * `OMPI_COMM_WORLD_*`, `PMIX_*`, `PMI_*` and `MPI_LOCAL*` (MPICH's Hydra), Slurm's `SLURM_*`,
 * and `SHOAL_RANK`, `SHOAL_SIZE`, `SHOAL_LOCAL_RANK`, `SHOAL_LOCAL_SIZE`, `SHOAL_NODE`; and
 * `SHOAL_LAUNCHER_FD`, the pipe `shoal run --procs` gives each of its processes (see
 * `watchLauncher`). `launch/placement.ts` reads and checks them; this is the only place they are
 * taken from.
 * @internal
 */
export function readLauncherEnv(env: NodeJS.ProcessEnv = process.env): LauncherEnv {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && kLauncherVariable.test(name)) picked[name] = value;
  }
  return Object.freeze(picked);
}
