#!/usr/bin/env node
/**
 * The `shoal` command.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

import { ShoalError } from "../errors.js";
import { runJob } from "./run.js";

const kHelp = `shoal: run a data-parallel TypeScript or JavaScript program on many PEs

Usage:
  shoal run -n N [--] PROGRAM [ARGS...]   run PROGRAM on N PEs (worker threads of this process);
                                          everything after PROGRAM is the program's, as given
  shoal --help                            print this help
  shoal --version                         print shoal's version

PROGRAM is a .js/.mjs file, or a .ts/.mts file (compiled on the fly by tsx). Every PE runs the
whole program (SPMD); \`await init()\` tells each one its number. ARGS reach the program as
process.argv.slice(2). The exit code is 0 when every PE finished, and 1 when any PE failed: its
error is printed and the other PEs are stopped.

Options of \`run\`:
  -n, --pes N        number of PEs (default 1)
  -h, --help         print this help

Environment (defaults in parentheses; see the README for details):
  SHOAL_SPIN_US              idle polling before a PE sleeps, in µs (5000; 0 when PEs outnumber cores)
  SHOAL_AGGREGATION_BYTES    frame size that triggers a send (32768)
  SHOAL_RING_BYTES           bytes of each PE's inbound ring, a power of two (1048576)
  SHOAL_LARGE_BYTES          typed arrays this large move by reference (65536)
  SHOAL_BARRIER_TIMEOUT_MS   a barrier waiting this long prints the missing PEs (10000)
  SHOAL_ABORT_GRACE_MS       after a failure, time before the other PEs are stopped (2000)

Examples:
  shoal run -n 4 examples/01-hello.ts
  shoal run -n 2 bench/am-latency.ts --json
`;

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string };
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
  if (command !== "run") {
    process.stderr.write(`shoal: unknown command "${command}"; expected "run" (see shoal --help)\n`);
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
