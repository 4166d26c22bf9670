// `shoal bench all` and its report: the suite runs real benchmarks (at their quick sizes) and writes
// their rows; the page it renders is opened in headless Chromium, and the screenshot must show the
// charts drawn where the page lays them out; the README's table is written between its markers.
// Figures are never asserted, only that they are there.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { PNG } from "pngjs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { chartCount, perfTable } from "../src/launch/bench-report.js";
import { kResultsFormat, type SuiteResults } from "../src/launch/bench-suite.js";
import { runCli, type JobResult } from "./helpers/job.js";

/** The benchmarks the suite runs here: fast ones, with a sweep (coll) and two kinds of bar chart. */
const kOnly = ["am-latency", "coll", "histo"];
/** Their charts: one per unit of histo's and am-latency's rows; coll's 8-byte bars and its sweep over sizes. */
const kCharts = 4;

const chromium = spawnSync("chromium", ["--version"], { encoding: "utf8" }).status === 0 ? "chromium" : undefined;
const isRoot = process.getuid?.() === 0;

/** Runs headless Chromium on `page` at `width`×`height` CSS pixels with `args`; its stdout. */
function runChromium(page: string, width: number, height: number, args: readonly string[], profile: string): string {
  const result = spawnSync(chromium!, [
    "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run", "--force-device-scale-factor=1",
    `--user-data-dir=${profile}`, `--window-size=${width},${height}`, ...args, `file://${page}`,
  ], { encoding: "utf8", timeout: 30_000, maxBuffer: 64 << 20 });
  if (result.status !== 0) throw new Error(`chromium exited with ${result.status ?? result.signal}: ${result.stderr}`);
  return result.stdout;
}

/** What the page says of its charts' places: each chart's SVG box in page pixels, and the page's height. */
const kProbe = `<script>
const boxes = [...document.querySelectorAll("figure.chart svg")].map((svg) => {
  const r = svg.getBoundingClientRect();
  return [Math.round(r.left + scrollX), Math.round(r.top + scrollY), Math.round(r.width), Math.round(r.height)];
});
const probe = document.createElement("pre");
probe.id = "probe";
probe.textContent = JSON.stringify({ boxes, height: document.documentElement.scrollHeight });
document.body.append(probe);
</script>`;

describe("shoal bench all", () => {
  let out: string;
  let run: JobResult;
  let suite: SuiteResults;

  beforeAll(async () => {
    out = mkdtempSync(join(tmpdir(), "shoal-bench-report-"));
    run = await runCli(["bench", "all", "--quick", "--only", kOnly.join(","), "--out", out], { timeoutMs: 60_000 });
    suite = JSON.parse(readFileSync(join(out, "results.json"), "utf8")) as SuiteResults;
  }, 90_000);

  afterAll(() => rmSync(out, { recursive: true, force: true }));

  it("runs the benchmarks --only names and writes each one's rows and command, with the machine, Node's version and the date", () => {
    expect(run.code, run.stderr).toBe(0);
    expect(suite.format).toBe("shoal-bench-suite/1");
    expect(suite.quick).toBe(true);
    expect(suite.node).toBe(process.version);
    expect(Number.isNaN(Date.parse(suite.date))).toBe(false);
    expect(suite.machine.cores).toBeGreaterThan(0);
    expect(suite.machine.cpu).not.toBe("");
    expect(suite.benchmarks.map((result) => result.name)).toEqual(kOnly);
    for (const result of suite.benchmarks) {
      expect(result.status).toBe("ok");
      expect(result.command).toMatch(new RegExp(`^shoal bench ${result.name} --pes 2 `));
      expect(result.rows.length).toBeGreaterThan(1);
      for (const row of result.rows) {
        expect(row.benchmark).toBe(result.name);
        expect(Number.isFinite(row.median)).toBe(true);
      }
      // every figure has its baseline from the same run beside it
      expect(result.rows.some((row) => row.what.startsWith("baseline:"))).toBe(true);
    }
  });

  it("prints one line per benchmark on stderr when stderr is not a terminal, and where the files are on stdout", () => {
    const lines = run.stderr.trim().split("\n");
    expect(lines).toEqual(kOnly.map((name, i) => expect.stringMatching(new RegExp(`^shoal bench all: \\[${i + 1}/3\\] ${name}: ok, \\d+ rows?, [\\d.]+ s$`))));
    expect(run.stdout).toContain(join(out, "results.json"));
    expect(run.stdout).toContain(join(out, "report.html"));
  });

  it("writes one self-contained HTML page: an inline SVG per chart, and nothing fetched", () => {
    const html = readFileSync(join(out, "report.html"), "utf8");
    expect(chartCount(suite)).toBe(kCharts);
    expect(html.match(/<figure class="chart"><svg /g)).toHaveLength(kCharts);
    // Only links within the page (#...): no src, no href, no url() elsewhere, no @import.
    expect(/\b(?:src|href)\s*=\s*"(?!#)[^"]*"|url\((?!#)[^)]*\)|@import/.exec(html)?.[0], "a reference outside the page").toBeUndefined();
    for (const name of kOnly) expect(html).toContain(`id="bench-${name}"`);
  });

  it("renders in headless Chromium with every chart drawn: its SVG in the DOM, and colour where the page lays it out", (context) => {
    if (chromium === undefined) {
      if (!isRoot) context.skip("chromium is not installed, and this user cannot install it (not root); bash scripts/install-system-deps.sh as root does");
      throw new Error("chromium is not installed: run bash scripts/install-system-deps.sh (npm test's pretest does)");
    }
    const profile = join(out, "chromium-profile");
    const report = join(out, "report.html");
    const probePage = join(out, "probe.html");
    writeFileSync(probePage, readFileSync(report, "utf8").replace("</body>", `${kProbe}</body>`));
    const width = 1100;

    const dom = runChromium(probePage, width, 900, ["--dump-dom"], profile);
    expect(dom.match(/<svg [^>]*class="marks"/g)).toHaveLength(kCharts);
    const probeText = /<pre id="probe">([^<]*)<\/pre>/.exec(dom)?.[1];
    expect(probeText, "the probe script ran").toBeDefined();
    const { boxes, height } = JSON.parse(probeText!.replaceAll("&quot;", '"').replaceAll("&amp;", "&")) as { boxes: number[][]; height: number };
    expect(boxes).toHaveLength(kCharts);

    const shot = join(out, "report.png");
    runChromium(report, width, height, [`--screenshot=${shot}`], profile);
    const png = PNG.sync.read(readFileSync(shot));
    expect(png.width).toBe(width);
    for (const [left, top, boxWidth, boxHeight] of boxes as [number, number, number, number][]) {
      expect(boxWidth * boxHeight, "the chart has an area").toBeGreaterThan(200 * 150);
      let ink = 0;
      let colour = 0;
      let pixels = 0;
      for (let y = top; y < Math.min(top + boxHeight, png.height); y++) {
        for (let x = left; x < Math.min(left + boxWidth, png.width); x++) {
          const at = (y * png.width + x) * 4;
          const [r, g, b] = [png.data[at]!, png.data[at + 1]!, png.data[at + 2]!];
          pixels++;
          if (Math.min(r, g, b) < 200) ink++; // not the white background (nor its light grid lines)
          if (Math.max(r, g, b) - Math.min(r, g, b) > 80) colour++; // bars and lines of the palette, not text
        }
      }
      const where = `chart at (${left}, ${top}), ${boxWidth}×${boxHeight}`;
      expect(ink / pixels, `${where}: share of drawn pixels`).toBeGreaterThan(0.02);
      // A blank chart has none; a drawn one has its bars' or lines' colour, however short the bars
      // of a quick run's figures are (at least one bar of a few px by its height).
      expect(colour, `${where}: pixels of the palette's colours`).toBeGreaterThan(100);
    }
  });

  it("writes the README's performance table between its markers and leaves the rest of the file as it was", async () => {
    const readme = join(out, "README.md");
    writeFileSync(readme, "# title\n\nbefore\n\n<!-- perf:begin -->\nold table\n<!-- perf:end -->\n\nafter\n");
    const result = await runCli(["bench", "report", "--in", join(out, "results.json"), "--out", out, "--readme", readme]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const text = readFileSync(readme, "utf8");
    expect(text.startsWith("# title\n\nbefore\n\n<!-- perf:begin -->\n")).toBe(true);
    expect(text.endsWith("<!-- perf:end -->\n\nafter\n")).toBe(true);
    expect(text).not.toContain("old table");
    expect(text).toContain("quick sizes");
    expect(text).toContain("| benchmark | command | measured (median, min–max) | baselines, same run (median) | ratio | target |");
    for (const name of kOnly) expect(text).toMatch(new RegExp(`^\\| \`${name}\`: .* \\| \`npx shoal bench ${name} --pes 2 `, "m"));
  });

  it("refuses a README without the markers, and says where the table goes", async () => {
    const readme = join(out, "NO-MARKERS.md");
    writeFileSync(readme, "# title\n");
    const result = await runCli(["bench", "report", "--in", join(out, "results.json"), "--out", out, "--readme", readme]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("expected the markers <!-- perf:begin --> and then <!-- perf:end -->");
    expect(readFileSync(readme, "utf8")).toBe("# title\n");
  });

  it("skips a benchmark that needs the NNG addon where the addon is missing, and says why", async () => {
    const skipOut = join(out, "skip");
    const result = await runCli(["bench", "all", "--quick", "--only", "procs", "--out", skipOut], { env: { SHOAL_NNG_ADDON: join(out, "missing.node") } });
    expect(result.code).toBe(0);
    expect(result.stderr).toMatch(/^shoal bench all: \[1\/1\] procs: skipped: the NNG transport is unavailable/);
    const skipped = JSON.parse(readFileSync(join(skipOut, "results.json"), "utf8")) as SuiteResults;
    expect(skipped.benchmarks[0]).toMatchObject({ name: "procs", status: "skipped", rows: [] });
    expect(readFileSync(join(skipOut, "report.html"), "utf8")).toContain("Not run here: the NNG transport is unavailable");
  });

  it("records a benchmark that fails, with what it printed, still writes the report, and exits 1", async () => {
    const failOut = join(out, "fail");
    const result = await runCli(["bench", "all", "--quick", "--only", "am-latency", "--pes", "1", "--out", failOut]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain("am-latency: FAILED");
    const failed = JSON.parse(readFileSync(join(failOut, "results.json"), "utf8")) as SuiteResults;
    expect(failed.benchmarks[0]).toMatchObject({ name: "am-latency", status: "failed" });
    expect(failed.benchmarks[0]!.stderr).toContain("am-latency needs 2 PEs");
    expect(readFileSync(join(failOut, "report.html"), "utf8")).toContain("am-latency needs 2 PEs");
  });

  it("rejects an unknown name in --only with exit code 2 and lists the available benchmarks", async () => {
    const result = await runCli(["bench", "all", "--only", "histo,nope", "--out", join(out, "never")]);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('no benchmark named "nope"');
    expect(result.stderr).toContain("available: am-latency, am-throughput");
  });
});

describe("the README's performance table", () => {
  it("gives each of two measured rows in a row the baselines that follow them both, and each its own ratio and target", () => {
    const row = (what: string, median: number, extra: Record<string, unknown> = {}) => ({ benchmark: "procs", what, unit: "M updates/s", median, min: median - 1, max: median + 1, ...extra });
    const suite: SuiteResults = {
      format: kResultsFormat, command: "shoal bench all", shoal: "0.1.0", node: "v20", date: "2026-11-22T00:00:00Z", seconds: 1, quick: false, pes: 2,
      machine: { hostname: "h", cpu: "cpu", cores: 2, memoryGiB: 24, os: "linux" },
      benchmarks: [{
        name: "procs", command: "shoal bench procs --pes 2 --procs 2", status: "ok", date: "2026-11-22T00:00:00Z", seconds: 1,
        rows: [
          row("one call", 30, { ratio: 0.75, ratioOf: "shoal / (2 × baseline)", target: "≥ 20 M updates/s" }),
          row("awaited batches", 10, { ratio: 0.25, ratioOf: "shoal / (2 × baseline)" }),
          row("baseline: one thread", 20),
          row("other figure", 5),
        ],
      }],
    };
    const lines = perfTable(suite).split("\n").filter((line) => line.startsWith("| `procs`"));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toContain("one call");
    expect(lines[0]).toContain("baseline: one thread: 20.0 M updates/s");
    expect(lines[0]).toContain("≥ 20 M updates/s: met");
    expect(lines[1]).toContain("awaited batches");
    expect(lines[1]).toContain("baseline: one thread: 20.0 M updates/s");
    expect(lines[1]).toContain("0.250×");
    expect(lines[2]).toContain("other figure");
    expect(lines[2]).not.toContain("baseline: one thread");
  });
});
