/**
 * am-throughput: one-way throughput of small fire-and-forget active messages (`world.send` with a
 * small number; the handler counts it) from PE 0 to PE 1 of one process, aggregated by the engine,
 * timed up to the end of the final `waitAll`. Two baselines run in the same run, alternating with
 * it, each repetition:
 * - worker `postMessage`: a one-way stream of small messages to a second thread, which counts them
 *   and acknowledges the last one (what plain Node offers);
 * - a raw single-producer single-consumer ring of 8-byte messages on a SharedArrayBuffer between
 *   two threads, publishing every message (one `Atomics.store` of the tail each) while the
 *   consumer polls (the floor: no engine, no aggregation, no encoding).
 *
 *   npx shoal bench am-throughput [--reps 7] [--count 2000000] [--json]   (2 PEs: the default)
 *
 * Every repetition checks its count: the receiver must have seen exactly the messages sent (and
 * their sum), else the benchmark throws. Target (BENCHMARKS.md): ≥ 10 M messages/s.
 */
import { defineAm, init } from "shoal";

import { endBenchmark, option, settle, printRows, startWorker, summarize, type Row } from "./harness.js";

let received = 0;
let receivedSum = 0;
const count = defineAm("bench.count", (_ctx, x: number) => {
  received++;
  receivedSum += x;
});
const readCount = defineAm("bench.readCount", () => ({ received, receivedSum }));
const resetCount = defineAm("bench.resetCount", () => {
  received = 0;
  receivedSum = 0;
});

const world = await init();
const reps = option("reps", 7);
const messages = option("count", 2_000_000);
/** postMessage is two orders of magnitude slower: a shorter stream gives the same rate. */
const postMessages = Math.min(messages, 200_000);

/** The value message `i` carries: small, so it encodes as an int32. */
const valueOf = (i: number): number => i & 0xff;
function expectedSum(n: number): number {
  let sum = 0;
  for (let i = 0; i < n; i++) sum += valueOf(i);
  return sum;
}

/** Messages per second of shoal's send from PE 0 to PE 1, including the final waitAll. */
async function shoalStream(n: number): Promise<number> {
  await world.exec(1, resetCount);
  const start = process.hrtime.bigint();
  for (let i = 0; i < n; i++) world.send(1, count, valueOf(i));
  await world.waitAll();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const seen = await world.exec(1, readCount);
  if (seen.received !== n || seen.receivedSum !== expectedSum(n)) {
    throw new Error(`am-throughput: PE 1 counted ${seen.received} messages (sum ${seen.receivedSum}), expected ${n} (sum ${expectedSum(n)})`);
  }
  return n / seconds;
}

const postSource = `
const { parentPort } = require("node:worker_threads");
let count = 0;
let sum = 0;
parentPort.on("message", (m) => {
  if (m < 0) { parentPort.postMessage([count, sum]); count = 0; sum = 0; }
  else { count++; sum += m; }
});
`;

/** Messages per second of a one-way postMessage stream, up to the receiver's acknowledgement. */
async function postStream(n: number): Promise<number> {
  const worker = startWorker(postSource, null);
  await new Promise((resolve) => worker.once("online", resolve));
  const stream = async (length: number): Promise<[number, number]> => {
    const ack = new Promise<[number, number]>((resolve) => worker.once("message", resolve));
    for (let i = 0; i < length; i++) worker.postMessage(valueOf(i));
    worker.postMessage(-1);
    return ack;
  };
  await stream(Math.min(n, 10_000));
  const start = process.hrtime.bigint();
  const [seen, sum] = await stream(n);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  await worker.terminate();
  if (seen !== n || sum !== expectedSum(n)) throw new Error(`am-throughput: the postMessage baseline counted ${seen} messages (sum ${sum}), expected ${n}`);
  return n / seconds;
}

/**
 * The ring: `kSlots` slots of 8 bytes (two int32: the value and a 1) after a control block.
 * Producer (this thread) owns TAIL, consumer (the worker) owns HEAD; each only reads the other's.
 * The producer writes a slot, then publishes it with Atomics.store(TAIL), for every message: a
 * consumer that loads TAIL > k may read slot k. The consumer reads every published slot, then
 * stores HEAD once: the producer that loads HEAD may reuse every slot below it (it reloads HEAD
 * only when the ring looks full). Counters are message numbers, never wrapped. DONE holds the
 * message number the consumer must reach (0 when idle, -1 to stop); the consumer stores its count
 * and sum after it, then DONE = 0 as the acknowledgement.
 */
const kSlots = 4096;
const HEAD = 0;
const TAIL = 16;
const DONE = 32;
const kControlWords = 48;
const ringSource = `
const { workerData } = require("node:worker_threads");
const control = new Int32Array(workerData, 0, ${kControlWords});
const slots = new Int32Array(workerData, ${kControlWords * 4});
const mask = ${kSlots - 1};
for (;;) {
  const target = Atomics.load(control, ${DONE});
  if (target < 0) break;
  let head = Atomics.load(control, ${HEAD});
  if (target === 0 || head >= target) continue;
  let count = 0;
  let sum = 0;
  while (head < target) {
    const tail = Atomics.load(control, ${TAIL});
    if (head === tail) continue;
    for (; head < tail; head++) {
      const at = (head & mask) << 1;
      sum += slots[at];
      count += slots[at + 1];
    }
    Atomics.store(control, ${HEAD}, head);
  }
  control[${DONE} + 1] = count;
  control[${DONE} + 2] = sum;
  Atomics.store(control, ${DONE}, 0);
}
`;

/** Messages per second of the SPSC ring, up to the consumer having taken the last one. */
async function ringStream(n: number): Promise<number> {
  const buffer = new SharedArrayBuffer(kControlWords * 4 + kSlots * 8);
  const control = new Int32Array(buffer, 0, kControlWords);
  const slots = new Int32Array(buffer, kControlWords * 4);
  const worker = startWorker(ringSource, buffer);
  await new Promise((resolve) => worker.once("online", resolve));
  let tail = 0;
  /** Streams `length` messages; returns the consumer's [count, sum] once it has taken them all. */
  const stream = (length: number): [number, number] => {
    const end = tail + length;
    Atomics.store(control, DONE, end);
    let head = Atomics.load(control, HEAD);
    for (let i = 0; tail < end; i++) {
      while (tail - head === kSlots) head = Atomics.load(control, HEAD);
      const at = (tail & (kSlots - 1)) << 1;
      slots[at] = valueOf(i);
      slots[at + 1] = 1;
      Atomics.store(control, TAIL, ++tail);
    }
    while (Atomics.load(control, DONE) !== 0) { /* wait for the consumer's acknowledgement */ }
    return [control[DONE + 1]!, control[DONE + 2]!];
  };
  stream(Math.min(n, 100_000));
  const start = process.hrtime.bigint();
  const [seen, sum] = stream(n);
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  Atomics.store(control, DONE, -1);
  await worker.terminate();
  if (seen !== n || sum !== expectedSum(n)) throw new Error(`am-throughput: the ring baseline counted ${seen} messages (sum ${sum}), expected ${n}`);
  return n / seconds;
}

if (world.numPes < 2) throw new Error("am-throughput needs 2 PEs: shoal run -n 2 bench/am-throughput.ts");
if (world.pe === 0) {
  await shoalStream(Math.min(messages, 200_000));
  const shoal: number[] = [];
  const post: number[] = [];
  const ring: number[] = [];
  for (let rep = 0; rep < reps; rep++) {
    shoal.push((await shoalStream(messages)) / 1e6);
    await settle(world);
    post.push((await postStream(postMessages)) / 1e6);
    ring.push((await ringStream(messages)) / 1e6);
  }
  const s = summarize(shoal);
  const p = summarize(post);
  const r = summarize(ring);
  const check = "every repetition's receiver counted every message, and their sum";
  const rows: Row[] = [
    { benchmark: "am-throughput", what: "shoal send, PE 0 → PE 1, aggregated, incl. waitAll", unit: "M msgs/s", ...s, target: "≥ 10 M msgs/s", check },
    { benchmark: "am-throughput", what: "baseline: worker postMessage stream", unit: "M msgs/s", ...p, ratio: s.median / p.median, ratioOf: "shoal / postMessage", check },
    { benchmark: "am-throughput", what: "baseline: SPSC ring on a SAB, 8-byte messages", unit: "M msgs/s", ...r, ratio: s.median / r.median, ratioOf: "shoal / ring", check },
  ];
  printRows(rows);
}
await endBenchmark(world);
