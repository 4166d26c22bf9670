// The message-size histogram (SHOAL_HISTOGRAM, ParaStation MPI's PSP_HISTOGRAM): world.stats()
// and the table each process prints at exit count every frame a PE sent, by size and connection
// type. test/fixtures/histogram.ts sends one request frame per size of its plan from each PE to
// the next, one at a time, and each request gets a one-frame reply; the expected counts are
// computed here from that plan, with ParaStation's bins.
import { createServer } from "node:net";

import { describe, expect, it } from "vitest";

import { onePerPe, runCli, runCommand, runJob, type JobResult } from "./helpers/job.js";

type ConnectionType = "shm" | "ipc" | "tcp" | "gw";
const kTypes: readonly ConnectionType[] = ["shm", "ipc", "tcp", "gw"];

interface Settings {
  min: number;
  max: number;
  shift: number;
  contype?: ConnectionType;
}
const kDefaults: Settings = { min: 64, max: 64 * 1024 * 1024, shift: 1 };

/**
 * A frame is its payload plus less than this many bytes of headers and encoding; a reply without
 * a value is a frame of less than this. The fixture's records check it.
 */
const kOverhead = 64;

/** Payload sizes: empty, in several bins, two in one bin, above the aggregation threshold (32 KiB), and large enough to travel by reference (64 KiB). */
const kSizes = [0, 150, 700, 1500, 1500, 3000, 40_000, 100_000];

/** ParaStation's bins: MIN, then each shifted left by SHIFT while the previous is below MAX. */
function binsOf(settings: Settings): number[] {
  const bins = [settings.min];
  while (bins.at(-1)! < settings.max) bins.push(bins.at(-1)! * 2 ** settings.shift);
  return bins;
}

/** The bin of a frame of `bytes`: the first bound it does not exceed, else the last bin. */
function binOf(bins: readonly number[], bytes: number): number {
  const bin = bins.findIndex((bound) => bytes <= bound);
  return bin < 0 ? bins.length - 1 : bin;
}

/** The bin of a frame carrying `payload` bytes, which must not depend on the frame's overhead. */
function frameBin(bins: readonly number[], payload: number): number {
  const bin = binOf(bins, payload + 1);
  expect(binOf(bins, payload + kOverhead - 1), `the plan's payload of ${payload} bytes lies in one bin whatever its frame's overhead`).toBe(bin);
  return bin;
}

interface Shape {
  pes: number;
  procs: number;
  /** `--modules`: processes p·M/P.. are in module floor(p·M/P). */
  modules?: number;
}

/** Per PE, the counts its histogram must show after the fixture ran with `sizes` on `shape`. */
function expectedCounts(shape: Shape, settings: Settings, sizes: readonly number[]): Record<ConnectionType, number[]>[] {
  const bins = binsOf(settings);
  const perProcess = shape.pes / shape.procs;
  const processOf = (pe: number) => Math.floor(pe / perProcess);
  const moduleOf = (pe: number) => Math.floor((processOf(pe) * (shape.modules ?? 1)) / shape.procs);
  const typeOf = (from: number, to: number): ConnectionType =>
    processOf(from) === processOf(to) ? "shm" : moduleOf(from) === moduleOf(to) ? "ipc" : "gw";
  return Array.from({ length: shape.pes }, (_, pe) => {
    const counts = Object.fromEntries(kTypes.map((type) => [type, bins.map(() => 0)])) as Record<ConnectionType, number[]>;
    const next = (pe + 1) % shape.pes;
    const previous = (pe + shape.pes - 1) % shape.pes;
    for (const size of sizes) counts[typeOf(pe, next)][frameBin(bins, size)]!++;
    // One reply for each request of the previous PE (this PE's own, with one PE).
    for (let k = 0; k < sizes.length; k++) counts[typeOf(pe, previous)][frameBin(bins, 0)]!++;
    if (settings.contype !== undefined) for (const type of kTypes) if (type !== settings.contype) counts[type].fill(0);
    return counts;
  });
}

function envOf(settings: Settings): Record<string, string> {
  return {
    SHOAL_HISTOGRAM: "1",
    SHOAL_HISTOGRAM_MIN: String(settings.min),
    SHOAL_HISTOGRAM_MAX: String(settings.max),
    SHOAL_HISTOGRAM_SHIFT: String(settings.shift),
    SHOAL_HISTOGRAM_CONTYPE: settings.contype ?? "",
  };
}

function runFixture(shape: Shape, env: Record<string, string>, sizes: readonly number[] = kSizes): Promise<JobResult> {
  const args = [sizes.join(",")];
  if (shape.modules === undefined) return runJob(shape.pes, "histogram.ts", { procs: shape.procs, args, env });
  const fixture = new URL("./fixtures/histogram.ts", import.meta.url).pathname;
  return runCli(["run", "-n", String(shape.pes), "--procs", String(shape.procs), "--modules", String(shape.modules), fixture, ...args], { env });
}

/** A TCP port that was free a moment ago, for a job's root address. */
function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

interface HistogramRecord {
  bins: number[];
  counts: Record<ConnectionType, number[]>;
  settings: { min: number; max: number; shift: number; contype?: ConnectionType };
}

/** Each PE's world.stats().histogram, in PE order. */
function histograms(job: JobResult, pes: number): (HistogramRecord | null)[] {
  return onePerPe(job, "histogram", pes).map((record) => record["histogram"] as HistogramRecord | null);
}

interface PrintedTable {
  process: number;
  numProcesses: number;
  firstPe: number;
  lastPe: number;
  settings: string;
  columns: string[];
  /** Row label ("64", …, "total") → the row's numbers, by column. */
  rows: Map<string, number[]>;
}

const kHeading = /^shoal: message histogram of process (\d+) of (\d+) \(PEs (\d+)\.\.(\d+)\); (SHOAL_HISTOGRAM_MIN=.*)$/;

/** The histogram tables on the job's stderr, by process. */
function printedTables(job: JobResult): Map<number, PrintedTable> {
  const tables = new Map<number, PrintedTable>();
  const lines = job.stderr.split("\n");
  for (let k = 0; k < lines.length; k++) {
    const heading = kHeading.exec(lines[k]!);
    if (heading === null) continue;
    const columns = lines[++k]!.trim().split(/\s+/);
    expect(columns[0]).toBe("bin");
    const rows = new Map<string, number[]>();
    for (;;) {
      const cells = lines[++k]!.trim().split(/\s+/);
      rows.set(cells[0]!, cells.slice(1).map(Number));
      if (cells[0] === "total") break;
    }
    const [process, numProcesses, firstPe, lastPe] = heading.slice(1, 5).map(Number) as [number, number, number, number];
    tables.set(process, { process, numProcesses, firstPe, lastPe, settings: heading[5]!, columns: columns.slice(1), rows });
  }
  return tables;
}

/** The table a process must print: its PEs' counts summed, in the counted types' columns, a total column (all types), a total row. */
function expectedTable(counts: Record<ConnectionType, number[]>[], bins: readonly number[], contype: ConnectionType | undefined): Map<string, number[]> {
  const types = contype === undefined ? kTypes : [contype];
  const sum = (type: ConnectionType, bin: number) => counts.reduce((total, pe) => total + pe[type][bin]!, 0);
  const rows = new Map<string, number[]>();
  bins.forEach((bound, bin) => {
    const row = types.map((type) => sum(type, bin));
    rows.set(String(bound), types.length > 1 ? [...row, row.reduce((a, b) => a + b, 0)] : row);
  });
  const totals = [...rows.values()].reduce((a, row) => a.map((value, k) => value + row[k]!));
  rows.set("total", totals);
  return rows;
}

/** Checks both views: each PE's world.stats().histogram, and each process's printed table. */
function expectHistogram(job: JobResult, shape: Shape, settings: Settings, sizes: readonly number[] = kSizes): void {
  expect(job.code, job.stderr).toBe(0);
  const bins = binsOf(settings);
  const expected = expectedCounts(shape, settings, sizes);
  const perPe = histograms(job, shape.pes);
  for (const [pe, histogram] of perPe.entries()) {
    expect(histogram, `PE ${pe}'s histogram`).not.toBeNull();
    expect(histogram!.bins).toEqual(bins);
    expect(histogram!.counts, `PE ${pe}'s counts`).toEqual(expected[pe]);
  }
  const tables = printedTables(job);
  const perProcess = shape.pes / shape.procs;
  expect([...tables.keys()].sort()).toEqual([...Array(shape.procs).keys()]);
  for (const [process, table] of tables) {
    expect([table.numProcesses, table.firstPe, table.lastPe]).toEqual([shape.procs, process * perProcess, (process + 1) * perProcess - 1]);
    expect(table.settings).toBe(`SHOAL_HISTOGRAM_MIN=${settings.min} _MAX=${settings.max} _SHIFT=${settings.shift} _CONTYPE=${settings.contype ?? "all"}`);
    expect(table.columns).toEqual(settings.contype === undefined ? [...kTypes, "total"] : [settings.contype]);
    const own = expected.slice(process * perProcess, (process + 1) * perProcess);
    expect(table.rows, `process ${process}'s table`).toEqual(expectedTable(own, bins, settings.contype));
  }
}

describe("the message-size histogram", () => {
  it("is off by default: no table at exit, and world.stats().histogram is undefined", async () => {
    const job = await runJob(2, "histogram.ts", { args: ["100"], env: { SHOAL_HISTOGRAM: "" } });
    expect(job.code, job.stderr).toBe(0);
    expect(job.stderr).toBe("");
    expect(histograms(job, 2)).toEqual([null, null]);
  });

  it("each request was one frame of its payload plus less than 64 bytes, and each reply one frame of less than 64 bytes", async () => {
    const job = await runFixture({ pes: 3, procs: 1 }, envOf(kDefaults));
    expect(job.code, job.stderr).toBe(0);
    for (const record of onePerPe(job, "histogram", 3)) {
      for (const request of record["requests"] as { size: number; frames: number; bytes: number }[]) {
        expect(request.frames).toBe(1);
        // A payload that travels by reference is not in the frame's bytes.
        const overhead = request.bytes >= request.size ? request.bytes - request.size : request.bytes;
        expect(overhead).toBeGreaterThan(0);
        expect(overhead).toBeLessThan(kOverhead);
      }
      // The rest of what it sent: one reply to each of the previous PE's requests.
      const requests = record["requests"] as { frames: number; bytes: number }[];
      const sent = record["sent"] as { frames: number; bytes: number };
      const replies = { frames: sent.frames - requests.length, bytes: sent.bytes - requests.reduce((sum, request) => sum + request.bytes, 0) };
      expect(replies.frames).toBe(kSizes.length);
      expect(replies.bytes / replies.frames).toBeLessThan(kOverhead);
    }
  });

  it.each([
    { pes: 1, procs: 1, name: "1 PE" },
    { pes: 3, procs: 1, name: "3 PEs in 1 process" },
  ])("counts every frame a PE sends to a PE of its process as shm, in the bin of its size ($name)", async (shape) => {
    expectHistogram(await runFixture(shape, envOf(kDefaults)), shape, kDefaults);
  });

  it("counts and prints the same way in a one-PE world without a launcher (node app.ts)", async () => {
    const fixture = new URL("./fixtures/histogram.ts", import.meta.url).pathname;
    const job = await runCommand(process.execPath, ["--import", "tsx", fixture, kSizes.join(",")], { env: envOf(kDefaults) });
    expectHistogram(job, { pes: 1, procs: 1 }, kDefaults);
  });

  it.each([
    { pes: 2, procs: 2, name: "2 PEs in 2 processes" },
    { pes: 4, procs: 2, name: "4 PEs in 2 processes" },
  ])("counts frames to PEs of other processes as ipc, and those within a process as shm ($name)", async (shape) => {
    expectHistogram(await runFixture(shape, envOf(kDefaults)), shape, kDefaults);
  });

  it("counts frames to PEs of other processes as tcp over tcp:// links (2 processes by hand with shoal exec)", async () => {
    const port = await freePort();
    const shape = { pes: 2, procs: 2 };
    const fixture = new URL("./fixtures/histogram.ts", import.meta.url).pathname;
    const common = { ...envOf(kDefaults), SHOAL_ROOT: `tcp://127.0.0.1:${port}`, SHOAL_HOST: "127.0.0.1", SHOAL_SIZE: "2", SHOAL_JOB_TOKEN: "histogram-test-token-0123456789" };
    const ranks = await Promise.all([0, 1].map((rank) => runCli(["exec", fixture, kSizes.join(",")], { env: { ...common, SHOAL_RANK: String(rank) } })));
    // The two processes' outputs, as one job's.
    const job: JobResult = { ...ranks[0]!, stdout: ranks.map((r) => r.stdout).join(""), stderr: ranks.map((r) => r.stderr).join(""), records: ranks.flatMap((r) => r.records) };
    expect(ranks.map((r) => r.code), job.stderr).toEqual([0, 0]);
    const expected = expectedCounts(shape, kDefaults, kSizes).map((counts) => ({ ...counts, tcp: counts.ipc, ipc: counts.ipc.map(() => 0) }));
    expect(histograms(job, 2).map((histogram) => histogram!.counts)).toEqual(expected);
    const tables = printedTables(job);
    for (const process of [0, 1]) expect(tables.get(process)!.rows).toEqual(expectedTable([expected[process]!], binsOf(kDefaults), undefined));
  });

  it("counts frames to processes of another module as gw (shoal run --modules 2)", async () => {
    const shape = { pes: 4, procs: 2, modules: 2 };
    expectHistogram(await runFixture(shape, envOf(kDefaults)), shape, kDefaults);
  });

  it("has bins from MIN to MAX by SHIFT bits, and the last bin collects every larger frame", async () => {
    const settings: Settings = { min: 64, max: 4096, shift: 2 };
    const sizes = [0, 150, 700, 3000, 10_000, 100_000];
    expect(binsOf(settings)).toEqual([64, 256, 1024, 4096]);
    const shape = { pes: 2, procs: 1 };
    const job = await runFixture(shape, envOf(settings), sizes);
    expectHistogram(job, shape, settings, sizes);
    // PE 0's requests of 3000, 10000 and 100000 bytes all land in the last bin.
    expect(histograms(job, 2)[0]!.counts.shm.at(-1)).toBe(3);
  });

  it("ends the bins at the first bound that reaches MAX, when MAX is not MIN shifted", async () => {
    const settings: Settings = { min: 100, max: 1000, shift: 1 };
    const sizes = [0, 110, 500, 5000];
    expect(binsOf(settings)).toEqual([100, 200, 400, 800, 1600]);
    const shape = { pes: 1, procs: 1 };
    expectHistogram(await runFixture(shape, envOf(settings), sizes), shape, settings, sizes);
  });

  it.each(["shm", "ipc"] as const)("counts only %s frames with SHOAL_HISTOGRAM_CONTYPE set to it, and prints only its column", async (contype) => {
    const settings: Settings = { ...kDefaults, contype };
    const shape = { pes: 4, procs: 2 };
    expectHistogram(await runFixture(shape, envOf(settings)), shape, settings);
  });

  it.each([
    ["SHOAL_HISTOGRAM", "yes"],
    ["SHOAL_HISTOGRAM_MIN", "0"],
    ["SHOAL_HISTOGRAM_MIN", "64k"],
    ["SHOAL_HISTOGRAM_MAX", "32"],
    ["SHOAL_HISTOGRAM_MAX", String(2 ** 52 + 1)],
    ["SHOAL_HISTOGRAM_SHIFT", "0"],
    ["SHOAL_HISTOGRAM_SHIFT", "33"],
    ["SHOAL_HISTOGRAM_CONTYPE", "openib"],
  ])("rejects %s=%s with a message that names it, before anything runs, and a non-zero exit", async (name, value) => {
    const job = await runJob(2, "histogram.ts", { args: ["100"], env: { ...envOf(kDefaults), [name]: value } });
    expect(job.code).not.toBe(0);
    expect(job.stderr).toMatch(new RegExp(`${name}: expected .*, got .*${value.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`));
    expect(job.records).toEqual([]);
  });
});
