/**
 * Runs real shoal jobs from tests: `node dist/src/launch/cli.js run -n N fixture`, as a user would,
 * and collects the exit code, stdout, stderr and the JSON lines the fixture printed.
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

import { expect } from "vitest";

export const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
export const cli = fileURLToPath(new URL("../../dist/src/launch/cli.js", import.meta.url));

/** The PE counts every SPMD feature is tested on. */
export const kPeCounts = [1, 2, 3, 4, 8] as const;

/** A job's shape: `pes` PEs spread evenly over `procs` processes (`shoal run -n pes --procs procs`). */
export interface Shape {
  readonly pes: number;
  readonly procs: number;
  /** How test names say it: "4 PEs in 2 processes". */
  readonly name: string;
}

function shape(pes: number, procs: number): Shape {
  return { pes, procs, name: `${pes} PE${pes === 1 ? "" : "s"} in ${procs} process${procs === 1 ? "" : "es"}` };
}

/**
 * The shapes every SPMD suite runs on: one process with each of {@link kPeCounts} PE threads, then
 * N processes of one PE each (2 and 3: an odd count), and 2 processes of 2 PEs (threads and
 * processes together). Results must be identical on all of them.
 */
export const kShapes: readonly Shape[] = [...kPeCounts.map((pes) => shape(pes, 1)), shape(2, 2), shape(3, 3), shape(4, 2)];

/** The shapes of several processes only. */
export const kMultiProcessShapes: readonly Shape[] = kShapes.filter((s) => s.procs > 1);

export interface JobResult {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The stdout lines that parse as JSON objects. */
  records: Record<string, unknown>[];
  /** Wall time of the whole command, ms (for failure tests' "within seconds"; never asserted as speed). */
  elapsedMs: number;
}

export interface JobOptions {
  /** Processes to spread the PEs over (`--procs`); default 1. */
  procs?: number;
  /** Modules to split the processes into (`--modules`); default: none given. */
  modules?: number;
  args?: readonly string[];
  env?: Record<string, string>;
  timeoutMs?: number;
}

/** Runs `shoal run -n pes fixture [args]` and resolves when the process has exited. */
export function runJob(pes: number, fixture: string, options: JobOptions = {}): Promise<JobResult> {
  const path = fixture.startsWith("/") ? fixture : fileURLToPath(new URL(`../fixtures/${fixture}`, import.meta.url));
  const procs = options.procs ?? 1;
  const modules = options.modules === undefined ? [] : ["--modules", String(options.modules)];
  return runCli(["run", "-n", String(pes), ...(procs === 1 ? [] : ["--procs", String(procs)]), ...modules, path, ...(options.args ?? [])], options);
}

/** Runs the `shoal` CLI with `args`. */
export function runCli(args: readonly string[], options: JobOptions = {}): Promise<JobResult> {
  return runCommand(process.execPath, [cli, ...args], options);
}

/**
 * Runs `command args...` from the repository's root and collects what it printed. Its environment
 * is this process's with `options.env` on top, or exactly `options.env` with `inheritEnv: false`.
 */
export function runCommand(command: string, args: readonly string[], options: JobOptions & { inheritEnv?: boolean } = {}): Promise<JobResult> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: repoRoot,
      env: options.inheritEnv === false ? { ...options.env } : { ...process.env, ...options.env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${command} ${args.join(" ")} did not finish within ${options.timeoutMs ?? 45_000} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, options.timeoutMs ?? 45_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      const records: Record<string, unknown>[] = [];
      for (const line of stdout.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          records.push(JSON.parse(line) as Record<string, unknown>);
        } catch {
          // not a record
        }
      }
      resolve({ code, stdout, stderr, records, elapsedMs: performance.now() - started });
    });
  });
}

/** The records with `kind === kind`, sorted by `pe`. */
export function recordsOf(result: JobResult, kind: string): Record<string, unknown>[] {
  return result.records.filter((r) => r["kind"] === kind).sort((a, b) => Number(a["pe"]) - Number(b["pe"]));
}

/** The records of `kind`, exactly one per PE of a `pes`-PE job, in PE order (the test fails otherwise). */
export function onePerPe(result: JobResult, kind: string, pes: number): Record<string, unknown>[] {
  const records = recordsOf(result, kind);
  expect(records.map((r) => r["pe"]), `one "${kind}" record per PE`).toEqual([...Array(pes).keys()]);
  return records;
}

/** Checks the "placement" records ({ process, numProcesses } per PE): PEs p·T..p·T+T-1 ran in process p of `procs`. */
export function expectPlacement(result: JobResult, pes: number, procs: number): void {
  const placement = onePerPe(result, "placement", pes).map((r) => [r["process"], r["numProcesses"]]);
  expect(placement).toEqual([...Array(pes).keys()].map((p) => [Math.floor(p / (pes / procs)), procs]));
}
