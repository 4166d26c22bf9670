/**
 * How the processes of a job find each other: the root address (where rank 0 listens), this
 * process's own listen address, and the job's token.
 *
 * 1. **Given**: `SHOAL_ROOT` (and `SHOAL_JOB_TOKEN`). `shoal run --procs` sets both; across hosts
 *    the user passes them through the launcher (`mpirun -x`, `srun --export`).
 * 2. **Derived, one host**: under a launcher that placed every process on this host, without
 *    `SHOAL_ROOT`, the processes meet in a directory private to the user and named after the
 *    launcher's job id (`$TMPDIR/shoal-UID-JOBID`, mode 0700). Rank 0 creates it and writes a fresh
 *    random token there (mode 0600); the others wait for the token. Rank 0 listens at
 *    `ipc://DIR/root`.
 * 3. Otherwise (several hosts and no `SHOAL_ROOT`) it is a clear error that says what to set.
 *
 * Listen addresses: with an `ipc://PATH` root, rank r listens at `ipc://PATH.r`; with a
 * `tcp://HOST:PORT` root, at `tcp://ADDRESS:0` (a free port), where ADDRESS is `SHOAL_HOST` or
 * this host's address on the route to HOST, so a listener binds only to the address the job uses.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { createSocket } from "node:dgram";
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { LauncherEnv, ShoalConfig } from "../config/index.js";
import { ConfigError } from "../errors.js";
import type { Placement } from "./placement.js";

/** Where this process connects, listens, and what it proves. */
export interface Addressing {
  readonly root: string;
  readonly listen: string | undefined;
  readonly token: string;
  /** A directory this process made for the job and removes at the end (rank 0 of a derived job). */
  readonly cleanup?: string;
}

/** A fresh random job token. */
export function newJobToken(): string {
  return randomBytes(32).toString("hex");
}

/** The launcher's id of this job, from its variables, to name the meeting directory. */
function jobKeyOf(env: LauncherEnv, placement: Placement): string | undefined {
  const slurmJob = env["SLURM_JOB_ID"];
  const key =
    placement.launcher === "srun" && slurmJob !== undefined
      ? `slurm-${slurmJob}.${env["SLURM_STEP_ID"] ?? "0"}`
      : env["PMIX_NAMESPACE"] ?? env["OMPI_MCA_ess_base_jobid"] ?? env["PMI_KVSNAME"] ?? env["PMI_JOBID"];
  return key === undefined ? undefined : key.replace(/[^\w.-]/g, "_");
}

/** Resolves the addressing of this process of a job of several processes. */
export async function resolveAddressing(placement: Placement, config: ShoalConfig, env: LauncherEnv): Promise<Addressing> {
  const { rank, size } = placement;
  if (config.root !== undefined) {
    if (config.jobToken === undefined) {
      throw new ConfigError(
        `SHOAL_ROOT is set (${config.root}) but SHOAL_JOB_TOKEN is not: every process of the job must prove the same secret; ` +
          "set both for every process, for example mpirun -x SHOAL_ROOT -x SHOAL_JOB_TOKEN=$(openssl rand -hex 32) …",
      );
    }
    return { root: config.root, listen: await listenAddress(config.root, rank, size, config), token: config.jobToken };
  }
  const oneHost = placement.localSize === size;
  const key = jobKeyOf(env, placement);
  if (!oneHost || key === undefined) {
    throw new ConfigError(
      `process ${rank} of ${size} (placed by ${placement.launcher}) does not know where rank 0 listens: ` +
        (oneHost ? "the launcher gives no job id to meet by; " : `the job's processes are on several hosts (${placement.localSize} of ${size} on this one); `) +
        "set SHOAL_ROOT=tcp://HOST:PORT (HOST: rank 0's host address, PORT: a free port there) and SHOAL_JOB_TOKEN=$(openssl rand -hex 32) for every process, " +
        "for example mpirun -x SHOAL_ROOT=tcp://node1:7777 -x SHOAL_JOB_TOKEN=… shoal exec app.ts",
    );
  }
  const uid = typeof process.getuid === "function" ? process.getuid() : 0;
  const dir = join(tmpdir(), `shoal-${uid}-${key}`);
  const root = `ipc://${join(dir, "root")}`;
  const tokenFile = join(dir, "token");
  if (rank === 0) {
    makePrivateDir(dir, uid);
    const token = config.jobToken ?? newJobToken();
    const temporary = `${tokenFile}.${process.pid}`;
    writeFileSync(temporary, token, { mode: 0o600 });
    renameSync(temporary, tokenFile);
    return { root, listen: undefined, token, cleanup: dir };
  }
  const token = config.jobToken ?? (await waitForToken(dir, tokenFile, uid, config.connectTimeoutMs));
  return { root, listen: await listenAddress(root, rank, size, config), token };
}

/** Removes what {@link resolveAddressing} made. */
export function cleanupAddressing(addressing: Addressing): void {
  if (addressing.cleanup !== undefined) rmSync(addressing.cleanup, { recursive: true, force: true });
}

function makePrivateDir(dir: string, uid: number): void {
  if (!existsSync(dir)) mkdirSync(dir, { mode: 0o700 });
  checkPrivate(dir, uid);
  chmodSync(dir, 0o700);
}

function checkPrivate(dir: string, uid: number): void {
  const stat = lstatSync(dir);
  if (!stat.isDirectory() || stat.uid !== uid) {
    throw new ConfigError(`${dir} exists but is not a directory of this user (uid ${uid}); remove it, or set SHOAL_ROOT and SHOAL_JOB_TOKEN`);
  }
}

async function waitForToken(dir: string, tokenFile: string, uid: number, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    if (existsSync(tokenFile)) {
      checkPrivate(dir, uid);
      if ((lstatSync(dir).mode & 0o077) !== 0) throw new ConfigError(`${dir} is open to other users; remove it and start the job again`);
      return readFileSync(tokenFile, "utf8");
    }
    if (performance.now() > deadline) {
      throw new ConfigError(`rank 0 of the job did not create ${tokenFile} within ${timeoutMs} ms (SHOAL_CONNECT_TIMEOUT_MS): did it start on this host?`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Where rank `rank` listens (ranks 1..size-2 only; rank 0 listens at root, the last rank nowhere). */
async function listenAddress(root: string, rank: number, size: number, config: ShoalConfig): Promise<string | undefined> {
  if (rank === 0 || rank === size - 1) return undefined;
  if (root.startsWith("ipc://")) return `${root}.${rank}`;
  const match = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)$/.exec(root);
  if (match === null) throw new ConfigError(`SHOAL_ROOT: expected ipc:///path or tcp://host:port, got ${JSON.stringify(root)}`);
  const host = config.host ?? (await addressToward(match[1]!.replace(/^\[|\]$/g, "")));
  return `tcp://${host.includes(":") ? `[${host}]` : host}:0`;
}

/** This host's address on the route to `host` (no packet is sent: a UDP socket is only connected). */
function addressToward(host: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = createSocket(host.includes(":") ? "udp6" : "udp4");
    socket.once("error", (error) => {
      socket.close();
      reject(new ConfigError(`cannot find this host's address toward ${host} (SHOAL_ROOT): ${error.message}; set SHOAL_HOST to the address to listen on`));
    });
    socket.connect(9, host, () => {
      const { address } = socket.address();
      socket.close();
      resolve(address);
    });
  });
}
