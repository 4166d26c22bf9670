/**
 * The job control block: one `SharedArrayBuffer` of `Int32` words shared by every PE of a process
 * and the launcher's main thread.
 *
 * ```
 * word      field              written by
 *    0      ABORT              launcher (or a PE): 0 while running, failed PE + 1 once one failed
 *    1      BARRIER_COUNT      PEs (add), reset by the last arriver
 *    2      BARRIER_GENERATION the last arriver of each barrier (add 1); in a job of several
 *                                processes, the IO worker, once every process has arrived
 *    3      PROCESS_ARRIVED    the last arriver of this process's PEs (jobs of several processes):
 *                                the generation it arrived at, plus 1, for the IO worker
 *   16+p    ARRIVED[p]         PE p: the barrier generation it last arrived at, plus 1
 * 16+N+p    REGISTRY[p]        PE p: the hash of its sorted active-message names
 * 16+2N+p   NODE[p]            PE p: the 32-bit FNV-1a hash of its process's node key (init.ts)
 * 16+3N+p   MODULE[p]          PE p: its process's module id
 * ```
 * N is the number of PEs of the whole job; in a job of several processes each process has its own
 * block, and only the words of its own PEs are used, and the *arrival words* (REGISTRY, NODE,
 * MODULE: {@link kArrivalWords}) of other processes' PEs, which the IO worker writes from their
 * process's ARRIVE (io/wire.ts) before it raises the generation. Each PE writes its arrival words
 * before it arrives at init's barrier, so after that barrier every PE may read every PE's.
 * Barrier words: see collectives/barrier.ts for the protocol and its ordering.
 *
 * @module
 */

/** Word index of the abort flag. */
export const kAbort = 0;
/** Word index of the barrier's arrival counter. */
export const kBarrierCount = 1;
/** Word index of the barrier's generation. */
export const kBarrierGeneration = 2;
/** Word index of the process's barrier arrival, for the IO worker (jobs of several processes). */
export const kProcessArrived = 3;
const kPerPeBase = 16;

/** Word index of `ARRIVED[pe]`. */
export function arrivedWord(pe: number): number {
  return kPerPeBase + pe;
}

/** Word index of `REGISTRY[pe]`. */
export function registryWord(pe: number, numPes: number): number {
  return kPerPeBase + numPes + pe;
}

/** Word index of `NODE[pe]`. */
export function nodeWord(pe: number, numPes: number): number {
  return kPerPeBase + 2 * numPes + pe;
}

/** Word index of `MODULE[pe]`. */
export function moduleWord(pe: number, numPes: number): number {
  return kPerPeBase + 3 * numPes + pe;
}

/** The per-PE words a process tells the others when it arrives at a barrier, in the order of ARRIVE's body. */
export const kArrivalWords: readonly ((pe: number, numPes: number) => number)[] = [registryWord, nodeWord, moduleWord];

/** The bytes of a job control block for `numPes` PEs. */
export function jobControlBytes(numPes: number): number {
  return (kPerPeBase + 4 * numPes) * 4;
}
