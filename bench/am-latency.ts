/**
 * am-latency: the round trip of an empty active message that returns a value, between 2 PEs of
 * one process, against two baselines measured in the same run, alternating with it:
 * - a raw SharedArrayBuffer spin ping-pong between two threads (the floor: no engine at all);
 * - worker `postMessage` ping-pong between two threads (what plain Node offers).
 *
 *   npx shoal bench am-latency [--reps 7] [--iters 20000] [--json]   (2 PEs: the default)
 *
 * Target (BENCHMARKS.md): median round trip ≤ 1 µs.
 */
import { defineAm, init } from "shoal";

import { endBenchmark, option, settle, printRows, spinPingPong, startWorker, summarize, type Row } from "./harness.js";

const echo = defineAm("bench.echo", (_ctx, x: number) => x);

const world = await init();
const reps = option("reps", 7);
const iters = option("iters", 20000);

const postSource = `
const { parentPort } = require("node:worker_threads");
parentPort.on("message", (m) => { if (m < 0) parentPort.close(); else parentPort.postMessage(m); });
`;

/** Round trips of worker postMessage ping-pong, µs each. */
async function postPingPong(n: number): Promise<number> {
  const worker = startWorker(postSource, null);
  const roundTrips = async (count: number): Promise<void> => {
    let left = count;
    await new Promise<void>((resolve) => {
      const onMessage = (): void => {
        if (--left === 0) {
          worker.off("message", onMessage);
          resolve();
        } else worker.postMessage(left);
      };
      worker.on("message", onMessage);
      worker.postMessage(left);
    });
  };
  await roundTrips(Math.min(n, 1000));
  const start = process.hrtime.bigint();
  await roundTrips(n);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / n;
  await worker.terminate();
  return micros;
}

/** Round trips of shoal's exec between PE 0 and PE 1, µs each. */
async function amPingPong(n: number): Promise<number> {
  for (let i = 0; i < Math.min(n, 2000); i++) await world.exec(1, echo, i);
  const start = process.hrtime.bigint();
  let sum = 0;
  for (let i = 0; i < n; i++) sum += await world.exec(1, echo, i);
  const micros = Number(process.hrtime.bigint() - start) / 1000 / n;
  if (sum !== (n * (n - 1)) / 2) throw new Error(`am-latency: replies were wrong (sum ${sum})`);
  return micros;
}

if (world.numPes < 2) throw new Error("am-latency needs 2 PEs: shoal run -n 2 bench/am-latency.ts");
if (world.pe === 0) {
  const shoal: number[] = [];
  const spin: number[] = [];
  const post: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    shoal.push(await amPingPong(iters));
    await settle(world);
    spin.push(await spinPingPong(iters));
    post.push(await postPingPong(Math.min(iters, 5000)));
  }
  const s = summarize(shoal);
  const a = summarize(spin);
  const p = summarize(post);
  const check = "every repetition's exec replies summed to the values sent";
  const rows: Row[] = [
    { benchmark: "am-latency", what: "shoal exec round trip, 2 PEs", unit: "µs", ...s, target: "≤ 1 µs", check },
    { benchmark: "am-latency", what: "baseline: SAB spin ping-pong", unit: "µs", ...a, ratio: s.median / a.median, ratioOf: "shoal / spin", check },
    { benchmark: "am-latency", what: "baseline: worker postMessage ping-pong", unit: "µs", ...p, ratio: p.median / s.median, ratioOf: "postMessage / shoal", check },
  ];
  printRows(rows);
}
await endBenchmark(world);
