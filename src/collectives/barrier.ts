/**
 * The barrier: a counter and a generation in the process control block (lamellae/shm/job.ts),
 * shared by the PEs of one process; in a job of several processes, the process's IO worker joins
 * the processes' barriers (lamellae/io/service.ts).
 *
 * Protocol and ordering (all `Atomics`, sequentially consistent):
 * 1. An arriving PE reads GENERATION = g, stores ARRIVED[pe] = g + 1 (for the timeout report),
 *    and adds 1 to COUNT.
 * 2. The PE whose add returned `localPes - 1` is the last of its process: it stores COUNT = 0,
 *    *then* (one process) adds 1 to GENERATION and rings every PE's doorbell, or (several
 *    processes) stores PROCESS_ARRIVED = g + 1 and wakes the IO worker, which adds 1 to GENERATION
 *    and rings the doorbells once every process has arrived. Nobody leaves before GENERATION
 *    moves, so nobody can arrive at the next barrier before COUNT is back at 0.
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
  const transport = engine.transport;
  const control = transport.control;
  const generation = Atomics.load(control, kBarrierGeneration);
  Atomics.store(control, arrivedWord(engine.pe), generation + 1);
  if (Atomics.add(control, kBarrierCount, 1) === transport.localPes - 1) {
    Atomics.store(control, kBarrierCount, 0);
    // Messages written before the barrier still go out at the next step.
    engine.kick();
    if (!transport.multiProcess) {
      Atomics.add(control, kBarrierGeneration, 1);
      transport.wakeAll();
      return;
    }
    engine.flush();
    transport.processArrived(generation);
  }
  const started = performance.now();
  // Ticks in a row at which every PE had arrived and the barrier was still not released: one is the
  // moment of the release itself (the IO worker stores the last arrivals, then raises the
  // generation), not worth a report.
  let releasing = 0;
  const report = setInterval(() => {
    const missing: number[] = [];
    for (let pe = 0; pe < engine.numPes; pe++) {
      if (Atomics.load(control, arrivedWord(pe)) < generation + 1) missing.push(pe);
    }
    const waited = `shoal: PE ${engine.pe} has waited ${Math.round(performance.now() - started)} ms in barrier ${generation + 1} of this job ` +
      `(barrier 1 is the one in init); `;
    const why = "(a PE that skips a collective call, or waits for something that never comes, hangs the others)";
    releasing = missing.length === 0 ? releasing + 1 : 0;
    if (missing.length > 0) {
      process.stderr.write(`${waited}PE${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ${missing.length === 1 ? "has" : "have"} not arrived ${why}\n`);
    } else if (transport.multiProcess && releasing > 1) {
      process.stderr.write(`${waited}every PE of this process (PEs ${transport.firstPe}..${transport.firstPe + transport.localPes - 1}) has arrived, and it waits for PEs of other processes ${why}\n`);
    }
  }, timeoutMs);
  report.unref();
  try {
    await engine.waitUntil(() => Atomics.load(control, kBarrierGeneration) !== generation);
  } finally {
    clearInterval(report);
  }
}
