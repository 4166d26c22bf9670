// A barrier that waits longer than SHOAL_BARRIER_TIMEOUT_MS prints which PEs have not arrived,
// and still completes when they do. Fixture: am-late-barrier.ts (the upper half of the PEs arrive
// about 1.2 s late at the job's third barrier; the timeout is 200 ms).
import { beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const kReport = /shoal: PE (\d+) has waited (\d+) ms in barrier (\d+) of this job \([^)]*\); PEs? ([\d, ]+) ha(?:s|ve) not arrived/g;

interface Report {
  reporter: number;
  waitedMs: number;
  /** Which barrier of the job: 1 is init()'s. */
  barrier: number;
  missing: number[];
}

function reportsOf(stderr: string): Report[] {
  return [...stderr.matchAll(kReport)].map((m) => ({
    reporter: Number(m[1]),
    waitedMs: Number(m[2]),
    barrier: Number(m[3]),
    missing: m[4]!.split(",").map((pe) => Number(pe.trim())),
  }));
}

/** 2 and 4 PEs in one process, and every shape of several processes. */
const kLateShapes = kShapes.filter((shape) => shape.procs > 1 || [2, 4].includes(shape.pes));

for (const { pes, procs, name } of kLateShapes) {
  describe(`a barrier that some of ${name} reach late`, () => {
    const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);
    const early = range(0, Math.ceil(pes / 2));
    const late = range(Math.ceil(pes / 2), pes);
    let job: JobResult;
    beforeAll(async () => {
      job = await runJob(pes, "am-late-barrier.ts", { procs, env: { SHOAL_BARRIER_TIMEOUT_MS: "200" } });
    });

    it("still completes on every PE, and the job exits 0", () => {
      expect(job.code).toBe(0);
      expect(recordsOf(job, "passed").map((r) => r["pe"])).toEqual(range(0, pes));
    });

    /** The reports of `pe` about the late barrier: the job's third (init()'s is the first). */
    function lateBarrierReports(pe: number): Report[] {
      return reportsOf(job.stderr).filter((r) => r.reporter === pe && r.barrier === 3);
    }

    it("makes every waiting PE print which PEs have not arrived: the late ones", () => {
      // init()'s barrier and the one lining the PEs up (barriers 1 and 2) may also report PEs that
      // started slowly; the late barrier is barrier 3, where the early PEs wait about 1.2 s. On a
      // loaded machine a report can come as the first late PE arrives, or while an early PE is still
      // on its way, so each early PE must have printed the exact set at least once, and no report may
      // leave out a late PE before any of them could have arrived.
      for (const pe of early) {
        const reports = lateBarrierReports(pe);
        expect(reports.length, `reports of PE ${pe}`).toBeGreaterThan(0);
        expect(reports.map((r) => [...r.missing].sort((a, b) => a - b)), `reports of PE ${pe}`).toContainEqual(late);
        for (const report of reports.filter((r) => r.waitedMs < 1000)) {
          for (const pe of late) expect(report.missing, `a report after ${report.waitedMs} ms`).toContain(pe);
        }
      }
      expect(reportsOf(job.stderr).every((r) => r.barrier >= 1 && r.barrier <= 3)).toBe(true);
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
}
