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
  /** The largest NNG message between two processes, in bytes. */
  readonly mtu: number;
  /** The address this host listens on in a `tcp://` job (`SHOAL_HOST`), or `undefined` to find it. */
  readonly host: string | undefined;
}

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
  mtu: 1024 * 1024,
  host: undefined,
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
    mtu: readInteger(env, "SHOAL_MTU", kDefaultConfig.mtu, 64),
    host: env["SHOAL_HOST"] === "" ? undefined : env["SHOAL_HOST"],
  };
}

/** The raw variables that place a process in a job, by name, unchecked (see {@link readLauncherEnv}). */
export type LauncherEnv = Readonly<Record<string, string | undefined>>;

/** The names of the variables that cluster launchers set to place a process, and shoal's own for a launch by hand. */
const kLauncherVariable = /^(SHOAL_(RANK|SIZE|LOCAL_RANK|LOCAL_SIZE|NODE)|OMPI_COMM_WORLD_\w+|OMPI_UNIVERSE_SIZE|PMIX_\w+|PMI_\w+|MPI_LOCAL\w+|SLURM_\w+|SLURMD_NODENAME)$/;

/**
 * Returns the variables by which a launcher placed this process, as they are: Open MPI's
 * `OMPI_COMM_WORLD_*`, `PMIX_*`, `PMI_*` and `MPI_LOCAL*` (MPICH's Hydra), Slurm's `SLURM_*`,
 * and `SHOAL_RANK`, `SHOAL_SIZE`, `SHOAL_LOCAL_RANK`, `SHOAL_LOCAL_SIZE`, `SHOAL_NODE`.
 * `launch/placement.ts` reads and checks them; this is the only place they are taken from.
 * @internal
 */
export function readLauncherEnv(env: NodeJS.ProcessEnv = process.env): LauncherEnv {
  const picked: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && kLauncherVariable.test(name)) picked[name] = value;
  }
  return Object.freeze(picked);
}
