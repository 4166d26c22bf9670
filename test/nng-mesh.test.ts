// connectMesh across real processes (test/fixtures/nng-mesh-peer.ts), placed by SHOAL_RANK and
// SHOAL_SIZE as a launcher would: meshes of 1, 2, 3 and 5 processes over ipc:// and tcp://, an
// outsider that attacks the job's listeners, a rank with the wrong job token, and a rank killed.
import { spawn } from "node:child_process";
import { readdirSync, rmSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { afterAll, afterEach, describe, expect, it } from "vitest";

import { readConfig } from "../src/config/index.js";
import { connectMesh } from "../src/lamellae/index.js";
import { nngSkipReason } from "./fixtures/nng-support.js";

const peerPath = fileURLToPath(new URL("./fixtures/nng-mesh-peer.ts", import.meta.url));
const token = "shoal-test-token-0123456789abcdef"; // fixed: the tests are deterministic
let jobs = 0;

type JsonRecord = Record<string, unknown>;

interface Proc {
  readonly pid: number;
  readonly records: JsonRecord[];
  next(kind: string): Promise<JsonRecord>;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>;
  kill(signal: NodeJS.Signals): void;
}

const started: Proc[] = [];
afterEach(() => {
  for (const proc of started.splice(0)) proc.kill("SIGKILL");
});
afterAll(() => {
  // Socket files of the processes killed on purpose (a closed listener removes its own).
  for (const name of readdirSync("/tmp")) if (name.startsWith(`shoal-mesh-test-${process.pid}-`)) rmSync(`/tmp/${name}`, { force: true });
});

function startProc(args: string[], env: Record<string, string>): Proc {
  const child = spawn(process.execPath, ["--import", "tsx", peerPath, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  const records: JsonRecord[] = [];
  const waiting: { kind: string; resolve(record: JsonRecord): void; reject(error: Error): void }[] = [];
  let buffered = "";
  let stderr = "";
  child.stdout.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const line = buffered.slice(0, end);
      buffered = buffered.slice(end + 1);
      if (!line.startsWith("{")) continue;
      const record = JSON.parse(line) as JsonRecord;
      records.push(record);
      for (const waiter of waiting.filter((w) => w.kind === record["kind"])) {
        waiting.splice(waiting.indexOf(waiter), 1);
        waiter.resolve(record);
      }
    }
  });
  child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    child.on("close", (code, signal) => {
      for (const waiter of waiting.splice(0)) waiter.reject(new Error(`process ${args.join(" ")} ended (${code ?? signal}) before a "${waiter.kind}" record: ${JSON.stringify(records)} ${stderr}`));
      resolve({ code, signal, stderr });
    });
  });
  const proc: Proc = {
    pid: child.pid!,
    records,
    next: (kind) => {
      const found = records.find((record) => record["kind"] === kind);
      if (found !== undefined) return Promise.resolve(found);
      if (child.exitCode !== null || child.signalCode !== null) return Promise.reject(new Error(`process ended before a "${kind}" record: ${JSON.stringify(records)} ${stderr}`));
      return new Promise((resolve, reject) => waiting.push({ kind, resolve, reject }));
    },
    exited,
    kill: (signal) => void child.kill(signal),
  };
  started.push(proc);
  return proc;
}

type Transport = "ipc" | "tcp";

interface JobOptions {
  readonly mode: "exchange" | "wait-lost";
  readonly transport: Transport;
  readonly size: number;
  readonly timeoutMs?: number;
  /** The token of each rank (default: the job's). */
  readonly tokenOf?: (rank: number) => string;
  /** Ranks not to start yet: the test starts them with {@link Job.start}. */
  readonly deferred?: readonly number[];
}

interface Job {
  readonly procs: Proc[];
  readonly root: string;
  /** Starts a deferred rank. */
  start(rank: number): void;
  /** Every rank's listen address, as it was given (ipc) or reported (tcp). */
  listenOf(rank: number): Promise<string>;
}

function listenArg(transport: Transport, job: number, rank: number): string {
  return transport === "ipc" ? `ipc:///tmp/shoal-mesh-test-${process.pid}-${job}-${rank}.sock` : "tcp://127.0.0.1:0";
}

/** Starts the processes of a job; rank 0 first, and over tcp:// the others once it reported its port. */
async function startJob(options: JobOptions): Promise<Job> {
  const job = ++jobs;
  const procs: Proc[] = [];
  const envOf = (rank: number, root: string): Record<string, string> => ({
    SHOAL_RANK: String(rank),
    SHOAL_SIZE: String(options.size),
    SHOAL_ROOT: root,
    SHOAL_JOB_TOKEN: options.tokenOf?.(rank) ?? token,
    SHOAL_CONNECT_TIMEOUT_MS: String(options.timeoutMs ?? 15_000),
  });
  let root = options.transport === "ipc" ? listenArg("ipc", job, 0) : "tcp://127.0.0.1:0";
  procs[0] = startProc([options.mode], envOf(0, root));
  if (options.transport === "tcp" && options.size > 1) root = (await procs[0].next("listening"))["address"] as string;
  const start = (rank: number): void => {
    procs[rank] = startProc([options.mode, listenArg(options.transport, job, rank)], envOf(rank, root));
  };
  for (let rank = 1; rank < options.size; rank++) if (!options.deferred?.includes(rank)) start(rank);
  return {
    procs,
    root,
    start,
    listenOf: async (rank) => (options.transport === "ipc" ? listenArg("ipc", job, rank) : ((await procs[rank]!.next("listening"))["address"] as string)),
  };
}

describe("the mesh's configuration", () => {
  it("reads SHOAL_ROOT, SHOAL_JOB_TOKEN and SHOAL_CONNECT_TIMEOUT_MS, and says what is wrong with a bad one", () => {
    expect(readConfig({})).toMatchObject({ root: undefined, jobToken: undefined, connectTimeoutMs: 30_000 });
    expect(readConfig({ SHOAL_ROOT: "tcp://10.0.0.1:5000", SHOAL_JOB_TOKEN: token, SHOAL_CONNECT_TIMEOUT_MS: "500" })).toMatchObject({ root: "tcp://10.0.0.1:5000", jobToken: token, connectTimeoutMs: 500 });
    expect(readConfig({ SHOAL_ROOT: "ipc:///tmp/job-7-root" }).root).toBe("ipc:///tmp/job-7-root");
    expect(() => readConfig({ SHOAL_ROOT: "10.0.0.1:5000" })).toThrow(/SHOAL_ROOT: expected ipc:\/\/\/path or tcp:\/\/host:port, got "10\.0\.0\.1:5000"/);
    expect(() => readConfig({ SHOAL_JOB_TOKEN: "secret" })).toThrow(/SHOAL_JOB_TOKEN: expected at least 16 characters, got 6/);
    expect(() => readConfig({ SHOAL_CONNECT_TIMEOUT_MS: "0" })).toThrow(/SHOAL_CONNECT_TIMEOUT_MS: expected an integer of at least 1/);
  });
});

describe.skipIf(nngSkipReason !== undefined)(`connectMesh across processes${nngSkipReason === undefined ? "" : ` (skipped: ${nngSkipReason})`}`, () => {
  for (const transport of ["ipc", "tcp"] as const) {
    for (const size of [1, 2, 3, 5]) {
      it(`forms a mesh of ${size} process${size === 1 ? "" : "es"} over ${transport}://, and every rank gets every other rank's message`, async () => {
        const job = await startJob({ mode: "exchange", transport, size });
        const results = await Promise.all(job.procs.map((proc) => proc.next("result")));
        const exits = await Promise.all(job.procs.map((proc) => proc.exited));
        results.forEach((result, rank) => {
          expect(result).toMatchObject({ rank, wrong: [], rejected: 0, received: [...Array(size).keys()].filter((other) => other !== rank) });
        });
        expect(exits.map((exit) => exit.code)).toEqual(Array(size).fill(0));
        const formed = await Promise.all(job.procs.map((proc) => proc.next("formed")));
        for (const record of formed) expect(record["addresses"]).toEqual(formed[0]!["addresses"]); // one table for all
      });
    }
  }

  it("refuses an outsider's garbage, wrong token and oversized first message at root and at a rank, and the job still completes", async () => {
    // Ranks 0 and 1 start and listen; the outsider attacks both; then rank 2 starts.
    const job = await startJob({ mode: "exchange", transport: "ipc", size: 3, deferred: [2] });
    const outsider = startProc(["outsider", job.root, await job.listenOf(1)], {});
    await outsider.next("outsider-done");
    job.start(2);
    const attacks = outsider.records.filter((record) => record["kind"] === "attack");
    expect(attacks).toHaveLength(10);
    expect(attacks.filter((record) => record["closed"] !== true)).toEqual([]);
    const results = await Promise.all(job.procs.map((proc) => proc.next("result")));
    for (const [rank, result] of results.entries()) expect(result).toMatchObject({ rank, wrong: [] });
    expect(results[0]!["rejected"]).toBe(5);
    expect(results[1]!["rejected"]).toBe(5);
    expect(results[2]!["rejected"]).toBe(0);
    expect((await Promise.all(job.procs.map((proc) => proc.exited))).map((exit) => exit.code)).toEqual([0, 0, 0]);
    expect((await outsider.exited).code).toBe(0);
  });

  it("fails the job with a clear error, not a hang, when one rank has another job token", async () => {
    const job = await startJob({ mode: "exchange", transport: "ipc", size: 3, timeoutMs: 3000, tokenOf: (rank) => (rank === 2 ? "another-token-entirely-0000" : token) });
    const errors = await Promise.all(job.procs.map((proc) => proc.next("error")));
    expect(errors[2]!["message"]).toMatch(/rank 2: the handshake with rank 0 \(root\) at ipc:.* failed: .*SHOAL_JOB_TOKEN/);
    expect(errors[0]!["message"]).toMatch(/rank 0 \(root at ipc:.*\): rank 2 of 3 never said hello within 3000 ms .*1 connection was refused/);
    expect(errors[1]!["message"]).toMatch(/rank 1: root gave up: rank 0 .*rank 2 of 3 never said hello/);
    expect((await Promise.all(job.procs.map((proc) => proc.exited))).map((exit) => exit.code)).toEqual([1, 1, 1]);
  });

  it("reports a rank killed with SIGKILL after the mesh formed to every other rank's onLost, naming it, within 5 s", async () => {
    const job = await startJob({ mode: "wait-lost", transport: "ipc", size: 3 });
    await Promise.all(job.procs.map((proc) => proc.next("formed")));
    job.procs[1]!.kill("SIGKILL");
    const killed = performance.now();
    const lost = await Promise.all([job.procs[0]!.next("lost"), job.procs[2]!.next("lost")]);
    expect(performance.now() - killed).toBeLessThan(5000); // the issue's bound, not a speed claim
    for (const record of lost) expect(record).toMatchObject({ rank: 1, reason: expect.stringMatching(/peer closed the connection, or its process ended/) });
    job.procs[2]!.kill("SIGKILL");
    expect((await job.procs[0]!.exited).code).toBe(0); // it lost both and closed: no hang
  });

  it("rejects bad options on the calling process before it connects", async () => {
    const base = { rank: 0, size: 2, root: "ipc:///tmp/shoal-mesh-test-never", token, timeoutMs: 1000, onMessage: () => {}, onLost: () => {} };
    await expect(connectMesh({ ...base, token: "short" })).rejects.toThrow(/at least 16 bytes/);
    await expect(connectMesh({ ...base, rank: 2 })).rejects.toThrow(/rank to be an integer in 0\.\.1, got 2/);
    await expect(connectMesh({ ...base, root: "http://x" })).rejects.toThrow(/ipc:\/\/ or tcp:\/\//);
    await expect(connectMesh({ ...base, size: 3, rank: 1 })).rejects.toThrow(/needs a listen address/);
  });

  it("fails every rank with a clear error when two processes claim the same rank", async () => {
    // In this process: root of 3, and two meshes that both say rank 1.
    const root = `ipc:///tmp/shoal-mesh-test-${process.pid}-twice-0.sock`;
    const base = { size: 3, root, token, timeoutMs: 10_000, onMessage: () => {}, onLost: () => {} };
    const results = await Promise.allSettled([
      connectMesh({ ...base, rank: 0 }),
      connectMesh({ ...base, rank: 1, listen: `ipc:///tmp/shoal-mesh-test-${process.pid}-twice-1a.sock` }),
      connectMesh({ ...base, rank: 1, listen: `ipc:///tmp/shoal-mesh-test-${process.pid}-twice-1b.sock` }),
    ]);
    const reasons = results.map((result) => (result.status === "rejected" ? String((result.reason as Error).message) : "formed"));
    expect(reasons[0]).toMatch(/^rank 0: rank 1 connected twice: two processes have the same rank; check .*SHOAL_RANK/);
    // The one root authenticated hears root's reason; the one it refused, that root refused it.
    expect(reasons.slice(1).sort()).toEqual([
      expect.stringMatching(/^rank 1: root gave up: rank 0: rank 1 connected twice/),
      expect.stringMatching(/^rank 1: the handshake with rank 0 \(root\) at ipc:.* failed: .*it refused rank 1/),
    ]);
  });

  it("times out on a rank that cannot reach root, naming the address", async () => {
    const error = await connectMesh({ rank: 1, size: 2, root: `ipc:///tmp/shoal-mesh-test-${process.pid}-nobody.sock`, token, timeoutMs: 300, onMessage: () => {}, onLost: () => {} }).catch((thrown: unknown) => thrown);
    expect(error).toMatchObject({ name: "TransportError", message: expect.stringMatching(/rank 1: .*rank 0 \(root\) at ipc:\/\/\/tmp\/shoal-mesh-test-\d+-nobody\.sock/) });
  });
});
