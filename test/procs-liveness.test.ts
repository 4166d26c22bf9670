// The IO workers between the processes of a job: heartbeats find a process that is alive but
// silent (SIGSTOP stands for a hung host or a partition), and never one that only computes or
// stops for less than the timeout; back-pressure engages when a process floods another that reads
// nothing, and loses nothing. Fixtures: procs-work.ts, heartbeat-busy.ts, io-flood.ts.
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { readConfig } from "../src/config/index.js";
import { onePerPe, runJob } from "./helpers/job.js";
import { alive, pollUntil, procsWorkSum, watch } from "./helpers/watch.js";

const fixture = (name: string): string => fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url));
/** Heartbeats every 100 ms; a process silent for 1.5 s is lost. */
const kFastHeartbeats = { SHOAL_HEARTBEAT_MS: "100", SHOAL_HEARTBEAT_TIMEOUT_MS: "1500" };

/** The IO workers' counters that SHOAL_IO_STATS=1 printed, by process; and the other lines of stderr. */
function ioStats(stderr: string): { counters: Map<number, Record<string, number>>; rest: string[] } {
  const counters = new Map<number, Record<string, number>>();
  const rest: string[] = [];
  for (const line of stderr.split("\n")) {
    const match = /^shoal: IO worker of process (\d+) of \d+: (\{.*\})$/.exec(line);
    if (match !== null) counters.set(Number(match[1]), JSON.parse(match[2]!) as Record<string, number>);
    else if (line !== "") rest.push(line);
  }
  return { counters, rest };
}

describe("SHOAL_HEARTBEAT_MS and SHOAL_HEARTBEAT_TIMEOUT_MS", () => {
  it("default to 1000 and 10 intervals, 0 turns both off, and a timeout under 2 intervals is refused", () => {
    expect(readConfig({})).toMatchObject({ heartbeatMs: 1000, heartbeatTimeoutMs: 10_000, ioStats: false });
    expect(readConfig({ SHOAL_HEARTBEAT_MS: "250" })).toMatchObject({ heartbeatMs: 250, heartbeatTimeoutMs: 2500 });
    expect(readConfig({ SHOAL_HEARTBEAT_MS: "100", SHOAL_HEARTBEAT_TIMEOUT_MS: "1000", SHOAL_IO_STATS: "1" })).toMatchObject({ heartbeatMs: 100, heartbeatTimeoutMs: 1000, ioStats: true });
    expect(readConfig({ SHOAL_HEARTBEAT_MS: "0", SHOAL_HEARTBEAT_TIMEOUT_MS: "5" })).toMatchObject({ heartbeatMs: 0, heartbeatTimeoutMs: 0 });
    expect(() => readConfig({ SHOAL_HEARTBEAT_MS: "500", SHOAL_HEARTBEAT_TIMEOUT_MS: "900" })).toThrow(/SHOAL_HEARTBEAT_TIMEOUT_MS: expected at least twice SHOAL_HEARTBEAT_MS \(1000 ms\), got 900/);
    expect(() => readConfig({ SHOAL_HEARTBEAT_MS: "-1" })).toThrow(/SHOAL_HEARTBEAT_MS: expected an integer of at least 0/);
    expect(() => readConfig({ SHOAL_IO_STATS: "yes" })).toThrow(/SHOAL_IO_STATS: expected one of 0, 1/);
  });
});

describe("heartbeats between processes", () => {
  it("a process stopped with SIGSTOP is taken for lost by every other process, which exit non-zero naming it, and none is left behind", async () => {
    const job = watch(["run", "-n", "3", "--procs", "3", fixture("procs-work.ts"), "60000"], kFastHeartbeats);
    const ready = await job.until("ready", 3);
    const pidOf = (process: number): number => Number(ready.find((r) => r["process"] === process)!["pid"]);
    const [first, victim, last] = [pidOf(0), pidOf(1), pidOf(2)];
    process.kill(victim, "SIGSTOP");
    try {
      // Lost after 1.5 s of silence, then each ends within SHOAL_ABORT_GRACE_MS (2 s) and its IO
      // worker's last drain (2 s): 15 s is for a loaded machine.
      const othersEnded = await pollUntil(() => !alive(first) && !alive(last), 15_000);
      expect(othersEnded, `processes 0 and 2 still run 15 s after process 1 stopped; stderr:\n${job.stderr}`).toBe(true);
      const { code } = await job.exited; // the launcher kills the stopped one a grace period later
      expect(code).not.toBe(0);
      for (const rank of [0, 2]) {
        expect(job.stderr).toMatch(new RegExp(`shoal: process ${rank}: process 1 \\(PEs 1\\.\\.1\\) was lost: no message for \\d+ ms \\(SHOAL_HEARTBEAT_TIMEOUT_MS=1500\\)`));
      }
    } finally {
      if (alive(victim)) {
        process.kill(victim, "SIGCONT");
        process.kill(victim, "SIGKILL");
      }
    }
    await pollUntil(() => ![first, victim, last, job.pid].some(alive), 5000);
    expect([first, victim, last, job.pid].filter(alive), "processes of the job left running").toEqual([]);
  });

  it("a process stopped for less than the timeout is not taken for lost: the job finishes, every reply right", async () => {
    const env = { SHOAL_HEARTBEAT_MS: "100", SHOAL_HEARTBEAT_TIMEOUT_MS: "5000" };
    const job = watch(["run", "-n", "4", "--procs", "2", fixture("procs-work.ts"), "4000"], env);
    const ready = await job.until("ready", 4);
    const victim = Number(ready.find((r) => r["process"] === 1)!["pid"]);
    // 1 s without a heartbeat (10 intervals), a fifth of the timeout.
    process.kill(victim, "SIGSTOP");
    await new Promise((resolve) => setTimeout(resolve, 1000));
    process.kill(victim, "SIGCONT");
    const { code } = await job.exited;
    expect(job.stderr).toBe("");
    expect(code).toBe(0);
    const done = job.records.filter((r) => r["kind"] === "done").sort((a, b) => Number(a["pe"]) - Number(b["pe"]));
    expect(done.map((r) => r["pe"])).toEqual([0, 1, 2, 3]);
    for (const record of done) expect(record["sum"]).toBe(procsWorkSum(Number(record["calls"])));
  });

  it("a PE that computes for 4 s, longer than twice the timeout, does not get its process taken for lost: its IO worker keeps sending heartbeats", async () => {
    const job = await runJob(2, "heartbeat-busy.ts", { procs: 2, args: ["4000"], env: { ...kFastHeartbeats, SHOAL_IO_STATS: "1" } });
    const { counters, rest } = ioStats(job.stderr);
    expect(rest).toEqual([]);
    expect(job.code).toBe(0);
    expect(onePerPe(job, "done", 2).map((r) => r["busy"])).toEqual([false, true]);
    // Nothing else went between the processes for 4 s: heartbeats did, both ways.
    expect(counters.get(1)?.["heartbeatsOut"]).toBeGreaterThan(0);
    expect(counters.get(0)?.["heartbeatsIn"]).toBeGreaterThan(0);
  });
});

describe("back-pressure between two processes", () => {
  it("a PE that floods a PE of another process that reads nothing for 4 s congests the link, and every message arrives once, in order and intact", async () => {
    // The flooded process's IO worker waits on its PE's full ring for most of those 4 s, more than
    // twice the heartbeat timeout: it must send its heartbeats from that wait.
    const job = await runJob(2, "io-flood.ts", { procs: 2, args: ["4000"], env: { ...kFastHeartbeats, SHOAL_IO_STATS: "1" }, timeoutMs: 90_000 });
    const { counters, rest } = ioStats(job.stderr);
    expect(rest).toEqual([]);
    expect(job.code).toBe(0);
    const [sender, receiver] = onePerPe(job, "flood", 2);
    expect(receiver!["received"]).toBe(sender!["messages"]);
    expect(receiver!["outOfOrder"]).toBe(0);
    expect(receiver!["corrupt"]).toBe(0);
    expect(counters.get(0)?.["congestions"], "times the link of process 0 to process 1 was congested").toBeGreaterThan(0);
  });
});
