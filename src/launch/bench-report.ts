/**
 * The benchmark report: one self-contained HTML page made from the suite's `results.json`
 * (bench-suite.ts), and the README's performance table made from the same file.
 *
 * The charts are Vega-Lite specifications, compiled to Vega and rendered to SVG in Node by Vega's
 * headless renderer (`renderer: "none"`, no browser, no canvas), then inlined into the page: the
 * page makes no request of its own. Per benchmark:
 * - a bar chart per unit of its rows: each figure beside its baselines and controls of the same
 *   run, the bar at the median, a whisker from min to max, the ratios and the target stated above;
 * - for a sweep over message sizes (the rows of `coll`, which carry `bytes` and `hier`), a bar chart
 *   of the headline size per hierarchy level against the baseline, and a line chart of the latency
 *   over message size, one line per level, on log scales.
 * Then a table of every row. The page opens with the run (date, machine, Node, command) and a table
 * of every target and whether it was met.
 *
 * @module
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

import * as vega from "vega";
import { compile, type TopLevelSpec } from "vega-lite";

import { kResultsFormat, type BenchmarkResult, type SuiteResults, type SuiteRow } from "./bench-suite.js";

/** What a row is to the figure it stands beside, from the words its `what` starts with. */
type Role = "measured" | "baseline" | "control" | "reference" | "part";

/** Each role's legend label and colour: one palette for every chart of the page. */
const kRoles: Readonly<Record<Role, { readonly label: string; readonly color: string }>> = {
  measured: { label: "measured", color: "#2563eb" },
  baseline: { label: "baseline (same run)", color: "#9ca3af" },
  control: { label: "control (plain threads, same run)", color: "#f59e0b" },
  reference: { label: "for reference", color: "#a78bfa" },
  part: { label: "part of the measured time", color: "#93c5fd" },
};
const kRoleOrder: readonly Role[] = ["measured", "baseline", "control", "reference", "part"];

/** The hierarchy levels of a sweep (SHOAL_HIER), their names and colours. */
const kLevels: readonly { readonly label: string; readonly color: string }[] = [
  { label: "SHOAL_HIER=0 (flat)", color: "#f59e0b" },
  { label: "SHOAL_HIER=1 (module-aware)", color: "#10b981" },
  { label: "SHOAL_HIER=2 (module- and node-aware)", color: "#2563eb" },
];

const kFont = "system-ui, -apple-system, 'Segoe UI', Roboto, 'Helvetica Neue', Arial, sans-serif";
const kInk = "#111827";
const kMuted = "#4b5563";

/** The look of every chart. */
const kChartConfig = {
  font: kFont,
  background: "#ffffff",
  padding: 12,
  view: { stroke: null },
  axis: {
    labelFontSize: 12, titleFontSize: 12, titleFontWeight: 600, labelColor: "#374151", titleColor: kInk,
    gridColor: "#e5e7eb", domainColor: "#9ca3af", tickColor: "#9ca3af", titlePadding: 10,
  },
  legend: { labelFontSize: 12, titleFontSize: 12, labelColor: "#374151", labelLimit: 320, symbolOpacity: 1, orient: "bottom", direction: "horizontal", symbolType: "square" },
  title: { fontSize: 16, fontWeight: 600, anchor: "start", color: kInk, subtitleFontSize: 12.5, subtitleColor: kMuted, subtitlePadding: 6, subtitleLineHeight: 17, offset: 14 },
} as const;

function roleOf(row: SuiteRow): Role {
  if (row.what.startsWith("baseline:")) return "baseline";
  if (row.what.startsWith("control:")) return "control";
  if (row.what.startsWith("for reference:")) return "reference";
  if (row.what.startsWith("of which:")) return "part";
  return "measured";
}

/** A row of a sweep over message sizes (coll's): it has `bytes` and `hier`. */
function isSweep(row: SuiteRow): row is SuiteRow & { readonly bytes: number; readonly hier: number } {
  return typeof row["bytes"] === "number" && typeof row["hier"] === "number";
}

/** Three significant digits, or the whole number. */
function formatNumber(value: number): string {
  const size = Math.abs(value);
  if (value === 0) return "0";
  if (size >= 100) return value.toFixed(0);
  if (size >= 10) return value.toFixed(1);
  if (size >= 1) return value.toFixed(2);
  return value.toPrecision(3);
}

/** A size in bytes as people write it: 512 B, 4 KiB, 2 MiB. */
function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 20 && bytes % 2 ** 20 === 0) return `${bytes / 2 ** 20} MiB`;
  if (bytes >= 1024 && bytes % 1024 === 0) return `${bytes / 1024} KiB`;
  return `${bytes} B`;
}

/** Times: less is better; rates: more is. */
function lowerIsBetter(unit: string): boolean {
  return /^(ns|µs|us|ms|s)$/.test(unit);
}

/**
 * Whether a row met its target: targets of the form "≥ X×" or "≤ X×" compare the row's ratio,
 * "≥ X UNIT" or "≤ X UNIT" its median (when UNIT is the row's unit); anything else is not judged.
 */
function targetVerdict(row: SuiteRow): "met" | "not met" | undefined {
  const match = /^\s*(≥|≤|>=|<=)\s*([\d.]+)\s*(.*)$/.exec(row.target ?? "");
  if (match === null) return undefined;
  const [, sign, numberText, rest] = match as unknown as [string, string, string, string];
  const bound = Number(numberText);
  let value: number | undefined;
  if (rest.startsWith("×")) value = row.ratio;
  else if (rest.startsWith(row.unit)) value = row.median;
  if (value === undefined || !Number.isFinite(bound)) return undefined;
  const met = sign === "≥" || sign === ">=" ? value >= bound : value <= bound;
  return met ? "met" : "not met";
}

/** A ratio as the benchmarks state it: 1.32× (shoal / baseline). */
function formatRatio(row: SuiteRow): string {
  if (row.ratio === undefined) return "";
  return `${formatNumber(row.ratio)}×${row.ratioOf === undefined ? "" : ` (${row.ratioOf})`}`;
}

/** Splits a label into lines of at most `width` characters, at spaces. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** One chart of the page: its specification and the sentence under it. */
interface Chart {
  readonly spec: TopLevelSpec;
  readonly caption: string;
}

/** The subtitle lines of a bar chart: each ratio and target of its rows, then how to read it. */
function barSubtitle(rows: readonly SuiteRow[], unit: string, spreadOf: string): string[] {
  const lines: string[] = [];
  for (const row of rows) {
    if (row.ratio === undefined && row.target === undefined) continue;
    const verdict = targetVerdict(row);
    const parts = [
      row.ratio === undefined ? `${formatNumber(row.median)} ${row.unit}` : `ratio ${formatRatio(row)}`,
      ...(row.target === undefined ? [] : [`target ${row.target}${verdict === undefined ? "" : `: ${verdict}`}`]),
    ];
    lines.push(`${wrap(row.what, 60)[0]}${row.what.length > 60 ? "…" : ""}: ${parts.join(" · ")}`);
  }
  lines.push(`${lowerIsBetter(unit) ? "lower" : "higher"} is better · bar: median · whisker: ${spreadOf}`);
  return lines;
}

/** A horizontal bar chart of `rows` (one unit): median bars, min–max whiskers, the value at each. */
function barChart(title: string, rows: readonly SuiteRow[], options: { readonly labelOf?: (row: SuiteRow) => string; readonly spreadOf: string; readonly medianOf?: string }): TopLevelSpec {
  const unit = rows[0]!.unit;
  const seen = new Map<string, number>();
  const values = rows.map((row) => {
    let label = options.labelOf?.(row) ?? row.what;
    const count = (seen.get(label) ?? 0) + 1;
    seen.set(label, count);
    if (count > 1) label = `${label} (${count})`;
    const role = roleOf(row);
    // One line break per line of the label; the axis splits it (Vega-Lite's nominal values are strings).
    return { label: wrap(label, 38).join("\n"), role: kRoles[role].label, median: row.median, min: row.min, max: row.max, value: `${formatNumber(row.median)} ${unit}` };
  });
  const roles = kRoleOrder.filter((role) => values.some((value) => value.role === kRoles[role].label));
  const top = Math.max(...rows.map((row) => Math.max(row.max, row.median))) * 1.3;
  const xTitle = `${unit}, ${options.medianOf ?? "median of the repetitions"}`;
  const lineCount = Math.max(...values.map((value) => value.label.split("\n").length));
  return {
    $schema: "https://vega.github.io/schema/vega-lite/v6.json",
    config: kChartConfig,
    title: { text: title, subtitle: barSubtitle(rows, unit, options.spreadOf) },
    width: 540,
    height: { step: 18 + 15 * lineCount },
    data: { values },
    encoding: {
      y: {
        field: "label", type: "nominal", sort: null, title: null,
        axis: { labelExpr: "split(datum.label, '\\n')", labelLimit: 420, labelFontSize: 12, labelLineHeight: 15, labelPadding: 8, ticks: false, domain: false },
      },
    },
    layer: [
      {
        mark: { type: "bar", cornerRadiusEnd: 3, height: { band: 0.72 } },
        encoding: {
          x: { field: "median", type: "quantitative", title: xTitle, scale: { domain: [0, top], nice: false }, axis: { tickCount: 6 } },
          color: { field: "role", type: "nominal", title: null, scale: { domain: roles.map((role) => kRoles[role].label), range: roles.map((role) => kRoles[role].color) } },
        },
      },
      {
        mark: { type: "errorbar", ticks: { size: 10 }, color: kInk, thickness: 1.3 },
        encoding: { x: { field: "min", type: "quantitative", title: xTitle }, x2: { field: "max" } },
      },
      {
        mark: { type: "text", align: "left", baseline: "middle", dx: 7, fontSize: 12, fontWeight: 600, color: kInk },
        encoding: { x: { field: "max", type: "quantitative", title: xTitle }, text: { field: "value" } },
      },
    ],
  } as TopLevelSpec;
}

/** The message size a sweep's bar chart shows: the one with the target, else 8 bytes, else the smallest above 0. */
function headlineBytes(sweep: readonly (SuiteRow & { readonly bytes: number })[]): number {
  const targeted = sweep.find((row) => row.target !== undefined);
  if (targeted !== undefined) return targeted.bytes;
  if (sweep.some((row) => row.bytes === 8)) return 8;
  const sizes = sweep.map((row) => row.bytes).filter((bytes) => bytes > 0);
  return sizes.length === 0 ? 0 : Math.min(...sizes);
}

/** The charts of a sweep over message sizes: the headline size against the baseline, and latency over size. */
function sweepCharts(name: string, rows: readonly SuiteRow[]): Chart[] {
  const sweep = rows.filter(isSweep);
  const others = rows.filter((row) => !isSweep(row));
  const op = typeof sweep[0]!["op"] === "string" ? String(sweep[0]!["op"]) : name;
  const bytes = headlineBytes(sweep);
  const headline = sweep.filter((row) => row.bytes === bytes);
  const levelLabel = (hier: number): string => kLevels[hier]?.label ?? `SHOAL_HIER=${hier}`;
  const charts: Chart[] = [{
    spec: barChart(`${name}: ${op} of ${formatBytes(bytes)} per hierarchy level, against the baseline`, [...headline, ...others], {
      labelOf: (row) => (isSweep(row) ? `${op} of ${formatBytes(row.bytes)}, ${levelLabel(row.hier)}` : row.what),
      spreadOf: "t_min–t_max over the PEs (a baseline: min–max of its repetitions)",
      medianOf: "t_avg over the PEs (a baseline: its median)",
    }),
    caption: `Each level's t_avg for ${formatBytes(bytes)}; the whisker spans t_min to t_max, the fastest and slowest PE's median time per call.`,
  }];
  const points = sweep.filter((row) => row.bytes > 0).map((row) => ({
    bytes: row.bytes, level: levelLabel(row.hier), avg: row.median, low: row.min, high: row.max,
  }));
  if (points.length === 0) return charts;
  const sizes = [...new Set(points.map((point) => point.bytes))].sort((a, b) => a - b);
  const levels = [...new Set(sweep.map((row) => row.hier))].sort((a, b) => a - b);
  const baselines = others.filter((row) => row.unit === sweep[0]!.unit).map((row) => ({ value: row.median, label: `${row.what.replace(/^baseline: /, "")}: ${formatNumber(row.median)} ${row.unit}` }));
  // Log-scale ticks at 1, 2 and 5 of each decade the lines and the baselines span (Vega's own are every digit).
  const span = [...points.flatMap((point) => [point.low, point.high]), ...baselines.map((baseline) => baseline.value)].filter((value) => value > 0);
  const ticks: number[] = [];
  for (let decade = Math.floor(Math.log10(Math.min(...span))); decade <= Math.ceil(Math.log10(Math.max(...span))); decade++) {
    for (const step of [1, 2, 5]) ticks.push(step * 10 ** decade);
  }
  const x = {
    field: "bytes", type: "quantitative", title: "message size",
    scale: { type: "log", base: 2, domain: [sizes[0]!, sizes[sizes.length - 1]!], nice: false },
    axis: { values: sizes, labelExpr: "datum.value >= 1048576 ? (datum.value / 1048576) + ' MiB' : datum.value >= 1024 ? (datum.value / 1024) + ' KiB' : datum.value + ' B'", grid: true },
  };
  const color = {
    field: "level", type: "nominal", title: null,
    scale: { domain: levels.map(levelLabel), range: levels.map((hier) => kLevels[hier]?.color ?? "#6b7280") },
  };
  charts.push({
    spec: {
      $schema: "https://vega.github.io/schema/vega-lite/v6.json",
      config: kChartConfig,
      title: {
        text: `${name}: ${op} latency over message size, per hierarchy level`,
        subtitle: [`${sweep[0]!.unit} per call, log scales · line: t_avg over the PEs · band: t_min–t_max · lower is better`,
          ...baselines.map((baseline) => `dashed: ${baseline.label}`)],
      },
      width: 640,
      height: 320,
      layer: [
        { data: { values: points }, mark: { type: "area", opacity: 0.14 }, encoding: { x, y: { field: "low", type: "quantitative" }, y2: { field: "high" }, color } },
        {
          data: { values: points },
          mark: { type: "line", strokeWidth: 2.2, point: { size: 45, filled: true } },
          encoding: {
            x, color,
            y: { field: "avg", type: "quantitative", title: `${sweep[0]!.unit} per call (t_avg)`, scale: { type: "log" }, axis: { grid: true, values: ticks, format: "~g" } },
          },
        },
        ...baselines.length === 0 ? [] : [{
          data: { values: baselines },
          mark: { type: "rule", color: "#6b7280", strokeDash: [6, 4], strokeWidth: 1.5 },
          encoding: { y: { field: "value", type: "quantitative" } },
        }],
      ],
    } as TopLevelSpec,
    caption: `${levels.length} level${levels.length === 1 ? "" : "s"} over ${sizes.length} sizes (the 0-byte call is in the table).`,
  });
  return charts;
}

/** The charts of one benchmark that ran. */
function chartsOf(result: BenchmarkResult): Chart[] {
  if (result.rows.some(isSweep)) return sweepCharts(result.name, result.rows);
  const units = [...new Set(result.rows.map((row) => row.unit))];
  return units.map((unit) => {
    const rows = result.rows.filter((row) => row.unit === unit);
    return {
      spec: barChart(`${result.name}: ${unit}`, rows, { spreadOf: "min–max of the repetitions" }),
      caption: `Each bar is the median of the repetitions; the whisker spans their minimum and maximum.`,
    };
  });
}

/**
 * The number of charts the report draws for `suite`: what a test of the rendered page expects.
 *
 * @example
 * ```ts
 * const expected = chartCount(JSON.parse(readFileSync("bench-report/results.json", "utf8")));
 * ```
 */
export function chartCount(suite: SuiteResults): number {
  return suite.benchmarks.filter((result) => result.status === "ok").reduce((sum, result) => sum + chartsOf(result).length, 0);
}

/** DejaVu Sans's advance widths in em of the characters that differ most from a lowercase letter's. */
const kCharWidths: Readonly<Record<string, number>> = {
  " ": 0.32, i: 0.28, l: 0.28, j: 0.28, t: 0.39, f: 0.35, r: 0.41, m: 0.97, w: 0.82, ".": 0.32, ",": 0.32, ":": 0.34, ";": 0.34,
  "'": 0.28, "|": 0.34, "!": 0.4, "(": 0.39, ")": 0.39, "[": 0.39, "]": 0.39, "/": 0.34, "-": 0.36, "–": 0.5, "_": 0.5,
  "=": 0.84, "+": 0.84, "×": 0.84, "≤": 0.84, "≥": 0.84, "µ": 0.64, M: 0.86, W: 0.99, I: 0.3,
};

/**
 * Text widths for Vega's layout. Vega measures text with a canvas where there is one; in Node
 * without one it estimates 0.8 em per character, half again as wide as sans-serif text, which cuts
 * labels short and pads the charts. This estimate (DejaVu Sans, the widest of the fonts the page
 * asks for, by character) takes its place: Vega calls its user's `textMetrics.width` when one is
 * set (as the Vega project's own vl-convert does); the typings do not list it.
 */
function estimateTextWidth(item: { fontSize?: number; fontWeight?: string | number; limit?: number }, text: unknown): number {
  const size = item.fontSize ?? 11;
  let em = 0;
  for (const char of String(text ?? "").trim()) em += kCharWidths[char] ?? (/[0-9]/.test(char) ? 0.64 : /[A-Z]/.test(char) ? 0.7 : 0.6);
  const bold = item.fontWeight === "bold" || (typeof item.fontWeight === "number" && item.fontWeight >= 600) || item.fontWeight === "600";
  const width = em * size * (bold ? 1.08 : 1);
  // A text with a limit is cut to it (with an ellipsis) when drawn: its width is at most the limit.
  return item.limit !== undefined && item.limit > 0 ? Math.min(width, item.limit) : width;
}
(vega as unknown as { textMetrics: { width: typeof estimateTextWidth } }).textMetrics.width = estimateTextWidth;

/** Renders a Vega-Lite specification to SVG, without a browser. */
async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

function escapeHtml(text: string): string {
  return text.replaceAll("&", "&amp;").replaceAll("<", "&lt;").replaceAll(">", "&gt;").replaceAll('"', "&quot;");
}

function verdictBadge(row: SuiteRow): string {
  const verdict = targetVerdict(row);
  if (verdict === undefined) return "";
  return ` <span class="badge ${verdict === "met" ? "met" : "missed"}">${verdict}</span>`;
}

/** The table of a benchmark's rows (a sweep's rows as an IMB-style table of t_avg per level). */
function rowsTable(result: BenchmarkResult): string {
  const sweep = result.rows.filter(isSweep);
  const plain = result.rows.filter((row) => !isSweep(row));
  const parts: string[] = [];
  if (sweep.length > 0) {
    const levels = [...new Set(sweep.map((row) => row.hier))].sort((a, b) => a - b);
    const sizes = [...new Set(sweep.map((row) => row.bytes))].sort((a, b) => a - b);
    const cell = (bytes: number, hier: number): string => {
      const row = sweep.find((r) => r.bytes === bytes && r.hier === hier);
      return row === undefined ? "<td></td>" : `<td class="num">${formatNumber(row.median)} <span class="spread">${formatNumber(row.min)}–${formatNumber(row.max)}</span></td>`;
    };
    parts.push(
      `<table><thead><tr><th>message size</th>${levels.map((hier) => `<th class="num">${escapeHtml(kLevels[hier]?.label ?? `SHOAL_HIER=${hier}`)}<br><span class="spread">t_avg, t_min–t_max (${escapeHtml(sweep[0]!.unit)})</span></th>`).join("")}</tr></thead><tbody>` +
        sizes.map((bytes) => `<tr><td>${formatBytes(bytes)}</td>${levels.map((hier) => cell(bytes, hier)).join("")}</tr>`).join("") +
        "</tbody></table>",
    );
  }
  const listed = [...sweep.filter((row) => row.target !== undefined), ...plain];
  if (listed.length > 0) {
    parts.push(
      `<table><thead><tr><th></th><th>what</th><th class="num">median</th><th class="num">min–max</th><th>unit</th><th>ratio</th><th>target</th></tr></thead><tbody>` +
        listed.map((row) => {
          const role = roleOf(row);
          return `<tr><td><span class="swatch" style="background:${kRoles[role].color}" title="${escapeHtml(kRoles[role].label)}"></span></td>` +
            `<td>${escapeHtml(row.what)}</td><td class="num"><b>${formatNumber(row.median)}</b></td><td class="num spread">${formatNumber(row.min)}–${formatNumber(row.max)}</td>` +
            `<td>${escapeHtml(row.unit)}</td><td>${escapeHtml(formatRatio(row))}</td><td>${escapeHtml(row.target ?? "")}${verdictBadge(row)}</td></tr>`;
        }).join("") +
        "</tbody></table>",
    );
  }
  return parts.join("\n");
}

function anchorOf(name: string): string {
  return `bench-${name.replace(/[^\w-]/g, "_")}`;
}

/** The section of one benchmark: its command, charts, table and check, or why it did not run. */
async function section(result: BenchmarkResult): Promise<string> {
  const head = `<section class="bench ${result.status}" id="${anchorOf(result.name)}"><h2>${escapeHtml(result.name)}` +
    `${result.status === "ok" ? "" : ` <span class="badge ${result.status === "failed" ? "missed" : "skipped"}">${result.status}</span>`}</h2>` +
    `<p class="command"><code>${escapeHtml(result.command)}</code>${result.status === "skipped" ? "" : ` · ${result.seconds.toFixed(1)} s`}</p>`;
  if (result.status === "skipped") return `${head}<p class="reason">Not run here: ${escapeHtml(result.reason ?? "")}</p></section>`;
  if (result.status === "failed") {
    return `${head}<p class="reason">It ${escapeHtml(result.reason?.split(":")[0] ?? "failed")}; what it printed on stderr:</p>` +
      `<pre>${escapeHtml((result.stderr ?? "").split("\n").slice(-20).join("\n"))}</pre></section>`;
  }
  const figures: string[] = [];
  for (const chart of chartsOf(result)) {
    figures.push(`<figure class="chart">${await renderSvg(chart.spec)}<figcaption>${escapeHtml(chart.caption)}</figcaption></figure>`);
  }
  const checks = [...new Set(result.rows.flatMap((row) => (row.check === undefined ? [] : [row.check])))];
  return `${head}<div class="charts">${figures.join("\n")}</div>\n${rowsTable(result)}\n` +
    checks.map((check) => `<p class="check">✓ checked: ${escapeHtml(check)}</p>`).join("") + "</section>";
}

/** The opening table: every row with a target, and whether it was met. */
function glance(suite: SuiteResults): string {
  const lines = suite.benchmarks.map((result) => {
    const link = `<a href="#${anchorOf(result.name)}">${escapeHtml(result.name)}</a>`;
    if (result.status !== "ok") {
      return `<tr><td class="name">${link}</td><td colspan="4"><span class="badge ${result.status === "failed" ? "missed" : "skipped"}">${result.status}</span> ${escapeHtml(result.reason ?? "")}</td></tr>`;
    }
    const targeted = result.rows.filter((row) => row.target !== undefined);
    const shown = targeted.length > 0 ? targeted : result.rows.filter((row) => roleOf(row) === "measured" && !isSweep(row)).slice(0, 1);
    return shown.map((row, i) =>
      `<tr>${i === 0 ? `<td class="name" rowspan="${shown.length}">${link}</td>` : ""}<td>${escapeHtml(row.what)}</td>` +
        `<td class="num"><b>${formatNumber(row.median)}</b> ${escapeHtml(row.unit)}</td><td>${escapeHtml(formatRatio(row))}</td>` +
        `<td>${escapeHtml(row.target ?? "")}${verdictBadge(row)}</td></tr>`).join("");
  });
  return `<table class="glance"><thead><tr><th>benchmark</th><th>figure</th><th class="num">median</th><th>ratio (same run)</th><th>target</th></tr></thead><tbody>${lines.join("")}</tbody></table>`;
}

const kStyle = `
:root { color-scheme: light; }
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: ${kInk}; font: 15px/1.5 ${kFont}; }
main { max-width: 1040px; margin: 0 auto; padding: 32px 24px 64px; }
h1 { font-size: 28px; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 20px; margin: 0 0 4px; }
.meta { color: ${kMuted}; margin: 0 0 16px; }
.meta code, .command code { font-size: 13px; background: #eef2ff; padding: 1px 6px; border-radius: 4px; }
.note { background: #fffbeb; border: 1px solid #fcd34d; border-radius: 8px; padding: 10px 14px; margin: 16px 0; }
section { background: #ffffff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 20px 24px; margin: 20px 0; }
.command { color: ${kMuted}; margin: 0 0 12px; }
.charts { display: flex; flex-direction: column; gap: 12px; }
figure.chart { margin: 0; }
figure.chart svg { display: block; max-width: 100%; height: auto; }
figcaption { color: ${kMuted}; font-size: 13px; margin: 2px 0 0 12px; }
table { border-collapse: collapse; width: 100%; margin: 16px 0 8px; font-size: 13.5px; }
th, td { text-align: left; padding: 6px 8px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { font-weight: 600; color: #374151; background: #f9fafb; }
td.num, th.num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.spread { color: #6b7280; font-weight: normal; }
.swatch { display: inline-block; width: 11px; height: 11px; border-radius: 2px; margin-top: 4px; }
.badge { display: inline-block; font-size: 12px; font-weight: 600; padding: 0 8px; border-radius: 999px; }
.badge.met { background: #dcfce7; color: #166534; }
.badge.missed { background: #fee2e2; color: #991b1b; }
.badge.skipped { background: #e5e7eb; color: #374151; }
.check { color: #166534; font-size: 13.5px; margin: 4px 0 0; }
.reason { color: #374151; }
pre { background: #111827; color: #f9fafb; padding: 12px; border-radius: 6px; overflow: auto; font-size: 12.5px; }
a { color: #1d4ed8; text-decoration: none; }
.glance td.name { white-space: nowrap; font-weight: 600; }
`;

/**
 * The report of `suite` as one self-contained HTML page (styles and SVG charts inline, nothing
 * fetched).
 *
 * @example
 * ```ts
 * writeFileSync("report.html", await renderReport(JSON.parse(readFileSync("results.json", "utf8"))));
 * ```
 */
export async function renderReport(suite: SuiteResults): Promise<string> {
  const sections: string[] = [];
  for (const result of suite.benchmarks) sections.push(await section(result));
  const { machine } = suite;
  const ran = suite.benchmarks.filter((result) => result.status === "ok").length;
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>shoal benchmark report, ${escapeHtml(suite.date.slice(0, 10))}</title>
<style>${kStyle}</style>
</head>
<body>
<main>
<h1>shoal benchmark report</h1>
<p class="meta">${escapeHtml(new Date(suite.date).toUTCString())} · <code>${escapeHtml(suite.command)}</code> · ${ran} of ${suite.benchmarks.length} benchmarks ran, in ${(suite.seconds / 60).toFixed(1)} min<br>
${escapeHtml(`${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os} · Node ${suite.node} · shoal ${suite.shoal}`)}</p>
${suite.quick ? `<p class="note"><b>Quick sizes</b> (<code>--quick</code>): every benchmark ran for a second or two on small inputs, which checks that the suite works. These figures are not the ones the targets are stated for; run <code>shoal bench all</code> for those.</p>` : ""}
<p>Every benchmark runs its baselines in the same run as the measured code, alternating with it, and checks its own result. Each figure is the median of the repetitions after a warm-up, with their minimum and maximum.</p>
${glance(suite)}
${sections.join("\n")}
</main>
</body>
</html>
`;
}

/** Renders the report of `suite` into `out`/report.html; resolves to its path. */
export async function writeReport(suite: SuiteResults, out: string): Promise<string> {
  const file = join(out, "report.html");
  mkdirSync(out, { recursive: true });
  writeFileSync(file, await renderReport(suite));
  return file;
}

/** Reads a `results.json` of `shoal bench all`, checking that it is one. */
export function readResults(file: string): SuiteResults {
  if (!existsSync(file)) throw new Error(`expected the results of shoal bench all at ${file}, but there is no such file; run shoal bench all first, or give --in FILE`);
  const parsed = JSON.parse(readFileSync(file, "utf8")) as Partial<SuiteResults>;
  if (parsed.format !== kResultsFormat || !Array.isArray(parsed.benchmarks)) {
    throw new Error(`${file}: expected the results of shoal bench all (format ${kResultsFormat}), got ${parsed.format === undefined ? "a file without a format" : `format ${JSON.stringify(parsed.format)}`}; run shoal bench all to make one`);
  }
  return parsed as SuiteResults;
}

/** The markers between which the README's generated performance table goes. */
export const kPerfBegin = "<!-- perf:begin -->";
export const kPerfEnd = "<!-- perf:end -->";

function cellText(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/**
 * The README's performance table, in Markdown: one line per measured figure of every benchmark
 * that ran, with the command that reproduces it, its median and min–max, the baselines beside it
 * in the same run (the rows that follow it, or that follow the measured rows right after it), its
 * ratio and its target; then the run it came from.
 *
 * @example
 * ```ts
 * const table = perfTable(readResults("bench-report/results.json"));
 * ```
 */
export function perfTable(suite: SuiteResults): string {
  const lines = [
    "| benchmark | command | measured (median, min–max) | baselines, same run (median) | ratio | target |",
    "|---|---|---|---|---|---|",
  ];
  for (const result of suite.benchmarks) {
    if (result.status !== "ok") continue;
    const rows = result.rows.filter((row) => !isSweep(row) || row.target !== undefined);
    const command = `\`npx ${result.command}\``;
    rows.forEach((row, i) => {
      if (roleOf(row) !== "measured") return;
      // Its baselines are the rows that follow it, or follow the run of measured rows it starts
      // (two ways of doing one thing, measured against the same baseline).
      const beside: SuiteRow[] = [];
      let j = i + 1;
      while (j < rows.length && roleOf(rows[j]!) === "measured") j++;
      for (; j < rows.length && roleOf(rows[j]!) !== "measured"; j++) beside.push(rows[j]!);
      const baselines = beside
        .filter((other) => roleOf(other) !== "part")
        .map((other) => `${other.what}: ${formatNumber(other.median)} ${other.unit}${other.ratio === undefined ? "" : ` (ratio ${formatNumber(other.ratio)}×${other.ratioOf === undefined ? "" : `, ${other.ratioOf}`})`}`);
      const verdict = targetVerdict(row);
      lines.push(`| ${[
        `\`${result.name}\`: ${row.what}`,
        command,
        `**${formatNumber(row.median)} ${row.unit}** (${formatNumber(row.min)}–${formatNumber(row.max)})`,
        baselines.join("; "),
        formatRatio(row),
        `${row.target ?? ""}${verdict === undefined ? "" : `: ${verdict === "met" ? "met" : "**not met**"}`}`,
      ].map(cellText).join(" | ")} |`);
    });
  }
  const { machine } = suite;
  const skipped = suite.benchmarks.filter((result) => result.status !== "ok").map((result) => `\`${result.name}\` (${result.status})`);
  return [
    `Generated from \`npx ${suite.command}\` on ${suite.date.slice(0, 10)}: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ` +
      `Node ${suite.node}${suite.quick ? "; **quick sizes** (`--quick`): small inputs, not the sizes the targets are stated for" : ""}. ` +
      `Regenerate it with \`npx shoal bench report --readme README.md\`.${skipped.length === 0 ? "" : ` Not in it: ${skipped.join(", ")}.`}`,
    "",
    ...lines,
  ].join("\n");
}

/** Puts `table` between the performance markers of the Markdown file `file`, leaving the rest as it was. */
export function updateReadme(file: string, table: string): void {
  const text = readFileSync(file, "utf8");
  const begin = text.indexOf(kPerfBegin);
  const end = text.indexOf(kPerfEnd);
  if (begin < 0 || end < begin) {
    throw new Error(`${file}: expected the markers ${kPerfBegin} and then ${kPerfEnd} where the performance table goes; add them on lines of their own`);
  }
  writeFileSync(file, `${text.slice(0, begin + kPerfBegin.length)}\n${table}\n${text.slice(end)}`);
}

const kReportUsage = "shoal bench report [--in FILE] [--out DIR] [--readme FILE]";

/**
 * `shoal bench report [--in FILE] [--out DIR] [--readme FILE]`: renders the report of a results
 * file again (default: bench-report/results.json into bench-report/), and with `--readme` writes
 * the performance table between the markers of that Markdown file.
 */
export async function benchReport(argv: readonly string[]): Promise<number> {
  let values: { in?: string | undefined; out?: string | undefined; readme?: string | undefined; help?: boolean | undefined };
  try {
    ({ values } = parseArgs({
      args: [...argv],
      options: { in: { type: "string" }, out: { type: "string" }, readme: { type: "string" }, help: { type: "boolean", short: "h" } },
      strict: true,
    }));
  } catch (error) {
    if (!(error instanceof TypeError)) throw error;
    process.stderr.write(`shoal bench report: ${error.message}; usage: ${kReportUsage}\n`);
    return 2;
  }
  if (values.help === true) {
    process.stdout.write(`usage: ${kReportUsage} (see shoal --help)\n`);
    return 0;
  }
  const out = resolve(values.out ?? "bench-report");
  const input = resolve(values.in ?? join(out, "results.json"));
  let suite: SuiteResults;
  try {
    suite = readResults(input);
    if (values.readme !== undefined) updateReadme(values.readme, perfTable(suite));
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    process.stderr.write(`shoal bench report: ${message}\n`);
    return 2;
  }
  const report = await writeReport(suite, out);
  process.stdout.write(`shoal bench report: ${report}${values.readme === undefined ? "" : `; the performance table of ${values.readme}`}\n`);
  return 0;
}
