#!/usr/bin/env node
/**
 * The `shoal` command.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { availableParallelism, cpus, hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { readConfig, readLauncherEnv } from "../config/index.js";
import { ShoalError } from "../errors.js";
import { Topology } from "../team/index.js";
import { benchAll, benchmarkNames, kBenchDir } from "./bench-suite.js";
import { cleanupAddressing, resolveAddressing } from "./bootstrap.js";
import { moduleOfProcess, runProcesses, watchLauncher } from "./processes.js";
import { nodeKeyOf, readPlacement, type Placement } from "./placement.js";
import { kMaxPes, runJob } from "./run.js";

const kHelp = `shoal: run a data-parallel TypeScript or JavaScript program on many PEs

Usage:
  shoal run -n N [--procs P] [--modules M] [--] PROGRAM [ARGS...]
                                          run PROGRAM on N PEs: worker threads of this process,
                                          or of P processes on this host connected by NNG (ipc);
                                          everything after PROGRAM is the program's, as given
  shoal info [-n N] [--procs P] [--modules M]
                                          print the topology (process, node and module of each
                                          PE) that shoal run with these options sets up here
  shoal bench NAME [--pes N] [--procs P] [--json] [OPTIONS...]
                                          run the benchmark NAME (bench/NAME.ts of this package)
                                          on N PEs (default 2) in P processes (default 1); every
                                          other option is the benchmark's (its sizes, --reps, ...)
  shoal bench --list                      list the benchmarks
  shoal bench all [--out DIR] [--quick] [--only NAME,...] [--pes N]
                                          run every benchmark (or those named) in turn, with a
                                          progress bar; write DIR/results.json (every row, the
                                          machine, the commands) and the HTML report
                                          DIR/report.html (default DIR: bench-report)
  shoal bench report [--in FILE] [--out DIR] [--readme FILE]
                                          render the report of a results file again; with
                                          --readme, write its table between the README's
                                          <!-- perf:begin --> and <!-- perf:end --> markers
  shoal exec [--pes-per-proc T] [--] PROGRAM [ARGS...]
                                          run PROGRAM as one process of a job that a cluster
                                          launcher (mpirun, srun) started, with T PEs in it
  shoal exec --placement                  print where the launcher placed this process, as one
                                          JSON line, and run nothing
  shoal --help                            print this help
  shoal --version                         print shoal's version

PROGRAM is a .js/.mjs file, or a .ts/.mts file (compiled on the fly by tsx). Every PE runs the
whole program (SPMD); \`await init()\` tells each one its number. ARGS reach the program as
process.argv.slice(2). The exit code is 0 when every PE finished, and 1 when any PE failed: its
error is printed and the other PEs are stopped.

Options of \`run\`:
  -n, --pes N        number of PEs (default 1)
  --procs P          processes (default 1); N must be a multiple of P, each runs N/P PEs
  --modules M        split the P processes into M modules (1..P): process p gets
                     SHOAL_MODULE_ID=floor(p*M/P); without it, every process keeps the
                     environment's SHOAL_MODULE_ID (default: module 0)
  -h, --help         print this help
\`info\` takes the same -n, --procs and --modules.

Options of \`exec\`:
  --pes-per-proc T   PEs (worker threads) in each process (default 1)
  --placement        print the placement read from the launcher's variables and exit
  -h, --help         print this help
\`exec\` reads its rank, the job's size, its local rank and its node from the launcher's
variables (Open MPI's OMPI_COMM_WORLD_*, PMIX_RANK, PMI_RANK and PMI_SIZE, Slurm's SLURM_PROCID,
SLURM_STEP_NUM_TASKS, SLURM_LOCALID and SLURM_NODEID), or from SHOAL_RANK and SHOAL_SIZE when
they are set. A job of one process runs like \`shoal run -n T\`. The processes of a larger job
connect over NNG: rank 0 listens at SHOAL_ROOT and every process proves SHOAL_JOB_TOKEN; on one
host both may be left unset (the processes meet in a private directory named after the
launcher's job id); across hosts, set both for every process. Open MPI binds
each process of a job of one or two to a single core: give mpirun --bind-to none (or
--map-by slot:pe=T) so that the T PEs get T cores.

Options of \`bench\` (anywhere after \`bench\`; after \`--\`, everything is the benchmark's):
  -n, --pes N        number of PEs (default 2)
  --procs P          processes (default 1), connected over NNG as with shoal run --procs
  --list             list the benchmarks
  -h, --help         print this help
Every other option is the benchmark's: each takes --json (one JSON object per row instead of a
table) and --reps R, and its sizes are listed in the opening comment of its file. A benchmark
runs its single-thread baseline in the same run, prints the median and min–max of its
repetitions, the ratio and its target, and checks its own result: it exits non-zero when the
result is wrong, never because it is slow.

Environment (defaults in parentheses; see the README for details):
  SHOAL_SPIN_US              idle polling before a PE sleeps, in µs (5000; 0 when PEs outnumber cores)
  SHOAL_AGGREGATION_BYTES    frame size that triggers a send (32768)
  SHOAL_RING_BYTES           bytes of each PE's inbound ring, a power of two (1048576)
  SHOAL_LARGE_BYTES          typed arrays this large move by reference (65536)
  SHOAL_BARRIER_TIMEOUT_MS   a barrier waiting this long prints the missing PEs (10000)
  SHOAL_ABORT_GRACE_MS       after a failure, time before the other PEs are stopped (2000)
  SHOAL_ARRAY_OPS            how array operations reach other PEs' parts in one process:
                             direct (shared memory) or am (messages) (direct)
  SHOAL_NNG_ADDON            path of the NNG addon to load (build/Release/shoal_nng.node)
  SHOAL_RANK, SHOAL_SIZE     place an exec'd process by hand as process RANK of SIZE, over any
                             launcher's variables (unset)
  SHOAL_LOCAL_RANK, SHOAL_LOCAL_SIZE
                             with SHOAL_RANK: its rank among the processes on its node, and their
                             number (SHOAL_RANK, SHOAL_SIZE: every process on one node)
  SHOAL_NODE                 with SHOAL_RANK: the index of its node (unset)
  SHOAL_ROOT                 where rank 0 of a job of several processes listens:
                             ipc:///path or tcp://host:port (set by shoal run --procs)
  SHOAL_JOB_TOKEN            the job's secret, at least 16 characters (generated by shoal run)
  SHOAL_HOST                 tcp jobs: the address this host listens on (found by route to root)
  SHOAL_MTU                  largest NNG message between two processes (1048576)
  SHOAL_CONNECT_TIMEOUT_MS   how long processes wait for each other at start (30000)
  SHOAL_HISTOGRAM            1: each process prints its frames' sizes per connection type at exit (0)
  SHOAL_HISTOGRAM_MIN, _MAX, _SHIFT, _CONTYPE
                             the histogram's bins, MIN << k·SHIFT up to MAX (64, 67108864, 1),
                             and the one type counted: shm, ipc, tcp or gw (unset: all)
  SHOAL_MODULE_ID            the module of this process's PEs, an integer >= 0 (ParaStation's
                             PSP_MSA_MODULE_ID, else 0; set per process by shoal run --modules)

Examples:
  shoal run -n 4 examples/01-hello.ts
  shoal run -n 8 --procs 2 examples/02-histogram.ts
  shoal bench histo --pes 2
  shoal bench sum --mib 64 --reps 5 --json
  shoal bench all --quick --only histo,coll
  mpirun -n 1 --bind-to none shoal exec --pes-per-proc 4 examples/01-hello.ts
  mpirun -n 3 shoal exec --placement
  shoal info -n 8 --procs 4 --modules 2
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** The options of `run` that take a value, by how they are written, to their long name. */
const kRunValueOptions: Readonly<Record<string, string>> = { "-n": "pes", "--pes": "pes", "--procs": "procs", "--modules": "modules" };
/** The options of `exec` that take a value. */
const kExecValueOptions: Readonly<Record<string, string>> = { "--pes-per-proc": "pes-per-proc" };

/**
 * Splits `argv` at the program: options before it are shoal's, everything after is the program's.
 * `valueOptions` are the options whose next word is their value, not the program.
 */
function splitAtProgram(argv: readonly string[], valueOptions: Readonly<Record<string, string>>): { own: string[]; program: string | undefined; rest: string[] } {
  const own: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { own, program: argv[i + 1], rest: argv.slice(i + 2) };
    if (!arg.startsWith("-")) return { own, program: arg, rest: argv.slice(i + 1) };
    // "-n -3" would read as two options; "--pes=-3" reaches the check below and gets its message.
    const long = valueOptions[arg];
    if (long !== undefined && i + 1 < argv.length) own.push(`--${long}=${argv[++i]!}`);
    else own.push(arg);
  }
  return { own, program: undefined, rest: [] };
}

/**
 * `shoal bench NAME [--pes N] [--list] [options...]`: shoal's own options are taken from anywhere
 * before `--`; the first other word is the name; everything else goes to the benchmark, in order.
 */
async function bench(argv: readonly string[]): Promise<number> {
  // The suite, and its report (bench-report.ts, which loads Vega: only when asked for).
  if (argv[0] === "all") return benchAll(argv.slice(1));
  if (argv[0] === "report") return (await import("./bench-report.js")).benchReport(argv.slice(1));
  let pesText = "2";
  let procsText = "1";
  let name: string | undefined;
  let list = false;
  const args: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      args.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-n" || arg === "--pes") {
      if (i + 1 >= argv.length) {
        process.stderr.write(`shoal bench: ${arg} expects a number of PEs, as in: shoal bench histo --pes 2\n`);
        return 2;
      }
      pesText = argv[++i]!;
    } else if (arg.startsWith("--pes=")) pesText = arg.slice("--pes=".length);
    else if (arg === "--procs" && i + 1 < argv.length) procsText = argv[++i]!;
    else if (arg.startsWith("--procs=")) procsText = arg.slice("--procs=".length);
    else if (arg === "--list") list = true;
    else if (arg === "-h" || arg === "--help") {
      process.stdout.write(kHelp);
      return 0;
    } else if (name === undefined && !arg.startsWith("-")) name = arg;
    else args.push(arg);
  }
  const names = benchmarkNames();
  if (list) {
    process.stdout.write(names.map((known) => `${known}\n`).join(""));
    return 0;
  }
  const available = names.length === 0 ? `none: no benchmarks in ${kBenchDir}` : names.join(", ");
  if (name === undefined) {
    process.stderr.write(`shoal bench: expected the name of a benchmark, as in: shoal bench histo --pes 2 (available: ${available})\n`);
    return 2;
  }
  if (!names.includes(name)) {
    process.stderr.write(`shoal bench: no benchmark named ${JSON.stringify(name)} (available: ${available})\n`);
    return 2;
  }
  if (!/^\d+$/.test(pesText)) {
    process.stderr.write(`shoal bench: --pes expects a positive integer number of PEs, got ${JSON.stringify(pesText)}\n`);
    return 2;
  }
  const pes = Number(pesText);
  const procs = Number(procsText);
  if (!/^\d+$/.test(procsText) || procs < 1 || pes % procs !== 0) {
    process.stderr.write(`shoal bench: --procs expects a positive number of processes that divides the ${pes} PEs, got ${JSON.stringify(procsText)}\n`);
    return 2;
  }
  const program = `${kBenchDir}${name}.ts`;
  if (procs > 1) return runProcesses({ procs, pesPerProc: pes / procs, program, args, cli: fileURLToPath(import.meta.url) });
  return runJob({ pes, program, args });
}

/** A job's shape as `shoal run` and `shoal info` take it. */
interface JobShape {
  readonly pes: number;
  readonly procs: number;
  /** `--modules`: how many modules the processes are split into; undefined: the environment's `SHOAL_MODULE_ID`. */
  readonly modules: number | undefined;
}

/** Checks `-n`, `--procs` and `--modules` (as given, or absent); the message for the user when they do not fit. */
function readShape(values: { pes?: string | undefined; procs?: string | undefined; modules?: string | undefined }): JobShape | { error: string } {
  const pesText = values.pes ?? "1";
  const pes = Number(pesText);
  if (!/^\d+$/.test(pesText)) return { error: `-n expects a positive integer number of PEs, got ${JSON.stringify(pesText)}` };
  if (pes < 1 || pes > kMaxPes) return { error: `-n expects a number of PEs in 1..${kMaxPes}, got ${pes}` };
  const procsText = values.procs ?? "1";
  const procs = Number(procsText);
  if (!/^\d+$/.test(procsText) || procs < 1) return { error: `--procs expects a positive integer number of processes, got ${JSON.stringify(procsText)}` };
  if (pes % procs !== 0) return { error: `-n ${pes} PEs cannot be shared evenly by --procs ${procs} processes; give a multiple of ${procs}` };
  const modulesText = values.modules;
  if (modulesText === undefined) return { pes, procs, modules: undefined };
  const modules = Number(modulesText);
  if (!/^\d+$/.test(modulesText) || modules < 1) return { error: `--modules expects a positive integer number of modules, got ${JSON.stringify(modulesText)}` };
  if (procs === 1 && modules !== 1) {
    return {
      error: `--modules ${modules} splits the job's processes into modules, but without --procs the job is one process, in one module; ` +
        `give --procs P with P >= ${modules} (processes of one module each at least), or set SHOAL_MODULE_ID to choose the module of a one-process job`,
    };
  }
  if (modules > procs) {
    return { error: `--modules ${modules} needs at least one process per module, but --procs ${procs} gives ${procs}; give --modules 1..${procs}, or --procs ${modules} or more` };
  }
  return { pes, procs, modules };
}

/**
 * `shoal info [-n N] [--procs P] [--modules M]`: prints the topology that `shoal run` with the same
 * options sets up: its processes are on this host (node 0), in the modules `--modules` gives them,
 * else in this environment's module (`SHOAL_MODULE_ID`, `PSP_MSA_MODULE_ID`, else 0).
 */
function info(argv: readonly string[]): number {
  let values: { pes?: string | undefined; procs?: string | undefined; modules?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { pes: { type: "string", short: "n" }, procs: { type: "string" }, modules: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    process.stderr.write(`shoal info: ${error.message} (see shoal --help)\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(kHelp);
    return 0;
  }
  const shape = readShape(values);
  if ("error" in shape) {
    process.stderr.write(`shoal info: ${shape.error}\n`);
    return 2;
  }
  const { pes, procs, modules } = shape;
  const { moduleId } = readConfig();
  const topology = new Topology(
    pes / procs,
    Array.from({ length: procs }, (_, rank) => ({ nodeKey: 0, module: modules === undefined ? moduleId : moduleOfProcess(rank, procs, modules) })),
  );
  const command = `shoal run -n ${pes}${procs === 1 ? "" : ` --procs ${procs}`}${modules === undefined ? "" : ` --modules ${modules}`}`;
  process.stdout.write(`${command} on this host (${hostname()}):\n${topology.describe()}\n`);
  return 0;
}

/** What `shoal exec` runs in each process. */
interface ExecJob {
  /** PEs (worker threads) in each process. */
  readonly pesPerProc: number;
  readonly program: string;
  readonly args: readonly string[];
}

/**
 * `shoal exec [--pes-per-proc T] [--placement] [--] PROGRAM [ARGS...]`: one process of a job that
 * a cluster launcher started, placed by the launcher's variables (see placement.ts).
 */
async function exec(argv: readonly string[]): Promise<number> {
  const { own, program, rest: args } = splitAtProgram(argv, kExecValueOptions);
  let values: { "pes-per-proc"?: string | undefined; placement?: boolean | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: own,
      options: { "pes-per-proc": { type: "string" }, placement: { type: "boolean" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    process.stderr.write(`shoal exec: ${error.message} (see shoal --help)\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(kHelp);
    return 0;
  }
  const pesText = values["pes-per-proc"] ?? "1";
  const pesPerProc = Number(pesText);
  if (!/^\d+$/.test(pesText) || pesPerProc < 1 || pesPerProc > kMaxPes) {
    process.stderr.write(`shoal exec: --pes-per-proc expects a whole number of PEs per process in 1..${kMaxPes}, got ${JSON.stringify(pesText)}\n`);
    return 2;
  }
  const placement = readPlacement(readLauncherEnv());
  if (values.placement === true) {
    if (program !== undefined) {
      process.stderr.write(`shoal exec: --placement prints the placement and runs nothing, but a program was given (${JSON.stringify(program)}); drop one of them\n`);
      return 2;
    }
    process.stdout.write(`${JSON.stringify(placement)}\n`);
    return 0;
  }
  if (program === undefined) {
    process.stderr.write("shoal exec: expected a program to run, as in: mpirun -n 2 shoal exec --pes-per-proc 4 app.ts\n");
    return 2;
  }
  const job: ExecJob = { pesPerProc, program, args };
  warnIfBound(placement, pesPerProc);
  if (placement.size === 1) return runJob({ pes: job.pesPerProc, program: job.program, args: job.args });
  return runProcessOfJob(placement, job);
}

/**
 * Warns when the launcher bound this process to fewer cores than it runs PEs: Open MPI binds each
 * process of a job of one or two to a single core by default, where T PE threads would take turns.
 */
function warnIfBound(placement: Placement, pesPerProc: number): void {
  const usable = availableParallelism();
  if (placement.launcher === "none" || pesPerProc <= usable || usable >= cpus().length) return;
  process.stderr.write(
    `shoal exec: warning: this process may run on ${usable} of the machine's ${cpus().length} cores (its CPU affinity) but runs ${pesPerProc} PEs, which will take turns; ` +
      `if the launcher bound it, give each process ${pesPerProc} cores (mpirun --bind-to none or --map-by slot:pe=${pesPerProc}; srun --cpus-per-task=${pesPerProc})\n`,
  );
}

/** Runs this process's part of a job of several processes: connects to the others, then runs its PEs. */
async function runProcessOfJob(placement: Placement, job: ExecJob): Promise<number> {
  const config = readConfig();
  const launcherEnv = readLauncherEnv();
  watchLauncher(launcherEnv["SHOAL_LAUNCHER_FD"], config.root);
  const addressing = await resolveAddressing(placement, config, launcherEnv);
  try {
    return await runJob({
      pes: job.pesPerProc,
      program: job.program,
      args: job.args,
      config,
      process: {
        rank: placement.rank, size: placement.size, root: addressing.root, listen: addressing.listen,
        token: addressing.token, hostPes: placement.localSize * job.pesPerProc, nodeKey: nodeKeyOf(placement, hostname()),
      },
    });
  } finally {
    cleanupAddressing(addressing);
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === "-h" || command === "--help" || command === "help") {
    process.stdout.write(kHelp);
    return command === undefined ? 2 : 0;
  }
  if (command === "-v" || command === "--version") {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  if (command === "bench") return bench(rest);
  if (command === "exec") return exec(rest);
  if (command === "info") return info(rest);
  if (command !== "run") {
    process.stderr.write(`shoal: unknown command "${command}"; expected "run", "exec", "info" or "bench" (see shoal --help)\n`);
    return 2;
  }
  const { own, program, rest: args } = splitAtProgram(rest, kRunValueOptions);
  const { values } = parseArgs({
    args: own,
    options: { pes: { type: "string", short: "n" }, procs: { type: "string" }, modules: { type: "string" }, help: { type: "boolean", short: "h" } },
    strict: true,
  });
  if (values.help === true) {
    process.stdout.write(kHelp);
    return 0;
  }
  if (program === undefined) {
    process.stderr.write("shoal run: expected a program to run, as in: shoal run -n 4 app.ts\n");
    return 2;
  }
  const shape = readShape(values);
  if ("error" in shape) {
    process.stderr.write(`shoal run: ${shape.error}\n`);
    return 2;
  }
  const { pes, procs, modules } = shape;
  // --modules 1 of a one-process job: module 0, as process 0 of any --modules split.
  if (procs === 1) return runJob({ pes, program, args, ...(modules === undefined ? {} : { config: { ...readConfig(), moduleId: 0 } }) });
  return runProcesses({ procs, pesPerProc: pes / procs, program, args, cli: fileURLToPath(import.meta.url), ...(modules === undefined ? {} : { modules }) });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof ShoalError) process.stderr.write(`shoal: ${error.message}\n`);
    else if (error instanceof Error && error.name === "TypeError" && "code" in error && String(error.code).startsWith("ERR_PARSE_ARGS")) {
      process.stderr.write(`shoal run: ${error.message} (see shoal --help)\n`);
    } else process.stderr.write(`shoal: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 2;
  },
);
