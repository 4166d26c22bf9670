/**
 * `shoal bench all`: every benchmark of bench/ in turn, each in its own `shoal bench NAME --json`
 * process, with a progress bar; their rows, with the machine, Node's version, the date and each
 * benchmark's command, go to one JSON file (`results.json`, {@link SuiteResults}), from which
 * bench-report.ts renders the HTML report and the README's performance table.
 *
 * The benchmarks are found, not listed: every `.ts` file of bench/ but the harness is one, so a new
 * benchmark joins the suite by being there. What the suite knows about some of them is in the
 * tables below: the small sizes of `--quick` (which test/bench.test.ts runs too, and checks cover
 * every benchmark), the job shape a benchmark insists on, and what it needs beyond the
 * single-process runtime.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { cpus, hostname, release, totalmem, type, arch } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

import { loadNng } from "../lamellae/index.js";

/** Where the benchmarks are: the package's bench/ folder (this file is dist/src/launch/bench-suite.js). */
export const kBenchDir = fileURLToPath(new URL("../../../bench/", import.meta.url));
/** Files of bench/ that are not benchmarks (folders, such as bench/support/, are skipped too). */
const kNotBenchmarks = new Set(["harness"]);

/** The benchmarks in bench/, by name (the file name without .ts), sorted. */
export function benchmarkNames(): string[] {
  if (!existsSync(kBenchDir)) return [];
  return readdirSync(kBenchDir)
    .filter((file) => file.endsWith(".ts") && !file.endsWith(".d.ts"))
    .map((file) => file.slice(0, -".ts".length))
    .filter((name) => !kNotBenchmarks.has(name))
    .sort();
}

/**
 * Each benchmark's options for a run of a second or two: `shoal bench all --quick`, and the smoke
 * test of every benchmark in test/bench.test.ts, which also checks that every benchmark of bench/
 * has an entry here. Sizes only: the job's shape comes from `--pes` and {@link kJobShapes}.
 */
export const kQuickOptions: Readonly<Record<string, readonly string[]>> = {
  "am-latency": ["--reps", "1", "--iters", "100"],
  "am-throughput": ["--reps", "2", "--count", "20000"],
  coll: ["--max-bytes", "4096", "--iters", "50", "--reps", "2"],
  dft: ["--log2n", "12", "--reps", "2", "--naive-per-pe", "100"],
  histo: ["--table", "4096", "--updates", "20000", "--batch", "1000", "--reps", "2"],
  ig: ["--table", "4096", "--reads", "20000", "--batch", "1000", "--reps", "2"],
  "nng-pingpong": ["--reps", "1", "--iters", "100", "--count", "2000", "--mib", "4"],
  "put-get": ["--mib", "4", "--reps", "2"],
  procs: ["--reps", "2", "--iters", "200", "--table", "4096", "--updates", "20000", "--batch", "1000", "--mib", "4"],
  randperm: ["--n", "20000", "--batch", "4096", "--reps", "2"],
  sum: ["--mib", "8", "--reps", "2"],
};

/** The benchmarks that run on one job shape only, whatever `--pes` says. */
export const kJobShapes: Readonly<Record<string, readonly string[]>> = {
  procs: ["--pes", "2", "--procs", "2"],
};

/** The benchmarks that need the NNG addon (they start processes, or measure raw NNG). */
const kNeedsNng = new Set(["procs", "nng-pingpong"]);

/**
 * The arguments of `shoal` that run benchmark `name` as the suite does (without `--json`): its
 * job shape, then its quick sizes when `quick`.
 */
export function suiteArgs(name: string, options: { readonly quick: boolean; readonly pes: number }): string[] {
  const shape = kJobShapes[name] ?? ["--pes", String(options.pes)];
  return ["bench", name, ...shape, ...(options.quick ? kQuickOptions[name] ?? [] : [])];
}

/** Why benchmark `name` cannot run here, or undefined when it can. */
function whyNot(name: string, quick: boolean): string | undefined {
  if (kNeedsNng.has(name)) {
    const nng = loadNng();
    if (nng instanceof Error) return nng.message;
  }
  if (quick && kQuickOptions[name] === undefined) {
    return `it has no quick sizes: add its entry to kQuickOptions in src/launch/bench-suite.ts (test/bench.test.ts runs them too)`;
  }
  return undefined;
}

/** One row of a benchmark's `--json` output: bench/harness.ts's `Row`, and any fields of its own (coll's `bytes`, `hier`, `t_avg`, ...). */
export interface SuiteRow {
  readonly benchmark: string;
  readonly what: string;
  readonly unit: string;
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly ratio?: number;
  readonly ratioOf?: string;
  readonly target?: string;
  readonly check?: string;
  readonly [field: string]: unknown;
}

/** What became of one benchmark of the suite. */
export interface BenchmarkResult {
  readonly name: string;
  /** The command that prints the same table by itself, as a user types it. */
  readonly command: string;
  /** ok: it ran and passed its own check; failed: it exited non-zero; skipped: it could not run here. */
  readonly status: "ok" | "failed" | "skipped";
  /** Why it was skipped, or how it failed. */
  readonly reason?: string;
  /** When it started (ISO 8601). */
  readonly date: string;
  readonly seconds: number;
  readonly rows: readonly SuiteRow[];
  /** What it printed on stderr, when anything. */
  readonly stderr?: string;
}

/** The machine the suite ran on. */
export interface MachineDescription {
  readonly hostname: string;
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGiB: number;
  readonly os: string;
}

/** The file `shoal bench all` writes (`results.json`): everything the report and the README table are made from. */
export interface SuiteResults {
  readonly format: typeof kResultsFormat;
  /** The command that made it. */
  readonly command: string;
  readonly shoal: string;
  readonly node: string;
  readonly machine: MachineDescription;
  /** When the suite started (ISO 8601). */
  readonly date: string;
  readonly seconds: number;
  /** Whether the benchmarks ran at their quick sizes ({@link kQuickOptions}) instead of their own. */
  readonly quick: boolean;
  readonly pes: number;
  readonly benchmarks: readonly BenchmarkResult[];
}

/** The format tag of {@link SuiteResults}, checked when a report is made from a file. */
export const kResultsFormat = "shoal-bench-suite/1";

/** The options of `shoal bench all`, checked. */
export interface SuiteOptions {
  readonly out: string;
  readonly quick: boolean;
  /** The benchmarks to run, in suite order. */
  readonly names: readonly string[];
  readonly pes: number;
}

/** This machine, as the results describe it. */
function describeMachine(): MachineDescription {
  const cores = cpus();
  return {
    hostname: hostname(),
    cpu: cores[0]?.model.trim() ?? "unknown",
    cores: cores.length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    os: `${type()} ${release()} ${arch()}`,
  };
}

function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string };
  return pkg.version;
}

/** The `shoal` CLI, which runs each benchmark (this file is dist/src/launch/bench-suite.js). */
const kCli = fileURLToPath(new URL("./cli.js", import.meta.url));

/** A command line as a user types it (words with spaces or quotes quoted). */
function commandLine(words: readonly string[]): string {
  return words.map((word) => (/^[\w./,:=@%+-]+$/.test(word) ? word : `'${word.replaceAll("'", "'\\''")}'`)).join(" ");
}

/** Runs one benchmark in its own process and collects its JSON rows. */
function runBenchmark(name: string, options: SuiteOptions): Promise<BenchmarkResult> {
  const args = suiteArgs(name, options);
  const date = new Date().toISOString();
  const started = performance.now();
  return new Promise((resolveResult, reject) => {
    const child = spawn(process.execPath, [kCli, ...args, "--json"], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code, signal) => {
      const rows: SuiteRow[] = [];
      for (const line of stdout.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          rows.push(JSON.parse(line) as SuiteRow);
        } catch {
          // a line of the benchmark's own that happens to start with "{"
        }
      }
      const failed = code !== 0;
      const lastLines = stderr.trim().split("\n").slice(-3).join(" / ");
      resolveResult({
        name, command: commandLine(["shoal", ...args]), status: failed ? "failed" : "ok",
        ...(failed ? { reason: `exited with ${signal === null ? `code ${code}` : `signal ${signal}`}${lastLines === "" ? "" : `: ${lastLines}`}` } : {}),
        date, seconds: (performance.now() - started) / 1000, rows, ...(stderr === "" ? {} : { stderr }),
      });
    });
  });
}

/** Minutes and seconds, as a progress line shows them. */
function clock(seconds: number): string {
  const whole = Math.floor(seconds);
  return `${Math.floor(whole / 60)}:${String(whole % 60).padStart(2, "0")}`;
}

/**
 * The suite's progress on stderr: on a terminal, a bar redrawn in place with the benchmark that
 * runs and its time so far, above which each finished benchmark leaves a line; elsewhere (a pipe,
 * a CI log) only those lines, one per benchmark.
 */
class Progress {
  readonly #tty = process.stderr.isTTY === true;
  readonly #total: number;
  readonly #started = performance.now();
  #done = 0;
  #current = "";
  #currentStarted = 0;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(total: number) {
    this.#total = total;
  }

  start(name: string): void {
    this.#current = name;
    this.#currentStarted = performance.now();
    if (!this.#tty) return;
    this.#draw();
    this.#timer ??= setInterval(() => this.#draw(), 250);
  }

  finish(result: BenchmarkResult): void {
    this.#done++;
    const what = result.status === "ok" ? `ok, ${result.rows.length} row${result.rows.length === 1 ? "" : "s"}, ${result.seconds.toFixed(1)} s`
      : result.status === "skipped" ? `skipped: ${result.reason ?? ""}`
        : `FAILED after ${result.seconds.toFixed(1)} s: ${result.reason ?? ""}`;
    const line = `shoal bench all: [${this.#done}/${this.#total}] ${result.name}: ${what}`;
    process.stderr.write(this.#tty ? `\r\x1b[K${line}\n` : `${line}\n`);
    if (this.#tty && this.#done < this.#total) this.#draw();
  }

  end(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    if (this.#tty) process.stderr.write("\r\x1b[K");
  }

  #draw(): void {
    const width = 24;
    const filled = Math.round((width * this.#done) / this.#total);
    const bar = `${"█".repeat(filled)}${"░".repeat(width - filled)}`;
    const now = performance.now();
    process.stderr.write(
      `\r\x1b[K${bar} ${this.#done}/${this.#total}  ${this.#current} ${clock((now - this.#currentStarted) / 1000)}  (total ${clock((now - this.#started) / 1000)})`,
    );
  }
}

/**
 * Runs the suite: every benchmark of `options.names` in turn (or skipped, with the reason, when it
 * cannot run here), then writes `results.json` and the report into `options.out`. Resolves to the
 * exit code: 0 when every benchmark ran or was skipped, 1 when any failed.
 */
export async function runSuite(options: SuiteOptions, command: string): Promise<number> {
  const date = new Date().toISOString();
  const started = performance.now();
  const progress = new Progress(options.names.length);
  const results: BenchmarkResult[] = [];
  try {
    for (const name of options.names) {
      const reason = whyNot(name, options.quick);
      if (reason !== undefined) {
        const args = suiteArgs(name, options);
        const result: BenchmarkResult = { name, command: commandLine(["shoal", ...args]), status: "skipped", reason, date: new Date().toISOString(), seconds: 0, rows: [] };
        results.push(result);
        progress.finish(result);
        continue;
      }
      progress.start(name);
      const result = await runBenchmark(name, options);
      results.push(result);
      progress.finish(result);
    }
  } finally {
    progress.end();
  }
  const suite: SuiteResults = {
    format: kResultsFormat, command, shoal: packageVersion(), node: process.version, machine: describeMachine(), date,
    seconds: (performance.now() - started) / 1000, quick: options.quick, pes: options.pes, benchmarks: results,
  };
  mkdirSync(options.out, { recursive: true });
  const resultsFile = join(options.out, "results.json");
  writeFileSync(resultsFile, `${JSON.stringify(suite, null, 2)}\n`);
  const { writeReport } = await import("./bench-report.js");
  const reportFile = await writeReport(suite, options.out);
  const failed = results.filter((result) => result.status === "failed").length;
  const skipped = results.filter((result) => result.status === "skipped").length;
  process.stdout.write(
    `shoal bench all: ${results.length} benchmark${results.length === 1 ? "" : "s"} in ${clock(suite.seconds)}` +
      `${failed === 0 ? "" : `, ${failed} FAILED`}${skipped === 0 ? "" : `, ${skipped} skipped`}\n` +
      `  results: ${resultsFile}\n  report:  ${reportFile}\n`,
  );
  return failed === 0 ? 0 : 1;
}

const kAllUsage = "shoal bench all [--out DIR] [--quick] [--only NAME,NAME...] [--pes N]";

/** `shoal bench all [--out DIR] [--quick] [--only a,b] [--pes N]`: checks its options and runs the suite. */
export async function benchAll(argv: readonly string[]): Promise<number> {
  let values: { out?: string | undefined; quick?: boolean | undefined; only?: string | undefined; pes?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { out: { type: "string" }, quick: { type: "boolean" }, only: { type: "string" }, pes: { type: "string", short: "n" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    process.stderr.write(`shoal bench all: ${error.message}; usage: ${kAllUsage}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`usage: ${kAllUsage} (see shoal --help)\n`);
    return 0;
  }
  const pesText = values.pes ?? "2";
  if (!/^\d+$/.test(pesText) || Number(pesText) < 1) {
    process.stderr.write(`shoal bench all: --pes expects a positive integer number of PEs, got ${JSON.stringify(pesText)}\n`);
    return 2;
  }
  const known = benchmarkNames();
  let names = known;
  if (values.only !== undefined) {
    const wanted = values.only.split(",").map((name) => name.trim()).filter((name) => name !== "");
    const unknown = wanted.filter((name) => !known.includes(name));
    if (wanted.length === 0 || unknown.length > 0) {
      process.stderr.write(
        `shoal bench all: --only expects benchmark names separated by commas, got ${JSON.stringify(values.only)}` +
          `${unknown.length === 0 ? "" : ` (no benchmark named ${unknown.map((name) => JSON.stringify(name)).join(", ")})`}; available: ${known.join(", ")}\n`,
      );
      return 2;
    }
    names = known.filter((name) => wanted.includes(name));
  }
  const command = commandLine(["shoal", "bench", "all", ...argv]);
  return runSuite({ out: resolve(values.out ?? "bench-report"), quick: values.quick === true, names, pes: Number(pesText) }, command);
}
