/**
 * The exit print of a message-size histogram: a table like ParaStation MPI's, one row per bin
 * (labelled by its upper bound in bytes), one column per connection type counted, and totals.
 *
 * ```
 * shoal: message histogram of process 0 of 1 (PEs 0..3); SHOAL_HISTOGRAM_MIN=64 _MAX=4096 _SHIFT=2 _CONTYPE=all
 *      bin  shm  ipc  tcp  gw  total
 *       64   14    0    0   0     14
 *      256    3    0    0   0      3
 *     1024    1    0    0   0      1
 *     4096    0    0    0   0      0
 *    total   18    0    0   0     18
 * ```
 *
 * @module
 */
import type { HistogramConfig } from "../config/index.js";
import { kConnectionTypes, type ConnectionType, type HistogramSnapshot } from "./histogram.js";

/**
 * The settings as the exit print's heading names them: `SHOAL_HISTOGRAM_MIN=64 _MAX=67108864 _SHIFT=1 _CONTYPE=all`.
 *
 * @example
 * ```ts
 * describeHistogramSettings({ min: 64, max: 4096, shift: 2, contype: "shm" }); // "SHOAL_HISTOGRAM_MIN=64 _MAX=4096 _SHIFT=2 _CONTYPE=shm"
 * ```
 */
export function describeHistogramSettings(settings: HistogramConfig): string {
  return `SHOAL_HISTOGRAM_MIN=${settings.min} _MAX=${settings.max} _SHIFT=${settings.shift} _CONTYPE=${settings.contype ?? "all"}`;
}

/**
 * The table of `snapshot` under the line `heading; SETTINGS`, without a final newline: one row per
 * bin and a `total` row; one column per connection type counted (only `SHOAL_HISTOGRAM_CONTYPE`'s
 * when it is set) and, for every type, a `total` column.
 *
 * @example
 * ```ts
 * process.stderr.write(`${formatHistogram(histogram.snapshot(), "shoal: message histogram of process 0 of 1 (PEs 0..3)")}\n`);
 * ```
 */
export function formatHistogram(snapshot: HistogramSnapshot, heading: string): string {
  const types: readonly ConnectionType[] = snapshot.settings.contype === undefined ? kConnectionTypes : [snapshot.settings.contype];
  const columns: { name: string; values: number[] }[] = types.map((type) => ({ name: type, values: [...snapshot.counts[type]] }));
  if (types.length > 1) {
    columns.push({ name: "total", values: snapshot.bins.map((_, bin) => types.reduce((sum, type) => sum + snapshot.counts[type][bin]!, 0)) });
  }
  for (const column of columns) column.values.push(column.values.reduce((sum, value) => sum + value, 0));
  const labels = [...snapshot.bins.map(String), "total"];
  const rows = [["bin", ...columns.map((column) => column.name)], ...labels.map((label, row) => [label, ...columns.map((column) => String(column.values[row]))])];
  const widths = rows[0]!.map((_, k) => Math.max(...rows.map((cells) => cells[k]!.length)));
  const lines = rows.map((cells) => cells.map((cell, k) => cell.padStart(widths[k]! + (k === 0 ? 3 : 2))).join(""));
  return [`${heading}; ${describeHistogramSettings(snapshot.settings)}`, ...lines].join("\n");
}
