// Jobs of several processes as a user starts them: `shoal run --procs`, and `mpirun … shoal exec`
// (Open MPI); the loss of a process (kill -9) mid-run; and connections from outside the job.
import { existsSync } from "node:fs";
import { connect } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { cli, onePerPe, runCommand, type JobResult } from "./helpers/job.js";
import { alive, pollUntil, procsWorkSum as expectedSum, watch } from "./helpers/watch.js";

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
const kMpiEnv = { OMPI_ALLOW_RUN_AS_ROOT: "1", OMPI_ALLOW_RUN_AS_ROOT_CONFIRM: "1", OMPI_MCA_rmaps_base_oversubscribe: "1" };

function checkDone(job: JobResult, pes: number): void {
  expect(job.stderr).toBe("");
  expect(job.code).toBe(0);
  for (const record of onePerPe(job, "done", pes)) {
    expect(record["calls"]).toBeGreaterThan(0);
    expect(record["sum"]).toBe(expectedSum(Number(record["calls"])));
  }
}

describe("shoal run --procs", () => {
  it("runs 2 processes of 2 PEs: PEs 0-1 in process 0, 2-3 in process 1", async () => {
    const job = await runCommand(process.execPath, [cli, "run", "-n", "4", "--procs", "2", fixture("procs-work.ts"), "300"]);
    checkDone(job, 4);
    const ready = onePerPe(job, "ready", 4);
    expect(ready.map((r) => r["process"])).toEqual([0, 0, 1, 1]);
    expect(new Set(ready.map((r) => r["pid"])).size).toBe(2);
    expect(String(ready[0]!["root"])).toMatch(/^ipc:\/\//);
  });

  it("refuses -n that --procs does not divide, and a bad --procs", async () => {
    const uneven = await runCommand(process.execPath, [cli, "run", "-n", "3", "--procs", "2", fixture("procs-work.ts")]);
    expect(uneven.code).toBe(2);
    expect(uneven.stderr).toContain("cannot be shared evenly by --procs 2");
    const bad = await runCommand(process.execPath, [cli, "run", "-n", "2", "--procs", "zero", fixture("procs-work.ts")]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--procs expects a positive integer");
  });
});

describe("the stream between two processes cut at any SHOAL_MTU", () => {
  const examples = ["03-array-sum.ts", "04-scan.ts"];
  it.each(examples)("gives %s the output of one process, with SHOAL_MTU 64 and the default", async (example) => {
    const path = fileURLToPath(new URL(`../examples/${example}`, import.meta.url));
    const lines = (job: JobResult): string[] => job.stdout.split("\n").filter((line) => line !== "").sort();
    const single = await runCommand(process.execPath, [cli, "run", "-n", "4", path]);
    expect(single.code).toBe(0);
    for (const mtu of ["64", ""]) {
      const job = await runCommand(process.execPath, [cli, "run", "-n", "4", "--procs", "2", path], { env: { SHOAL_MTU: mtu } });
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
      expect(lines(job)).toEqual(lines(single));
    }
  });
});

describe("far array operations across processes", () => {
  /** What PE 0 reads back after each step of far-ops.ts, computed here. */
  function oracle(n: number): number[][] {
    const put = Array.from({ length: n }, (_, k) => k * 3 - 7);
    const added = put.map((v) => v + 2 * 4); // every local index is hit 4 times by (k * 7919) % n, k < 4n
    return [put, added, [added[0]!, added[1]!, added[0]! + 5], new Array<number>(n).fill(4), Array.from({ length: n }, (_, k) => k / 4)];
  }
  const bigSum = 100 * (999 * 1000) / 2; // 100 000 values k % 1000

  it("are applied by the owner's IO worker, without waking the owner PE, with the results of one process", async () => {
    const far = await runCommand(process.execPath, [cli, "run", "-n", "2", "--procs", "2", fixture("far-ops.ts")]);
    expect(far.stderr).toBe("");
    expect(far.code).toBe(0);
    const [pe0, pe1] = onePerPe(far, "far", 2);
    expect(pe0!["parts"]).toEqual(oracle(1000));
    expect(pe0!["bigSum"]).toBe(bigSum);
    expect(pe1!["handled"], "requests PE 1's own engine handled").toBe(0);
    // In one process, with every operation as a message, PE 1 handles them itself: same results.
    const messages = await runCommand(process.execPath, [cli, "run", "-n", "2", fixture("far-ops.ts")], { env: { SHOAL_ARRAY_OPS: "am" } });
    expect(messages.code).toBe(0);
    const [one0, one1] = onePerPe(messages, "far", 2);
    expect(one0!["parts"]).toEqual(oracle(1000));
    expect(one0!["bigSum"]).toBe(bigSum);
    expect(one1!["handled"]).toBeGreaterThanOrEqual(9);
  });
});

describe("mpirun (Open MPI) places the processes", () => {
  it("mpirun -n 2 shoal exec --pes-per-proc 2: one job of 4 PEs, meeting by the job's id on this host", async () => {
    const job = await runCommand("mpirun", ["-n", "2", "--bind-to", "none", process.execPath, cli, "exec", "--pes-per-proc", "2", fixture("procs-work.ts"), "300"], {
      env: kMpiEnv, timeoutMs: 60_000,
    });
    checkDone(job, 4);
    expect(onePerPe(job, "ready", 4).map((r) => r["process"])).toEqual([0, 0, 1, 1]);
  });

  it("mpirun -n 3 shoal exec: 3 processes of one PE", async () => {
    const job = await runCommand("mpirun", ["-n", "3", "--bind-to", "none", process.execPath, cli, "exec", fixture("procs-work.ts"), "300"], {
      env: kMpiEnv, timeoutMs: 60_000,
    });
    checkDone(job, 3);
  });
});

describe("a process lost mid-run", () => {
  it.each(["SIGKILL", "SIGTERM"] as const)("%s of process 1 ends every other process non-zero within 5 s, naming it, and leaves none behind", async (signal) => {
    const job = watch(["run", "-n", "4", "--procs", "2", fixture("procs-work.ts"), "60000"]);
    const ready = await job.until("ready", 4);
    const pids = [...new Set(ready.map((r) => Number(r["pid"])))];
    const victim = Number(ready.find((r) => r["process"] === 1)!["pid"]);
    const killedAt = performance.now();
    process.kill(victim, signal);
    const { code, at } = await job.exited;
    expect(code).not.toBe(0);
    expect(at - killedAt).toBeLessThan(5000);
    expect(job.stderr).toContain("process 1 (PEs 2..3) was lost");
    expect(job.stderr).toContain(`process 1 (pid ${victim}) was killed by ${signal}`);
    for (const pid of [...pids, job.pid]) expect(alive(pid), `process ${pid} is gone`).toBe(false);
  });
});

describe("a launcher killed mid-run", () => {
  it("kill -9 of shoal run --procs ends its processes within 5 s, and they remove the job's private ipc directory", async () => {
    const job = watch(["run", "-n", "4", "--procs", "2", fixture("procs-work.ts"), "60000"]);
    const ready = await job.until("ready", 4);
    const pids = [...new Set(ready.map((r) => Number(r["pid"])))];
    expect(pids).toHaveLength(2);
    const dir = dirname(String(ready[0]!["root"]).replace(/^ipc:\/\//, ""));
    expect(existsSync(dir), `the job's directory ${dir} exists while it runs`).toBe(true);
    process.kill(job.pid, "SIGKILL");
    await job.exited;
    await pollUntil(() => !pids.some(alive), 5000);
    const left = pids.filter(alive);
    for (const pid of left) process.kill(pid, "SIGKILL"); // so that a failure leaves nothing running
    expect(left, "processes still running 5 s after their launcher was killed").toEqual([]);
    // They removed it on their way out; a moment more only for a loaded machine's file system.
    await pollUntil(() => !existsSync(dir), 2000);
    expect(existsSync(dir), `${dir} is left behind`).toBe(false);
  });
});

describe("connections from outside the job", () => {
  it("are refused and counted, and the job finishes correctly", async () => {
    const job = watch(["run", "-n", "2", "--procs", "2", fixture("procs-work.ts"), "1500"]);
    const ready = await job.until("ready", 2);
    const path = String(ready[0]!["root"]).replace(/^ipc:\/\//, "");
    // Seeded garbage, then a plausible-looking handshake record with a wrong MAC.
    let seed = 0x5eed;
    const garbage = Buffer.alloc(4096);
    for (let i = 0; i < garbage.length; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0;
      garbage[i] = seed >>> 24;
    }
    const closedByJob = await Promise.all([0, 1].map((attempt) => new Promise<boolean>((resolve) => {
      const socket = connect(path);
      socket.on("connect", () => socket.write(attempt === 0 ? garbage : Buffer.concat([Buffer.from([64, 0, 0, 0]), Buffer.from("SHML"), garbage.subarray(0, 60)])));
      socket.on("error", () => resolve(true));
      socket.on("close", () => resolve(true));
      setTimeout(() => {
        socket.destroy();
        resolve(false);
      }, 10_000).unref();
    })));
    expect(closedByJob).toEqual([true, true]);
    const { code } = await job.exited;
    expect(code).toBe(0);
    const done = job.records.filter((r) => r["kind"] === "done").sort((a, b) => Number(a["pe"]) - Number(b["pe"]));
    expect(done.map((r) => r["pe"])).toEqual([0, 1]);
    for (const record of done) expect(record["sum"]).toBe(expectedSum(Number(record["calls"])));
    expect(job.stderr).toMatch(/process 0 refused 2 connections/);
  });
});
