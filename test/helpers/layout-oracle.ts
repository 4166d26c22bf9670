/**
 * The distributions' definitions, written independently of shoal's index math, for oracles:
 * block gives the first n % P PEs floor(n / P) + 1 contiguous elements and the rest floor(n / P);
 * cyclic gives PE p the indices i with i % P === p.
 */
import type { Distribution } from "shoal";

/** The global indices PE `pe` owns, in the order of its part. */
export function ownedIndices(length: number, pes: number, dist: Distribution, pe: number): number[] {
  if (dist === "cyclic") return Array.from({ length }, (_, i) => i).filter((i) => i % pes === pe);
  const base = Math.floor(length / pes);
  const extra = length % pes;
  const start = pe * base + Math.min(pe, extra);
  return Array.from({ length: base + (pe < extra ? 1 : 0) }, (_, k) => start + k);
}
