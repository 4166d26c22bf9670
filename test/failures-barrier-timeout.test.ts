// A barrier that waits longer than SHOAL_BARRIER_TIMEOUT_MS prints which PEs have not arrived,
// and still completes when they do. Fixture: am-late-barrier.ts (the upper half of the PEs arrive
// about 1.2 s late; the timeout is 200 ms).
import { beforeAll, describe, expect, it } from "vitest";

import { recordsOf, runJob, type JobResult } from "./helpers/job.js";

const kReport = /shoal: PE (\d+) has waited (\d+) ms in a barrier; PEs? ([\d, ]+) ha(?:s|ve) not arrived/g;

interface Report {
  reporter: number;
  waitedMs: number;
  missing: number[];
}

function reportsOf(stderr: string): Report[] {
  return [...stderr.matchAll(kReport)].map((m) => ({
    reporter: Number(m[1]),
    waitedMs: Number(m[2]),
    missing: m[3]!.split(",").map((pe) => Number(pe.trim())),
  }));
}

describe.each([2, 4])("a barrier that some of %i PEs reach late", (pes) => {
  const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
  const early = range(0, Math.ceil(pes / 2));
  const late = range(Math.ceil(pes / 2), pes);
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "am-late-barrier.ts", { env: { SHOAL_BARRIER_TIMEOUT_MS: "200" } });
  });

  it("still completes on every PE, and the job exits 0", () => {
    expect(job.code).toBe(0);
    expect(recordsOf(job, "passed").map((r) => r["pe"])).toEqual(range(0, pes));
  });

  /** The reports of `pe` that name exactly the late PEs: those of the late barrier. */
  function lateBarrierReports(pe: number): Report[] {
    const wanted = late.join(",");
    return reportsOf(job.stderr).filter((r) => r.reporter === pe && [...r.missing].sort((a, b) => a - b).join(",") === wanted);
  }

  it("makes every waiting PE print which PEs have not arrived: exactly the late ones", () => {
    // init()'s barrier may also report PEs that started slowly; the late barrier's reports are
    // those of the early PEs, which wait about 1 s there.
    for (const pe of early) expect(lateBarrierReports(pe).length, `reports of PE ${pe}`).toBeGreaterThan(0);
    for (const report of reportsOf(job.stderr)) {
      expect(report.missing.length).toBeGreaterThan(0);
      expect(report.missing).not.toContain(report.reporter);
    }
  });

  it("prints nothing else on stderr", () => {
    const other = job.stderr.split("\n").filter((line) => line !== "" && !line.match(kReport));
    expect(other).toEqual([]);
  });

  // The reports come every 200 ms while the early PEs wait about 1 s: each must say how long the
  // PE has waited so far, not the interval.
  it("says in each report how long the PE has waited so far", () => {
    for (const pe of early) {
      const waited = lateBarrierReports(pe).map((r) => r.waitedMs);
      expect(waited.length).toBeGreaterThan(1);
      for (let i = 1; i < waited.length; i++) expect(waited[i]).toBeGreaterThan(waited[i - 1]!);
    }
  });
});
