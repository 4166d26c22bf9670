/**
 * `shoal run -n N --procs P`: a job of P processes on this host, each `shoal exec` with N/P PEs,
 * connected over NNG `ipc://` in a directory private to this job (mode 0700), with a fresh
 * random token. With `--modules M`, process p is in module `floor(p·M/P)` (its `SHOAL_MODULE_ID`).
 *
 * The processes end the job themselves: one that fails tells the others, and one that dies is
 * noticed by the others through its closed connections; each then exits non-zero within
 * `SHOAL_ABORT_GRACE_MS`. This launcher only waits, reports a process that was killed by a
 * signal, and kills whatever is still running a grace period after the first failure, so that
 * no process is left behind. SIGINT and SIGTERM are passed on to every process.
 *
 * @module
 */
import { spawn, type ChildProcess } from "node:child_process";
import { Socket } from "node:net";
import { lstatSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, dirname, join, resolve } from "node:path";

import { readConfig } from "../config/index.js";
import { newJobToken } from "./bootstrap.js";

/** What {@link runProcesses} takes. */
export interface RunProcessesOptions {
  readonly procs: number;
  readonly pesPerProc: number;
  readonly program: string;
  readonly args: readonly string[];
  /** The path of the `shoal` CLI script, which each process runs as `exec`. */
  readonly cli: string;
  /** Split the processes into this many modules (see {@link moduleOfProcess}); absent: each keeps the environment's `SHOAL_MODULE_ID`. */
  readonly modules?: number;
  /** Where the launcher's own reports go (default: stderr). */
  readonly report?: (line: string) => void;
}

/**
 * The module of process `process` of `processes` when `shoal run --modules M` splits them into
 * `modules` modules: `floor(process · modules / processes)`, so modules get consecutive processes
 * and their sizes differ by at most one.
 *
 * @example
 * ```ts
 * [0, 1, 2, 3].map((p) => moduleOfProcess(p, 4, 3)); // [0, 0, 1, 2]
 * ```
 */
export function moduleOfProcess(process: number, processes: number, modules: number): number {
  return Math.floor((process * modules) / processes);
}

/** The prefix of the private directory of a job of `shoal run --procs`, in the temporary directory. */
const kJobDirPrefix = "shoal-job-";

/** How long after the first failed process the others may take to end by themselves, on top of the abort grace. */
const kExtraGraceMs = 3000;

/** Passes what `from` prints on to `to`, whole lines at a time; the returned call passes on the rest. */
function forwardLines(from: NodeJS.ReadableStream, to: NodeJS.WritableStream): () => void {
  let pending = "";
  from.setEncoding("utf8");
  from.on("data", (chunk: string) => {
    const end = chunk.lastIndexOf("\n");
    if (end < 0) {
      pending += chunk;
      return;
    }
    to.write(pending + chunk.slice(0, end + 1));
    pending = chunk.slice(end + 1);
  });
  return () => {
    if (pending !== "") to.write(pending);
    pending = "";
  };
}

/** Runs a job of `procs` processes on this host and resolves to its exit code. */
export async function runProcesses(options: RunProcessesOptions): Promise<number> {
  const config = readConfig();
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));
  const dir = mkdtempSync(join(tmpdir(), kJobDirPrefix));
  const token = config.jobToken ?? newJobToken();
  const root = `ipc://${join(dir, "root")}`;
  const children: ChildProcess[] = [];
  const exited: boolean[] = new Array<boolean>(options.procs).fill(false);
  let exitCode = 0;
  let killTimer: NodeJS.Timeout | undefined;
  const forward = (signal: NodeJS.Signals): void => {
    for (const [rank, child] of children.entries()) if (!exited[rank]) child.kill(signal);
  };
  const onInt = (): void => forward("SIGINT");
  const onTerm = (): void => forward("SIGTERM");
  process.on("SIGINT", onInt);
  process.on("SIGTERM", onTerm);
  try {
    const done: Promise<void>[] = [];
    for (let rank = 0; rank < options.procs; rank++) {
      const child = spawn(
        process.execPath,
        [...process.execArgv, options.cli, "exec", "--pes-per-proc", String(options.pesPerProc), "--", resolve(options.program), ...options.args],
        {
          // Piped, and passed on a whole line at a time: two processes writing long lines into one
          // pipe would otherwise interleave them (a pipe write is atomic only up to 4 KiB).
          // The fourth is never written: the process sees it close if this launcher dies, even by
          // kill -9, and ends itself (watchLauncher) instead of running on without it.
          stdio: ["ignore", "pipe", "pipe", "pipe"],
          env: {
            ...process.env,
            SHOAL_RANK: String(rank),
            SHOAL_SIZE: String(options.procs),
            SHOAL_LOCAL_RANK: String(rank),
            SHOAL_LOCAL_SIZE: String(options.procs),
            SHOAL_NODE: "0",
            SHOAL_ROOT: root,
            SHOAL_JOB_TOKEN: token,
            SHOAL_LAUNCHER_FD: "3",
            ...(options.modules === undefined ? {} : { SHOAL_MODULE_ID: String(moduleOfProcess(rank, options.procs, options.modules)) }),
          },
        },
      );
      children.push(child);
      (child.stdio[3] as Socket | null)?.unref();
      const flushOut = forwardLines(child.stdout!, process.stdout);
      const flushErr = forwardLines(child.stderr!, process.stderr);
      done.push(new Promise<void>((resolveExit) => {
        child.on("error", (error) => {
          report(`shoal: process ${rank} could not start: ${error.message}`);
          exitCode = 1;
          exited[rank] = true;
          resolveExit();
        });
        child.on("close", (code, signal) => {
          flushOut();
          flushErr();
          exited[rank] = true;
          if (code !== 0) {
            if (signal !== null) report(`shoal: process ${rank} (pid ${child.pid}) was killed by ${signal}`);
            if (exitCode === 0) exitCode = code ?? 1;
            killTimer ??= setTimeout(() => {
              for (const [other, sibling] of children.entries()) {
                if (!exited[other]) {
                  report(`shoal: process ${other} (pid ${sibling.pid}) did not end after the job failed; killing it`);
                  sibling.kill("SIGKILL");
                }
              }
            }, config.abortGraceMs + kExtraGraceMs);
          }
          resolveExit();
        });
      }));
    }
    await Promise.all(done);
    return exitCode;
  } finally {
    if (killTimer !== undefined) clearTimeout(killTimer);
    process.off("SIGINT", onInt);
    process.off("SIGTERM", onTerm);
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The private directory of the job whose root address is `root`, when it is one that
 * {@link runProcesses} made: `ipc://TMP/shoal-job-XXXXXX/root`, with TMP this process's temporary
 * directory (it inherited the launcher's `TMPDIR`), a directory that this user owns. Anything else
 * (an address given by hand, a tcp:// job) is `undefined`: nobody removes it.
 */
function jobDirOf(root: string | undefined): string | undefined {
  if (root === undefined || !root.startsWith("ipc://")) return undefined;
  const socket = root.slice("ipc://".length);
  const dir = dirname(socket);
  const name = basename(dir);
  // mkdtemp's suffix: 6 letters and digits.
  const made = name.startsWith(kJobDirPrefix) && /^[A-Za-z0-9]{6}$/.test(name.slice(kJobDirPrefix.length));
  if (basename(socket) !== "root" || !made || resolve(dirname(dir)) !== resolve(tmpdir())) return undefined;
  try {
    const stat = lstatSync(dir);
    const uid = typeof process.getuid === "function" ? process.getuid() : stat.uid;
    return stat.isDirectory() && stat.uid === uid ? dir : undefined;
  } catch {
    return undefined; // gone already
  }
}

/**
 * In a process started by `shoal run --procs`: ends this process when the launcher is gone (its end
 * of the pipe at `SHOAL_LAUNCHER_FD` closes, which the kernel does even when the launcher is
 * killed with -9). The other processes see the connection to this one drop, and end too. A
 * launcher killed with -9 could not remove the job's private directory of ipc:// sockets: each of
 * its processes removes it on the way out (see {@link jobDirOf}; whichever is first, the others find
 * nothing to do).
 * @internal
 */
export function watchLauncher(launcherFd: string | undefined, root: string | undefined): void {
  const text = launcherFd;
  if (text === undefined || !/^\d+$/.test(text)) return;
  let pipe: Socket;
  try {
    pipe = new Socket({ fd: Number(text), readable: true, writable: false });
  } catch {
    return; // not a pipe: started by hand with the variable set
  }
  const gone = (): void => {
    const dir = jobDirOf(root);
    try {
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    } catch {
      // Another process of the job removed it meanwhile.
    }
    // Its stdout and stderr went to the launcher too: nobody is left to read a message.
    process.exit(1);
  };
  pipe.on("end", gone).on("close", gone).on("error", gone);
  pipe.resume();
  pipe.unref();
}
