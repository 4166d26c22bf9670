// world.topology: every PE knows { pe, process, node, module } of every PE after init(), the same
// table on every PE. Modules come from `shoal run --modules M`, SHOAL_MODULE_ID or ParaStation's
// PSP_MSA_MODULE_ID (else 0); nodes from the launcher's node index (else the host); `shoal info`
// prints the topology that `shoal run` sets up.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { afterAll, describe, expect, it } from "vitest";

import { cli, onePerPe, runCli, runCommand, runJob, type JobResult } from "./helpers/job.js";

const fixture = fileURLToPath(new URL("./fixtures/topology.ts", import.meta.url));

/** The node and module of process `process`. */
type ProcessPlace = (process: number) => { node: number; module: number };

interface Row {
  pe: number;
  process: number;
  node: number;
  module: number;
}

/** The table of a job of `pes` PEs in `procs` processes placed by `place`. */
function tableOf(pes: number, procs: number, place: ProcessPlace): Row[] {
  const perProcess = pes / procs;
  return [...Array(pes).keys()].map((pe) => {
    const process = Math.floor(pe / perProcess);
    return { pe, process, ...place(process) };
  });
}

/** Sorted distinct values. */
const distinct = (values: readonly number[]): number[] => [...new Set(values)].sort((a, b) => a - b);

/** `shoal run --modules M`'s split: process p of P in module floor(p·M/P). */
const split = (procs: number, modules: number): ProcessPlace => (process) => ({ node: 0, module: Math.floor((process * modules) / procs) });

/** What `describe()` and `shoal info` say, read back: the summary's counts and one row per process. */
function parseDescription(text: string): { counts: number[]; modules: number[]; rows: Row[] } {
  const lines = text.trim().split("\n");
  const summary = /^(\d+) PEs? in (\d+) process(?:es)? on (\d+) nodes? in (\d+) modules? \(([\d, ]+)\)$/.exec(lines[0] ?? "");
  expect(summary, `summary line of:\n${text}`).not.toBeNull();
  const rows: Row[] = [];
  for (const line of lines.slice(1)) {
    const match = /^process (\d+): PEs? (\d+)(?:\.\.(\d+))?, node (\d+), module (\d+)$/.exec(line);
    expect(match, `a process line: ${line}`).not.toBeNull();
    const [, process, first, last, node, module] = match!.map(Number) as number[];
    for (let pe = first!; pe <= (Number.isNaN(last) ? first! : last!); pe++) rows.push({ pe, process: process!, node: node!, module: module! });
  }
  return { counts: summary!.slice(1, 5).map(Number), modules: summary![5]!.split(", ").map(Number), rows };
}

/** Checks that every PE of `result` saw the table `expected`, through every query, and the same as every other PE. */
function expectTopology(result: JobResult, expected: Row[]): void {
  expect(result.code, result.stderr).toBe(0);
  const pes = expected.length;
  const records = onePerPe(result, "topology", pes);
  const modules = distinct(expected.map((row) => row.module));
  const nodes = distinct(expected.map((row) => row.node));
  for (const record of records) {
    const pe = Number(record["pe"]);
    expect(record, `PE ${pe}`).toMatchObject({
      process: expected[pe]!.process,
      numPes: pes,
      numProcesses: distinct(expected.map((row) => row.process)).length,
      numNodes: nodes.length,
      numModules: modules.length,
      modules,
      table: expected,
      queried: expected,
      sameObject: true,
    });
    expect(record["pesOfNode"], `PE ${pe}`).toEqual(nodes.map((node) => expected.filter((row) => row.node === node).map((row) => row.pe)));
    expect(record["pesOfModule"], `PE ${pe}`).toEqual(modules.map((module) => expected.filter((row) => row.module === module).map((row) => row.pe)));
    const described = parseDescription(String(record["describe"]));
    expect(described.rows).toEqual(expected);
    expect(described.counts).toEqual([pes, records[0]!["numProcesses"], nodes.length, modules.length]);
    expect(described.modules).toEqual(modules);
    expect(record["string"]).toBe(record["describe"]);
  }
  // The same table on every PE: the records differ only in who printed them.
  const views = records.map(({ pe: _pe, process: _process, ...view }) => view);
  for (const view of views) expect(view).toEqual(views[0]);
}

describe("world.topology without modules", () => {
  it("puts 4 PEs of one process in process 0, on node 0, in module 0", async () => {
    expectTopology(await runJob(4, fixture), tableOf(4, 1, () => ({ node: 0, module: 0 })));
  });

  it("puts 4 processes of one PE (--procs 4) on node 0, in module 0", async () => {
    expectTopology(await runJob(4, fixture, { procs: 4 }), tableOf(4, 4, () => ({ node: 0, module: 0 })));
  });

  it("puts 2 processes of 2 PEs on node 0, in module 0", async () => {
    expectTopology(await runJob(4, fixture, { procs: 2 }), tableOf(4, 2, () => ({ node: 0, module: 0 })));
  });

  it("makes a program run with plain node PE 0 of process 0, on node 0", async () => {
    const result = await runCommand(process.execPath, ["--import", "tsx", fixture], { env: { SHOAL_MODULE_ID: "4" } });
    expectTopology(result, tableOf(1, 1, () => ({ node: 0, module: 4 })));
  });
});

describe("shoal run --modules M", () => {
  for (const [pes, procs, modules] of [[4, 4, 2], [4, 2, 2], [6, 3, 2], [8, 4, 3]] as const) {
    it(`puts process p of --procs ${procs} (${pes} PEs) in module floor(p·${modules}/${procs})`, async () => {
      const result = await runCli(["run", "-n", String(pes), "--procs", String(procs), "--modules", String(modules), fixture]);
      expectTopology(result, tableOf(pes, procs, split(procs, modules)));
    });
  }

  it("wins over SHOAL_MODULE_ID from the environment", async () => {
    const result = await runCli(["run", "-n", "4", "--procs", "2", "--modules", "2", fixture], { env: { SHOAL_MODULE_ID: "7" } });
    expectTopology(result, tableOf(4, 2, split(2, 2)));
  });

  it("takes --modules 1 of a one-process job as module 0", async () => {
    const result = await runCli(["run", "-n", "2", "--modules", "1", fixture], { env: { SHOAL_MODULE_ID: "7" } });
    expectTopology(result, tableOf(2, 1, () => ({ node: 0, module: 0 })));
  });

  for (const [name, options] of [
    ["more modules than processes", ["-n", "4", "--procs", "2", "--modules", "3"]],
    ["modules without --procs", ["-n", "4", "--modules", "2"]],
    ["zero modules", ["-n", "4", "--procs", "2", "--modules", "0"]],
    ["a module count that is not an integer", ["-n", "4", "--procs", "2", "--modules", "two"]],
  ] as const) {
    it(`refuses ${name}, naming --modules, and runs nothing`, async () => {
      const result = await runCli(["run", ...options, fixture]);
      expect(result.code).toBe(2);
      expect(result.stderr).toMatch(/^shoal run: --modules /);
      expect(result.records).toEqual([]);
    });
  }
});

describe("SHOAL_MODULE_ID and PSP_MSA_MODULE_ID", () => {
  for (const procs of [1, 2]) {
    it(`put every PE of a job of ${procs} process${procs === 1 ? "" : "es"} in module SHOAL_MODULE_ID`, async () => {
      expectTopology(await runJob(4, fixture, { procs, env: { SHOAL_MODULE_ID: "3" } }), tableOf(4, procs, () => ({ node: 0, module: 3 })));
    });
  }

  it("take ParaStation's PSP_MSA_MODULE_ID when SHOAL_MODULE_ID is unset", async () => {
    expectTopology(await runJob(4, fixture, { procs: 2, env: { PSP_MSA_MODULE_ID: "1" } }), tableOf(4, 2, () => ({ node: 0, module: 1 })));
  });

  it("let SHOAL_MODULE_ID win over PSP_MSA_MODULE_ID", async () => {
    expectTopology(await runJob(2, fixture, { env: { SHOAL_MODULE_ID: "2", PSP_MSA_MODULE_ID: "1" } }), tableOf(2, 1, () => ({ node: 0, module: 2 })));
  });

  for (const [variable, value, procs] of [
    ["SHOAL_MODULE_ID", "booster", 1],
    ["SHOAL_MODULE_ID", "-1", 1],
    ["SHOAL_MODULE_ID", "1.5", 2],
    ["SHOAL_MODULE_ID", String(2 ** 31), 1],
    ["PSP_MSA_MODULE_ID", "x", 1],
    ["PSP_MSA_MODULE_ID", "-2", 2],
  ] as const) {
    it(`refuse ${variable}=${value} (${procs} process${procs === 1 ? "" : "es"}) with an error naming it`, async () => {
      const result = await runJob(2, fixture, { procs, env: { [variable]: value } });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toContain(`${variable}: expected a module id`);
      expect(result.stderr).toContain(JSON.stringify(value));
      expect(result.records).toEqual([]);
    });
  }
});

describe("processes placed by hand (shoal exec with SHOAL_RANK, SHOAL_NODE, SHOAL_MODULE_ID)", () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Starts one `shoal exec` per entry of `places`, as a launcher would, and collects their output
   * as one job's. A place without a node gives no SHOAL_NODE, and says the process is alone on its
   * node (SHOAL_LOCAL_SIZE=1), as a launcher across hosts that gives no node index would.
   */
  async function runByHand(pesPerProc: number, places: readonly { node?: number; module?: number }[]): Promise<JobResult> {
    const dir = mkdtempSync(join(tmpdir(), "shoal-topology-"));
    dirs.push(dir);
    const size = places.length;
    const results = await Promise.all(places.map((place, rank) => {
      const local = place.node === undefined
        ? { SHOAL_LOCAL_RANK: "0", SHOAL_LOCAL_SIZE: "1" }
        : {
          SHOAL_LOCAL_RANK: String(places.slice(0, rank).filter((other) => other.node === place.node).length),
          SHOAL_LOCAL_SIZE: String(places.filter((other) => other.node === place.node).length),
          SHOAL_NODE: String(place.node),
        };
      const env: Record<string, string> = {
        SHOAL_RANK: String(rank), SHOAL_SIZE: String(size), ...local,
        SHOAL_ROOT: `ipc://${join(dir, "root")}`, SHOAL_JOB_TOKEN: "topology-test-token-0123456789",
        ...(place.module === undefined ? {} : { SHOAL_MODULE_ID: String(place.module) }),
      };
      return runCommand(process.execPath, [cli, "exec", "--pes-per-proc", String(pesPerProc), fixture], { env });
    }));
    return {
      code: results.every((result) => result.code === 0) ? 0 : 1,
      stdout: results.map((result) => result.stdout).join(""),
      stderr: results.map((result) => result.stderr).join(""),
      records: results.flatMap((result) => result.records),
      elapsedMs: Math.max(...results.map((result) => result.elapsedMs)),
    };
  }

  it("number nodes densely in order of first appearance by process rank", async () => {
    const launcherNodes = [1, 0, 1];
    const result = await runByHand(2, launcherNodes.map((node) => ({ node })));
    const firstSeen: number[] = [];
    for (const node of launcherNodes) if (!firstSeen.includes(node)) firstSeen.push(node);
    expectTopology(result, tableOf(6, 3, (process) => ({ node: firstSeen.indexOf(launcherNodes[process]!), module: 0 })));
  });

  it("put processes that give no node index on one node when they run on one host", async () => {
    const result = await runByHand(1, [{}, {}, {}]);
    expectTopology(result, tableOf(3, 3, () => ({ node: 0, module: 0 })));
  });

  it("give each process the module of its own SHOAL_MODULE_ID", async () => {
    const modules = [5, 2];
    const result = await runByHand(2, modules.map((module, rank) => ({ node: rank, module })));
    expectTopology(result, tableOf(4, 2, (process) => ({ node: process, module: modules[process]! })));
  });
});

describe("shoal info", () => {
  for (const [options, env] of [
    [["-n", "8", "--procs", "4", "--modules", "3"], {}],
    [["-n", "4", "--procs", "2"], { SHOAL_MODULE_ID: "6" }],
    [["-n", "3"], {}],
  ] as const) {
    it(`prints the topology that shoal run ${options.join(" ")}${Object.keys(env).length > 0 ? ` (with ${JSON.stringify(env)})` : ""} sets up`, async () => {
      const info = await runCli(["info", ...options], { env });
      expect(info.code, info.stderr).toBe(0);
      const job = await runCli(["run", ...options, fixture], { env });
      expect(job.code, job.stderr).toBe(0);
      const described = String(job.records[0]!["describe"]);
      expect(info.stdout).toContain(`${described}\n`);
      const pes = Number(options[1]);
      expect(parseDescription(info.stdout.slice(info.stdout.indexOf(described))).rows).toHaveLength(pes);
    });
  }

  it("splits the processes of --modules as shoal run does: process p in module floor(p·M/P)", async () => {
    const info = await runCli(["info", "-n", "12", "--procs", "6", "--modules", "4"]);
    expect(info.code, info.stderr).toBe(0);
    const text = info.stdout.split("\n").slice(1).join("\n");
    expect(parseDescription(text).rows).toEqual(tableOf(12, 6, split(6, 4)));
  });

  it("refuses what shoal run refuses, with the same message", async () => {
    const info = await runCli(["info", "-n", "4", "--procs", "2", "--modules", "3"]);
    const run = await runCli(["run", "-n", "4", "--procs", "2", "--modules", "3", fixture]);
    expect(info.code).toBe(2);
    expect(info.stderr.replace(/^shoal info: /, "")).toBe(run.stderr.replace(/^shoal run: /, ""));
  });
});
