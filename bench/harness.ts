/**
 * What every benchmark shares: repetition statistics, the table, `--json`, and the baseline
 * workers. A benchmark runs its baselines in the same run, alternating with the measured code, and
 * prints medians with min–max and the ratio (see BENCHMARKS.md).
 */
import { Worker } from "node:worker_threads";

import { defineAm, type DistArray, type World } from "shoal";

let release!: () => void;
const released = new Promise<void>((resolve) => {
  release = resolve;
});
const benchDone = defineAm("bench.done", () => release());

/**
 * Waits until this PE's engine has stopped polling (it polls for `SHOAL_SPIN_US` after its last
 * message, in the thread's microtasks). A baseline that runs in the same thread, or on a core a
 * polling PE holds, would otherwise be measured against shoal's polling.
 */
export function settle(world: World): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, world.config.spinUs / 1000 + 5));
}

/**
 * One repetition of a benchmark that every PE runs: every PE calls `measured` (which times itself
 * between barriers and may check its result after), and PE 0 runs `baseline` after `settle`,
 * while the other PEs wait in a barrier (asleep once they stop polling). Which of the two goes
 * first alternates with `rep`, so that neither always runs right after the other. Resolves to
 * `measured`'s result and, on PE 0, `baseline`'s.
 */
export async function alternate<M, B>(world: World, rep: number, measured: () => Promise<M>, baseline: () => B | Promise<B>): Promise<[M, B | undefined]> {
  let base: B | undefined;
  const runBaseline = async (): Promise<void> => {
    if (world.pe === 0) {
      await settle(world);
      base = await baseline();
    }
    await world.barrier();
  };
  if (rep % 2 !== 0) await runBaseline();
  const result = await measured();
  if (rep % 2 === 0) await runBaseline();
  return [result, base];
}

/**
 * Ends a benchmark that PE 0 drives: the other PEs serve until PE 0 says it is done (waiting that
 * long in a barrier would print barrier reports), then every PE meets in a barrier.
 */
export async function endBenchmark(world: World): Promise<void> {
  if (world.pe === 0) {
    for (let pe = 1; pe < world.numPes; pe++) await world.exec(pe, benchDone);
  } else {
    await released;
  }
  await world.barrier();
}

/** The median, min and max of some samples. */
export interface Summary {
  median: number;
  min: number;
  max: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sorted = [...samples].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  const median = sorted.length % 2 === 1 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
  return { median, min: sorted[0]!, max: sorted[sorted.length - 1]! };
}

/** One row of a benchmark's output. */
export interface Row {
  benchmark: string;
  what: string;
  unit: string;
  median: number;
  min: number;
  max: number;
  /** The ratio to the row's baseline, stated as the benchmark's target states it. */
  ratio?: number;
  ratioOf?: string;
  target?: string;
  /** What the benchmark checked of its own result before printing (it throws when the check fails). */
  check?: string;
}

export const wantsJson = process.argv.includes("--json");

function format(value: number): string {
  if (value === 0) return "0";
  if (Math.abs(value) >= 100) return value.toFixed(0);
  if (Math.abs(value) >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** Prints rows as a table, or as one JSON object per line with `--json`. */
export function printRows(rows: readonly Row[]): void {
  if (wantsJson) {
    for (const row of rows) process.stdout.write(`${JSON.stringify(row)}\n`);
    return;
  }
  const header = ["benchmark", "what", "median", "min", "max", "unit", "ratio", "target"];
  const lines = rows.map((row) => [
    row.benchmark, row.what, format(row.median), format(row.min), format(row.max), row.unit,
    row.ratio === undefined ? "" : `${format(row.ratio)}${row.ratioOf === undefined ? "" : ` (${row.ratioOf})`}`,
    row.target ?? "",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((line) => line[i]!.length)));
  const render = (cells: string[]): string => cells.map((cell, i) => cell.padEnd(widths[i]!)).join("  ").trimEnd();
  process.stdout.write(`${render(header)}\n${render(widths.map((w) => "-".repeat(w)))}\n`);
  for (const line of lines) process.stdout.write(`${render(line)}\n`);
  for (const check of new Set(rows.flatMap((row) => (row.check === undefined ? [] : [row.check])))) {
    process.stdout.write(`check: ok: ${check}\n`);
  }
}

/** Reads `--name value` from the program's arguments. */
export function option(name: string, fallback: number): number {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = Number(process.argv[at + 1]);
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name}: expected a positive number, got ${process.argv[at + 1]}`);
  return value;
}

/** Reads `--name value`, a positive integer (`1e7` is accepted), from the program's arguments. */
export function integerOption(name: string, fallback: number): number {
  const value = option(name, fallback);
  if (!Number.isSafeInteger(value)) throw new Error(`--${name}: expected a positive integer, got ${process.argv[process.argv.indexOf(`--${name}`) + 1]}`);
  return value;
}

/** Reads `--name value`, one of `choices`, from the program's arguments. */
export function choiceOption<T extends string>(name: string, choices: readonly T[], fallback: T): T {
  const at = process.argv.indexOf(`--${name}`);
  if (at < 0) return fallback;
  const value = process.argv[at + 1];
  if (!choices.includes(value as T)) throw new Error(`--${name}: expected one of ${choices.join(", ")}, got ${String(value)}`);
  return value as T;
}

/**
 * A seeded generator of 32-bit unsigned integers (mulberry32): every random input of a benchmark
 * comes from one, so that a run can be repeated.
 */
export function generator(seed: number): () => number {
  let state = seed | 0;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return (t ^ (t >>> 14)) >>> 0;
  };
}

/** Seconds since `start` (a `process.hrtime.bigint()`). */
export function secondsSince(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e9;
}

/** Starts a worker from JavaScript source (baselines need a plain second thread). */
export function startWorker(source: string, workerData: unknown): Worker {
  return new Worker(source, { eval: true, workerData });
}

/**
 * PE `pe` checks a histogram table that `numPes` PEs each updated `updates` times at the indices
 * `indicesOf(owner)` (its own are `mine`): it sums to every update, and, when `full`, every element
 * matches the oracle. Throws, naming `name`, when it does not.
 */
export async function checkHistogram(
  name: string, table: DistArray<"u32">, numPes: number, pe: number, updates: number,
  mine: Uint32Array, indicesOf: (owner: number) => Uint32Array, full: boolean,
): Promise<void> {
  const total = await table.sum();
  if (total !== updates * numPes) {
    throw new Error(`${name}: the table sums to ${total}, expected ${updates * numPes} (${numPes} PEs × ${updates} updates): updates were lost or doubled`);
  }
  if (!full) return;
  const expected = new Uint32Array(table.length);
  for (let owner = 0; owner < numPes; owner++) {
    const theirs = owner === pe ? mine : indicesOf(owner);
    for (let k = 0; k < updates; k++) expected[theirs[k]!]!++;
  }
  const got = await table.get(0, table.length);
  for (let i = 0; i < table.length; i++) {
    if (got[i] !== expected[i]) throw new Error(`${name}: element ${i} is ${got[i]}, expected ${expected[i]}`);
  }
}

/** A thread that answers each value stored at word 0 by storing it at word 16 (a negative one stops it). */
const spinSource = `
const { parentPort, workerData } = require("node:worker_threads");
const flags = new Int32Array(workerData);
for (;;) {
  let v;
  while ((v = Atomics.load(flags, 0)) === Atomics.load(flags, 16)) {}
  if (v < 0) break;
  Atomics.store(flags, 16, v);
}
`;
/** Round trips of a raw spin ping-pong on a SharedArrayBuffer, µs each. */
export async function spinPingPong(n: number): Promise<number> {
  const flags = new Int32Array(new SharedArrayBuffer(128));
  const worker = startWorker(spinSource, flags.buffer);
  await new Promise((resolve) => worker.once("online", resolve));
  const run = (count: number, base: number): void => {
    for (let i = 1; i <= count; i++) {
      Atomics.store(flags, 0, base + i);
      while (Atomics.load(flags, 16) !== base + i) { /* spin */ }
    }
  };
  const warmUp = Math.min(n, 2000);
  run(warmUp, 0);
  const start = process.hrtime.bigint();
  run(n, warmUp);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / n;
  Atomics.store(flags, 0, -1);
  await worker.terminate();
  return micros;
}

