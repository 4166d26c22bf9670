#!/usr/bin/env node
/**
 * The `shoal` command.
 *
 * @module
 */
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { ShoalError } from "../errors.js";
import { runJob } from "./run.js";

const kHelp = `shoal: run a data-parallel TypeScript or JavaScript program on many PEs

Usage:
  shoal run -n N [--] PROGRAM [ARGS...]   run PROGRAM on N PEs (worker threads of this process);
                                          everything after PROGRAM is the program's, as given
  shoal bench NAME [--pes N] [--json] [OPTIONS...]
                                          run the benchmark NAME (bench/NAME.ts of this package)
                                          on N PEs (default 2); every other option is the
                                          benchmark's (its sizes, --reps, ...)
  shoal bench --list                      list the benchmarks
  shoal --help                            print this help
  shoal --version                         print shoal's version

PROGRAM is a .js/.mjs file, or a .ts/.mts file (compiled on the fly by tsx). Every PE runs the
whole program (SPMD); \`await init()\` tells each one its number. ARGS reach the program as
process.argv.slice(2). The exit code is 0 when every PE finished, and 1 when any PE failed: its
error is printed and the other PEs are stopped.

Options of \`run\`:
  -n, --pes N        number of PEs (default 1)
  -h, --help         print this help

Options of \`bench\` (anywhere after \`bench\`; after \`--\`, everything is the benchmark's):
  -n, --pes N        number of PEs (default 2)
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

Examples:
  shoal run -n 4 examples/01-hello.ts
  shoal bench histo --pes 2
  shoal bench sum --mib 64 --reps 5 --json
`;

/** Where the benchmarks are: the package's bench/ folder (this file is dist/src/launch/cli.js). */
const kBenchDir = fileURLToPath(new URL("../../../bench/", import.meta.url));
/** Files of bench/ that are not benchmarks. */
const kNotBenchmarks = new Set(["harness"]);

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** Splits `argv` at the program: options before it are shoal's, everything after is the program's. */
function splitAtProgram(argv: readonly string[]): { own: string[]; program: string | undefined; rest: string[] } {
  const own: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") return { own, program: argv[i + 1], rest: argv.slice(i + 2) };
    if (!arg.startsWith("-")) return { own, program: arg, rest: argv.slice(i + 1) };
    // "-n -3" would read as two options; "--pes=-3" reaches the check below and gets its message.
    if ((arg === "-n" || arg === "--pes") && i + 1 < argv.length) own.push(`--pes=${argv[++i]!}`);
    else own.push(arg);
  }
  return { own, program: undefined, rest: [] };
}

/** The benchmarks in bench/, by name (the file name without .ts), sorted. */
function benchmarkNames(): string[] {
  if (!existsSync(kBenchDir)) return [];
  return readdirSync(kBenchDir)
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
    .map((file) => file.slice(0, -".ts".length))
    .filter((name) => !kNotBenchmarks.has(name))
    .sort();
}

/**
 * `shoal bench NAME [--pes N] [--list] [options...]`: shoal's own options are taken from anywhere
 * before `--`; the first other word is the name; everything else goes to the benchmark, in order.
 */
async function bench(argv: readonly string[]): Promise<number> {
  let pesText = "2";
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
  return runJob({ pes: Number(pesText), program: `${kBenchDir}${name}.ts`, args });
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
  if (command !== "run") {
    process.stderr.write(`shoal: unknown command "${command}"; expected "run" or "bench" (see shoal --help)\n`);
    return 2;
  }
  const { own, program, rest: args } = splitAtProgram(rest);
  const { values } = parseArgs({
    args: own,
    options: { pes: { type: "string", short: "n" }, help: { type: "boolean", short: "h" } },
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
  const pesText = values.pes ?? "1";
  const pes = Number(pesText);
  if (!/^\d+$/.test(pesText)) {
    process.stderr.write(`shoal run: -n expects a positive integer number of PEs, got ${JSON.stringify(pesText)}\n`);
    return 2;
  }
  return runJob({ pes, program, args });
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
