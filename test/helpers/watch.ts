/**
 * Watches a running `shoal` command (for tests that act on a job while it runs: kill one of its
 * processes, stop it, connect to it), and the processes of a job.
 */
import { spawn } from "node:child_process";

import { cli, repoRoot } from "./job.js";

/** Whether a process with this pid still exists. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `condition` every 50 ms until it holds (true) or `timeoutMs` has passed (false). */
export async function pollUntil(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** Sum of the replies a PE of procs-work.ts gets for `calls` calls of next(x) = x + 1 with x = 0, 1, …. */
export const procsWorkSum = (calls: number): number => (calls * (calls - 1)) / 2 + calls;

/** A running `shoal` command, seen from a test. */
export interface Watched {
  readonly records: Record<string, unknown>[];
  stderr: string;
  readonly exited: Promise<{ code: number | null; at: number }>;
  readonly pid: number;
  /** Resolves once `count` records of `kind` have been printed. */
  until(kind: string, count: number): Promise<Record<string, unknown>[]>;
}

/** Starts `shoal ARGS` and watches its output line by line. */
export function watch(args: readonly string[], env: Record<string, string> = {}): Watched {
  const child = spawn(process.execPath, [cli, ...args], { cwd: repoRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const records: Record<string, unknown>[] = [];
  const waiters: (() => void)[] = [];
  let buffered = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, newline);
      buffered = buffered.slice(newline + 1);
      if (line.startsWith("{")) records.push(JSON.parse(line) as Record<string, unknown>);
    }
    for (const waiter of waiters.splice(0)) waiter();
  });
  const watched: Watched = {
    records,
    stderr: "",
    pid: child.pid!,
    exited: new Promise((resolve) => child.on("exit", (code) => resolve({ code, at: performance.now() }))),
    until: (kind, count) =>
      new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${count} "${kind}" records within 30 s; stderr:\n${watched.stderr}`)), 30_000);
        const check = (): void => {
          const found = records.filter((r) => r["kind"] === kind);
          if (found.length >= count) {
            clearTimeout(timer);
            resolve(found);
          } else {
            waiters.push(check);
          }
        };
        check();
      }),
  };
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (watched.stderr += chunk));
  return watched;
}
