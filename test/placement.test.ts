// Where a launcher placed a process (src/launch/placement.ts) and `shoal exec`. The unit tests give
// readPlacement the variables each launcher sets: Open MPI's and MPICH Hydra's as captured from
// the real launchers (test/fixtures/placement-*.env), Slurm's as its documentation and source
// describe them, since Slurm cannot be installed here (it needs a controller and a node daemon).
// The launcher tests then run `shoal exec` under the real mpirun (and MPICH's mpiexec.hydra where
// it is installed).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { cpus } from "node:os";

import { describe, expect, it } from "vitest";

import { readLauncherEnv } from "../src/config/index.js";
import { ConfigError } from "../src/errors.js";
import { parseSlurmCounts, readPlacement, type Placement } from "../src/launch/placement.js";
import { cli, runCommand, type JobResult } from "./helpers/job.js";

type Env = Record<string, string>;

/** The variables of a captured launcher environment (`NAME=value` lines; `#` starts a comment). */
function capturedEnv(name: string): Env {
  const env: Env = {};
  for (const line of readFileSync(new URL(`./fixtures/${name}`, import.meta.url), "utf8").split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const at = line.indexOf("=");
    env[line.slice(0, at)] = line.slice(at + 1);
  }
  return env;
}

/** The placement without the record of where each field came from. */
function placed(env: Env): Record<string, unknown> {
  const placement: Record<string, unknown> = { ...readPlacement(env) };
  delete placement["variables"];
  return placement;
}

/** A task of an srun step: `tasks` tasks over the per-node counts `perNode`. */
function srunTask(procid: number, localid: number, nodeid: number, tasks: number, perNode: string): Env {
  return {
    SLURM_JOB_ID: "77",
    SLURM_STEP_ID: "0",
    SLURM_STEPID: "0",
    SLURM_PROCID: String(procid),
    SLURM_LOCALID: String(localid),
    SLURM_NODEID: String(nodeid),
    SLURM_NTASKS: String(tasks),
    SLURM_STEP_NUM_TASKS: String(tasks),
    SLURM_TASKS_PER_NODE: perNode,
    SLURM_STEP_TASKS_PER_NODE: perNode,
    SLURMD_NODENAME: `n${nodeid + 1}`,
  };
}

/** What an sbatch script sees: the allocation's variables, no step. */
const kBatchScript: Env = {
  SLURM_JOB_ID: "77",
  SLURM_PROCID: "0",
  SLURM_LOCALID: "0",
  SLURM_NODEID: "0",
  SLURM_NTASKS: "4",
  SLURM_TASKS_PER_NODE: "1(x4)",
  SLURM_GTIDS: "0",
  SLURMD_NODENAME: "n1",
};

const kOpenMpi = capturedEnv("placement-openmpi-4.1.env");
const kHydra = capturedEnv("placement-hydra-4.0.env");

describe("readPlacement: each launcher's variables", () => {
  const cases: { name: string; env: Env; expected: Omit<Placement, "variables"> }[] = [
    { name: "no launcher: the process is alone", env: {}, expected: { launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1, node: 0 } },
    {
      name: "Open MPI 4.1's mpirun -n 3 on one node (captured)",
      env: kOpenMpi,
      expected: { launcher: "mpirun", rank: 1, size: 3, localRank: 1, localSize: 3, node: 0, nodeName: "vm", universeSize: 2 },
    },
    {
      name: "Open MPI across nodes: no node index",
      env: { OMPI_COMM_WORLD_RANK: "3", OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_LOCAL_RANK: "1", OMPI_COMM_WORLD_LOCAL_SIZE: "2", OMPI_COMM_WORLD_NODE_RANK: "1" },
      expected: { launcher: "mpirun", rank: 3, size: 4, localRank: 1, localSize: 2 },
    },
    {
      name: "MPICH 4.0's Hydra mpiexec -n 3 (captured)",
      env: kHydra,
      expected: { launcher: "pmi", rank: 2, size: 3, localRank: 2, localSize: 3, node: 0 },
    },
    {
      name: "Cray PALS: PMI_LOCAL_RANK and PMI_LOCAL_SIZE",
      env: { PMI_RANK: "5", PMI_SIZE: "8", PMI_LOCAL_RANK: "1", PMI_LOCAL_SIZE: "4" },
      expected: { launcher: "pmi", rank: 5, size: 8, localRank: 1, localSize: 4 },
    },
    {
      name: "srun -N 2 -n 5: task 4, the second on the second node",
      env: srunTask(4, 1, 1, 5, "3,2"),
      expected: { launcher: "srun", rank: 4, size: 5, localRank: 1, localSize: 2, node: 1, nodeName: "n2" },
    },
    {
      name: "srun -n 7 over 4 nodes, compressed as 2(x3),1: task 6, alone on the last node",
      env: srunTask(6, 0, 3, 7, "2(x3),1"),
      expected: { launcher: "srun", rank: 6, size: 7, localRank: 0, localSize: 1, node: 3, nodeName: "n4" },
    },
    {
      name: "srun --preserve-env: the step's variables win over the allocation's",
      env: { ...srunTask(3, 1, 1, 4, "2(x2)"), SLURM_NTASKS: "16", SLURM_TASKS_PER_NODE: "8(x2)" },
      expected: { launcher: "srun", rank: 3, size: 4, localRank: 1, localSize: 2, node: 1, nodeName: "n2" },
    },
    {
      name: "an older srun without the SLURM_STEP_ variables: SLURM_STEPID, SLURM_NTASKS, SLURM_TASKS_PER_NODE",
      env: { SLURM_STEPID: "3", SLURM_PROCID: "1", SLURM_LOCALID: "1", SLURM_NODEID: "0", SLURM_NTASKS: "2", SLURM_TASKS_PER_NODE: "2" },
      expected: { launcher: "srun", rank: 1, size: 2, localRank: 1, localSize: 2, node: 0 },
    },
    {
      name: "srun --mpi=pmix: PMIx's rank, the size and node from Slurm's variables",
      env: { ...srunTask(3, 1, 1, 4, "2(x2)"), PMIX_RANK: "3", PMIX_NAMESPACE: "slurm.pmix.77.0", PMIX_HOSTNAME: "n2" },
      expected: { launcher: "pmix", rank: 3, size: 4, localRank: 1, localSize: 2, node: 1, nodeName: "n2" },
    },
    {
      name: "srun --mpi=pmi2: PMI's rank and size, the local rank and size from Slurm's variables",
      env: { ...srunTask(2, 0, 1, 4, "2(x2)"), PMI_RANK: "2", PMI_SIZE: "4", PMI_FD: "7", PMI_JOBID: "77.0" },
      expected: { launcher: "pmi", rank: 2, size: 4, localRank: 0, localSize: 2, node: 1 },
    },
    {
      name: "SHOAL_RANK and SHOAL_SIZE alone: every process on this node",
      env: { SHOAL_RANK: "1", SHOAL_SIZE: "2" },
      expected: { launcher: "shoal", rank: 1, size: 2, localRank: 1, localSize: 2, node: 0 },
    },
    {
      name: "SHOAL_ variables for a job across nodes",
      env: { SHOAL_RANK: "1", SHOAL_SIZE: "2", SHOAL_LOCAL_RANK: "0", SHOAL_LOCAL_SIZE: "1", SHOAL_NODE: "1" },
      expected: { launcher: "shoal", rank: 1, size: 2, localRank: 0, localSize: 1, node: 1 },
    },
  ];
  for (const { name, env, expected } of cases) {
    it(`reads ${name}`, () => {
      expect(placed(env)).toEqual(expected);
    });
  }

  it("records the variable each field came from", () => {
    expect(readPlacement(kOpenMpi).variables).toEqual({
      rank: "OMPI_COMM_WORLD_RANK",
      size: "OMPI_COMM_WORLD_SIZE",
      localRank: "OMPI_COMM_WORLD_LOCAL_RANK",
      localSize: "OMPI_COMM_WORLD_LOCAL_SIZE",
      nodeName: "PMIX_HOSTNAME",
      universeSize: "OMPI_UNIVERSE_SIZE",
    });
    const pmix = { ...srunTask(3, 1, 1, 4, "2(x2)"), PMIX_RANK: "3", PMIX_NAMESPACE: "slurm.pmix.77.0" };
    expect(readPlacement(pmix).variables).toEqual({
      rank: "PMIX_RANK",
      size: "SLURM_STEP_NUM_TASKS",
      localRank: "SLURM_LOCALID",
      localSize: "SLURM_STEP_TASKS_PER_NODE",
      node: "SLURM_NODEID",
    });
  });

  it("treats an sbatch script's own Slurm variables (no step) as a process alone", () => {
    expect(placed(kBatchScript)).toEqual({ launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1, node: 0 });
  });

  it("treats an empty rank variable as unset", () => {
    expect(placed({ OMPI_COMM_WORLD_RANK: "", OMPI_COMM_WORLD_SIZE: "4" }).launcher).toBe("none");
  });
});

describe("readPlacement: precedence when several launchers' variables are present", () => {
  const mpirunRank2Of4: Env = { OMPI_COMM_WORLD_RANK: "2", OMPI_COMM_WORLD_SIZE: "4", OMPI_COMM_WORLD_LOCAL_RANK: "2", OMPI_COMM_WORLD_LOCAL_SIZE: "4" };
  const cases: { name: string; env: Env; launcher: Placement["launcher"]; rank: number; size: number }[] = [
    { name: "Open MPI's own over the PMIx rank it also sets", env: kOpenMpi, launcher: "mpirun", rank: 1, size: 3 },
    { name: "mpirun over the sbatch script it runs in", env: { ...kBatchScript, ...mpirunRank2Of4 }, launcher: "mpirun", rank: 2, size: 4 },
    { name: "mpirun over the one-task srun step it runs in", env: { ...srunTask(0, 0, 0, 1, "1"), ...mpirunRank2Of4 }, launcher: "mpirun", rank: 2, size: 4 },
    { name: "Hydra's PMI over the srun step of its proxies", env: { ...srunTask(1, 0, 1, 2, "1(x2)"), ...kHydra }, launcher: "pmi", rank: 2, size: 3 },
    { name: "PMIx over PMI", env: { ...srunTask(3, 1, 1, 4, "2(x2)"), PMIX_RANK: "3", PMIX_NAMESPACE: "slurm.pmix.77.0", PMI_RANK: "0", PMI_SIZE: "1", MPI_LOCALRANKID: "0", MPI_LOCALNRANKS: "1" }, launcher: "pmix", rank: 3, size: 4 },
    { name: "SHOAL_RANK over mpirun", env: { ...mpirunRank2Of4, SHOAL_RANK: "3", SHOAL_SIZE: "8" }, launcher: "shoal", rank: 3, size: 8 },
    { name: "SHOAL_RANK over srun", env: { ...srunTask(0, 0, 0, 1, "1"), SHOAL_RANK: "1", SHOAL_SIZE: "2" }, launcher: "shoal", rank: 1, size: 2 },
  ];
  for (const { name, env, launcher, rank, size } of cases) {
    it(`takes ${name}`, () => {
      expect(placed(env)).toMatchObject({ launcher, rank, size });
    });
  }

  it("does not take Slurm's size for a PMIx rank that Slurm did not set", () => {
    const env = { ...srunTask(0, 0, 0, 1, "1"), PMIX_RANK: "0", PMIX_NAMESPACE: "prterun-vm-1234@1" };
    expect(() => readPlacement(env)).toThrow(/PMIX_RANK.*number of processes/);
  });

  it("does not take Slurm's local rank for a PMI rank of another job", () => {
    const env = { ...srunTask(0, 0, 0, 1, "1"), PMI_RANK: "0", PMI_SIZE: "4" };
    expect(() => readPlacement(env)).toThrow(/MPI_LOCALRANKID/);
  });
});

describe("parseSlurmCounts", () => {
  it("expands counts with repetitions", () => {
    expect(parseSlurmCounts("1")).toEqual([{ count: 1, times: 1 }]);
    expect(parseSlurmCounts("2(x3),1")).toEqual([{ count: 2, times: 3 }, { count: 1, times: 1 }]);
    expect(parseSlurmCounts("1,2,1(x3),3,2")).toEqual([
      { count: 1, times: 1 },
      { count: 2, times: 1 },
      { count: 1, times: 3 },
      { count: 3, times: 1 },
      { count: 2, times: 1 },
    ]);
  });

  it("keeps a long repetition as one run", () => {
    expect(parseSlurmCounts("16(x100000)")).toEqual([{ count: 16, times: 100000 }]);
  });

  for (const bad of ["", "2x3", "2(x3", "2(3)", "(x3)", "0", "2(x0)", " 2", "2 ", "2,,1", "2,", "a", "-1", "1.5", "2(x3),", "99999999999999999999"]) {
    it(`rejects ${JSON.stringify(bad)}`, () => {
      expect(parseSlurmCounts(bad)).toBeUndefined();
    });
  }
});

describe("readPlacement: garbage and inconsistent variables", () => {
  const ompi = (overrides: Env): Env => ({ OMPI_COMM_WORLD_RANK: "1", OMPI_COMM_WORLD_SIZE: "3", OMPI_COMM_WORLD_LOCAL_RANK: "1", OMPI_COMM_WORLD_LOCAL_SIZE: "3", ...overrides });
  const without = (env: Env, ...names: string[]): Env => Object.fromEntries(Object.entries(env).filter(([name]) => !names.includes(name)));
  const step = srunTask(4, 1, 1, 5, "3,2");
  const cases: { name: string; env: Env; variable: string }[] = [
    { name: "a rank that is not a number", env: ompi({ OMPI_COMM_WORLD_RANK: "x" }), variable: "OMPI_COMM_WORLD_RANK" },
    { name: "a negative rank", env: ompi({ OMPI_COMM_WORLD_RANK: "-1" }), variable: "OMPI_COMM_WORLD_RANK" },
    { name: "a fractional rank", env: ompi({ OMPI_COMM_WORLD_RANK: "1.5" }), variable: "OMPI_COMM_WORLD_RANK" },
    { name: "a rank in exponent notation", env: { ...step, SLURM_PROCID: "1e3" }, variable: "SLURM_PROCID" },
    { name: "a rank beyond the safe integers", env: { SHOAL_RANK: "99999999999999999999", SHOAL_SIZE: "2" }, variable: "SHOAL_RANK" },
    { name: "a size of 0", env: ompi({ OMPI_COMM_WORLD_SIZE: "0" }), variable: "OMPI_COMM_WORLD_SIZE" },
    { name: "a rank equal to the size", env: ompi({ OMPI_COMM_WORLD_RANK: "3" }), variable: "OMPI_COMM_WORLD_RANK" },
    { name: "a local rank equal to the local size", env: ompi({ OMPI_COMM_WORLD_LOCAL_RANK: "3" }), variable: "OMPI_COMM_WORLD_LOCAL_RANK" },
    { name: "a local size above the size", env: ompi({ OMPI_COMM_WORLD_LOCAL_SIZE: "4" }), variable: "OMPI_COMM_WORLD_LOCAL_SIZE" },
    { name: "a local size of 0", env: ompi({ OMPI_COMM_WORLD_LOCAL_SIZE: "0" }), variable: "OMPI_COMM_WORLD_LOCAL_SIZE" },
    { name: "a universe size that is not a number", env: ompi({ OMPI_UNIVERSE_SIZE: "many" }), variable: "OMPI_UNIVERSE_SIZE" },
    { name: "Open MPI's rank without its size", env: without(ompi({}), "OMPI_COMM_WORLD_SIZE"), variable: "OMPI_COMM_WORLD_SIZE" },
    { name: "Open MPI's rank without its local rank", env: without(ompi({}), "OMPI_COMM_WORLD_LOCAL_RANK"), variable: "OMPI_COMM_WORLD_LOCAL_RANK" },
    { name: "a PMIx rank alone", env: { PMIX_RANK: "0" }, variable: "PMIX_RANK" },
    { name: "a PMI rank without PMI_SIZE", env: { PMI_RANK: "0", MPI_LOCALRANKID: "0", MPI_LOCALNRANKS: "1" }, variable: "PMI_SIZE" },
    { name: "a PMI rank without local variables", env: { PMI_RANK: "0", PMI_SIZE: "2" }, variable: "MPI_LOCALRANKID" },
    { name: "a local size with a trailing space", env: { ...kHydra, MPI_LOCALNRANKS: "3 " }, variable: "MPI_LOCALNRANKS" },
    { name: "a Slurm step without a size", env: without(step, "SLURM_STEP_NUM_TASKS", "SLURM_NTASKS"), variable: "SLURM_STEP_NUM_TASKS" },
    { name: "a Slurm step without tasks per node", env: without(step, "SLURM_STEP_TASKS_PER_NODE", "SLURM_TASKS_PER_NODE"), variable: "SLURM_STEP_TASKS_PER_NODE" },
    { name: "tasks per node not in Slurm's syntax", env: { ...step, SLURM_STEP_TASKS_PER_NODE: "3x2" }, variable: "SLURM_STEP_TASKS_PER_NODE" },
    { name: "tasks per node that do not add up to the size", env: { ...step, SLURM_STEP_TASKS_PER_NODE: "2(x2)" }, variable: "SLURM_STEP_TASKS_PER_NODE" },
    { name: "a node index past the per-node list", env: { ...step, SLURM_NODEID: "2" }, variable: "SLURM_NODEID" },
    { name: "no node index for a list of several nodes", env: without(step, "SLURM_NODEID"), variable: "SLURM_NODEID" },
    { name: "a Slurm local id past its node's tasks", env: { ...step, SLURM_LOCALID: "2" }, variable: "SLURM_LOCALID" },
    { name: "SHOAL_RANK without SHOAL_SIZE", env: { SHOAL_RANK: "0" }, variable: "SHOAL_SIZE" },
    { name: "SHOAL_SIZE without SHOAL_RANK", env: { SHOAL_SIZE: "2" }, variable: "SHOAL_SIZE" },
    { name: "SHOAL_LOCAL_RANK without SHOAL_LOCAL_SIZE", env: { SHOAL_RANK: "0", SHOAL_SIZE: "2", SHOAL_LOCAL_RANK: "0" }, variable: "SHOAL_LOCAL_SIZE" },
    { name: "SHOAL_NODE 1 for a job on one node", env: { SHOAL_RANK: "0", SHOAL_SIZE: "2", SHOAL_NODE: "1" }, variable: "SHOAL_NODE" },
    { name: "a SHOAL_RANK beyond SHOAL_SIZE, also under a launcher", env: { ...ompi({}), SHOAL_RANK: "2", SHOAL_SIZE: "2" }, variable: "SHOAL_RANK" },
  ];
  for (const { name, env, variable } of cases) {
    it(`rejects ${name}, naming ${variable} and the fix`, () => {
      let error: unknown;
      try {
        readPlacement(env);
      } catch (caught) {
        error = caught;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).code).toBe("ERR_SHOAL_CONFIG");
      expect((error as ConfigError).message).toContain(variable);
      expect((error as ConfigError).message).toMatch(/unset|set both|set them|start shoal exec/);
    });
  }

  it("says which launcher set a bad variable", () => {
    expect(() => readPlacement({ ...kOpenMpi, OMPI_COMM_WORLD_SIZE: "three" })).toThrow(
      /^OMPI_COMM_WORLD_SIZE: expected an integer of at least 1, got "three"; Open MPI's mpirun sets the OMPI_COMM_WORLD_\* variables/,
    );
  });
});

describe("readLauncherEnv", () => {
  it("keeps the launchers' variables and SHOAL_RANK's, and nothing else", () => {
    const env = readLauncherEnv({
      PATH: "/usr/bin",
      HOME: "/root",
      SHOAL_SPIN_US: "0",
      SHOAL_RANK: "1",
      SHOAL_NODE: "0",
      OMPI_COMM_WORLD_RANK: "1",
      OMPI_UNIVERSE_SIZE: "2",
      OMPI_MCA_btl: "self,tcp",
      PMIX_RANK: "1",
      PMI_SIZE: "2",
      MPI_LOCALRANKID: "0",
      SLURM_PROCID: "0",
      SLURMD_NODENAME: "n1",
    });
    expect(Object.keys(env).sort()).toEqual(
      ["MPI_LOCALRANKID", "OMPI_COMM_WORLD_RANK", "OMPI_UNIVERSE_SIZE", "PMIX_RANK", "PMI_SIZE", "SHOAL_NODE", "SHOAL_RANK", "SLURMD_NODENAME", "SLURM_PROCID"].sort(),
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Real launchers.

/** The launcher variables of this test's own environment, which the launched processes must not inherit. */
const kInherited = /^(SHOAL_(RANK|SIZE|LOCAL_RANK|LOCAL_SIZE|NODE)|OMPI_COMM_WORLD_\w+|PMIX_\w+|PMI_\w+|MPI_LOCAL\w+|SLURM_\w+)$/;

/** Runs `launcher launcherArgs... node cli.js shoalArgs...` and collects what it printed. */
function launch(launcher: string, launcherArgs: readonly string[], shoalArgs: readonly string[]): Promise<JobResult> {
  const env: Env = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined && !kInherited.test(name)) env[name] = value;
  // Open MPI refuses to run as root without both of these (containers and CI run as root).
  env["OMPI_ALLOW_RUN_AS_ROOT"] = "1";
  env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1";
  return runCommand(launcher, [...launcherArgs, process.execPath, cli, ...shoalArgs], { env, inheritEnv: false });
}

/** The version line of `command --version`, or undefined when it cannot be run. */
function versionOf(command: string): string | undefined {
  try {
    return execFileSync(command, ["--version"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 10_000 });
  } catch {
    return undefined;
  }
}

const openMpiVersion = versionOf("mpirun");
const hasOpenMpi = openMpiVersion?.includes("Open MPI") === true;
const openMpiTitle = hasOpenMpi
  ? "shoal exec under Open MPI's mpirun"
  : `shoal exec under Open MPI's mpirun (SKIPPED: ${openMpiVersion === undefined ? "mpirun not found" : "mpirun is not Open MPI's"}; apt-get install openmpi-bin)`;
/** No binding: a 1-process job would otherwise get one core for all its PE threads. */
const kMpirun = ["--oversubscribe", "--bind-to", "none"];

describe.skipIf(!hasOpenMpi)(openMpiTitle, () => {
  it("reports ranks 0, 1, 2 of 3 on one node with --placement", async () => {
    const result = await launch("mpirun", ["-n", "3", ...kMpirun], ["exec", "--placement"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const placements = result.records.sort((a, b) => Number(a["rank"]) - Number(b["rank"]));
    expect(placements.map((p) => p["rank"])).toEqual([0, 1, 2]);
    for (const placement of placements) {
      expect(placement).toMatchObject({ launcher: "mpirun", size: 3, localRank: placement["rank"], localSize: 3, node: 0 });
      expect(placement["variables"]).toMatchObject({ rank: "OMPI_COMM_WORLD_RANK", size: "OMPI_COMM_WORLD_SIZE" });
    }
  });

  it("runs a job of one process with --pes-per-proc 2 like shoal run -n 2", async () => {
    const result = await launch("mpirun", ["-n", "1", ...kMpirun], ["exec", "--pes-per-proc", "2", "test/fixtures/hello.ts"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const hellos = result.records.filter((r) => r["kind"] === "hello").sort((a, b) => Number(a["pe"]) - Number(b["pe"]));
    expect(hellos.map((r) => r["pe"])).toEqual([0, 1]);
    for (const record of hellos) {
      expect(record["numPes"]).toBe(2);
      expect(record["replies"]).toEqual([0, 1].map((pe) => `PE ${pe} greets PE ${String(record["pe"])}`));
    }
  });

  it("runs a job of several processes: mpirun -n 2 shoal exec is one job of 2 PEs", async () => {
    const result = await launch("mpirun", ["-n", "2", ...kMpirun], ["exec", "test/fixtures/hello.ts"]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const hellos = result.records.filter((r) => r["kind"] === "hello").sort((a, b) => Number(a["pe"]) - Number(b["pe"]));
    expect(hellos.map((r) => r["pe"])).toEqual([0, 1]);
    for (const record of hellos) expect(record["numPes"]).toBe(2);
  });

  it.skipIf(cpus().length < 2)("warns when mpirun bound the process to fewer cores than its PEs", async () => {
    // By default Open MPI binds each process of a job of one or two to one core; binding to one
    // hardware thread gives the same on every machine of more than one.
    const result = await launch("mpirun", ["-n", "1", "--bind-to", "hwthread"], ["exec", "--pes-per-proc", "2", "test/fixtures/hello.ts"]);
    expect(result.code).toBe(0);
    expect(result.stderr).toContain("--bind-to none");
  });
});

const hydraVersion = versionOf("mpiexec.hydra");
describe.skipIf(hydraVersion === undefined)(
  hydraVersion === undefined ? "shoal exec under MPICH's Hydra (SKIPPED: mpiexec.hydra not found; apt-get install mpich)" : "shoal exec under MPICH's Hydra",
  () => {
    it("reports ranks 0, 1, 2 of 3 from the PMI variables", async () => {
      const result = await launch("mpiexec.hydra", ["-launcher", "fork", "-n", "3"], ["exec", "--placement"]);
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const placements = result.records.sort((a, b) => Number(a["rank"]) - Number(b["rank"]));
      expect(placements.map((p) => p["rank"])).toEqual([0, 1, 2]);
      for (const placement of placements) expect(placement).toMatchObject({ launcher: "pmi", size: 3, localRank: placement["rank"], localSize: 3, node: 0 });
    });
  },
);

describe("shoal exec's options", () => {
  /** `env NAME=value... node cli.js exec args...`: no launcher, only the variables given. */
  const run = (args: readonly string[], env: Env = {}) => launch("env", Object.entries(env).map(([name, value]) => `${name}=${value}`), ["exec", ...args]);

  it("prints the placement of a process alone with --placement", async () => {
    const result = await run(["--placement"]);
    expect(result.code).toBe(0);
    expect(result.records).toEqual([{ launcher: "none", rank: 0, size: 1, localRank: 0, localSize: 1, node: 0, variables: {} }]);
  });

  it("prints a placement given by hand in SHOAL_RANK and SHOAL_SIZE", async () => {
    const result = await run(["--placement"], { SHOAL_RANK: "2", SHOAL_SIZE: "4" });
    expect(result.code).toBe(0);
    expect(result.records[0]).toMatchObject({ launcher: "shoal", rank: 2, size: 4 });
  });

  it("runs a program on T PEs without a launcher", async () => {
    const result = await run(["--pes-per-proc", "3", "test/fixtures/hello.ts"]);
    expect(result.code).toBe(0);
    expect(result.records.filter((r) => r["kind"] === "hello").map((r) => r["pe"]).sort()).toEqual([0, 1, 2]);
  });

  it("takes --pes-per-proc=T and passes everything after the program to it", async () => {
    const result = await run(["--pes-per-proc=2", "test/fixtures/argv.ts", "--pes-per-proc", "9"]);
    expect(result.code).toBe(0);
    expect(result.records.filter((r) => r["kind"] === "argv").map((r) => r["args"])).toEqual([
      ["--pes-per-proc", "9"],
      ["--pes-per-proc", "9"],
    ]);
  });

  for (const bad of ["0", "-1", "two", "1.5", "65536", ""]) {
    it(`rejects --pes-per-proc ${JSON.stringify(bad)} with exit code 2`, async () => {
      const result = await run(["--pes-per-proc", bad, "test/fixtures/hello.ts"]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("--pes-per-proc expects a whole number of PEs per process");
    });
  }

  it("rejects an unknown option, naming it", async () => {
    const result = await run(["--pes", "2", "test/fixtures/hello.ts"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("shoal exec: Unknown option '--pes'");
  });

  it("asks for a program when none is given", async () => {
    const result = await run(["--pes-per-proc", "2"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("expected a program");
  });

  it("refuses --placement with a program", async () => {
    const result = await run(["--placement", "test/fixtures/hello.ts"]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("--placement prints the placement and runs nothing");
  });

  it("exits with code 2 on a bad launcher variable, naming it", async () => {
    const result = await run(["--placement"], { SLURM_STEP_ID: "0", SLURM_PROCID: "1", SLURM_STEP_NUM_TASKS: "2", SLURM_LOCALID: "0", SLURM_STEP_TASKS_PER_NODE: "1(2)", SLURM_NODEID: "1" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("SLURM_STEP_TASKS_PER_NODE");
  });

  it("refuses a placement of several processes given by hand without SHOAL_ROOT, saying what to set", async () => {
    const result = await run(["test/fixtures/hello.ts"], { SHOAL_RANK: "0", SHOAL_SIZE: "2" });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("process 0 of 2 (placed by shoal) does not know where rank 0 listens");
    expect(result.stderr).toContain("set SHOAL_ROOT=tcp://HOST:PORT");
    expect(result.stderr).toContain("SHOAL_JOB_TOKEN");
  });

  it("documents exec and its options in --help", async () => {
    const result = await run(["--help"]);
    expect(result.code).toBe(0);
    for (const text of ["shoal exec [--pes-per-proc T]", "--placement", "SHOAL_RANK, SHOAL_SIZE"]) expect(result.stdout).toContain(text);
  });
});
