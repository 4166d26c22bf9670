/**
 * The shared-memory barrier of the PEs of one process: a counter and a generation in the job
 * control block (lamellae/shm/job.ts).
 *
 * Protocol and ordering (all `Atomics`, sequentially consistent):
 * 1. An arriving PE reads GENERATION = g, stores ARRIVED[pe] = g + 1 (for the timeout report),
 *    and adds 1 to COUNT.
 * 2. The PE whose add returned `numPes - 1` is the last: it stores COUNT = 0, *then* adds 1 to
 *    GENERATION, and rings every PE's doorbell. Nobody leaves before GENERATION moves, so nobody
 *    can arrive at the next barrier before COUNT is back at 0.
 * 3. The others wait, making progress on active messages meanwhile, until GENERATION != g.
 * 4. While waiting longer than `barrierTimeoutMs`, a PE prints the PEs whose ARRIVED is still
 *    below g + 1, and again at each interval, naming the barrier by its number (g + 1; init()'s
 *    is the first) so reports of different barriers can be told apart.
 *
 * @module
 */
import type { Engine } from "../am/index.js";
import { arrivedWord, kBarrierCount, kBarrierGeneration } from "../lamellae/index.js";

/** Collective: every PE must call it. Resolves once every PE has called it. @internal */
export async function barrier(engine: Engine, timeoutMs: number): Promise<void> {
  const control = engine.transport.control;
  const numPes = engine.numPes;
  const generation = Atomics.load(control, kBarrierGeneration);
  Atomics.store(control, arrivedWord(engine.pe), generation + 1);
  if (Atomics.add(control, kBarrierCount, 1) === numPes - 1) {
    Atomics.store(control, kBarrierCount, 0);
    Atomics.add(control, kBarrierGeneration, 1);
    engine.transport.wakeAll();
    // Messages written before the barrier still go out at the next step.
    engine.kick();
    return;
  }
  const started = performance.now();
  const report = setInterval(() => {
    const missing: number[] = [];
    for (let pe = 0; pe < numPes; pe++) {
      if (Atomics.load(control, arrivedWord(pe)) < generation + 1) missing.push(pe);
    }
    if (missing.length === 0) return;
    process.stderr.write(
      `shoal: PE ${engine.pe} has waited ${Math.round(performance.now() - started)} ms in barrier ${generation + 1} of this job ` +
      `(barrier 1 is the one in init); ` +
      `PE${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ${missing.length === 1 ? "has" : "have"} not arrived ` +
      `(a PE that skips a collective call, or waits for something that never comes, hangs the others)\n`,
    );
  }, timeoutMs);
  report.unref();
  try {
    await engine.waitUntil(() => Atomics.load(control, kBarrierGeneration) !== generation);
  } finally {
    clearInterval(report);
  }
}
