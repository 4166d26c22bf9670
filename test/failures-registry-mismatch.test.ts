// PEs that register different sets of active messages cannot run together: init() rejects on
// every PE with a RegistryError and the job ends, saying why. Fixture: fail-registry-mismatch.ts
// (the first PE to create a directory defines one AM more than the others).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

/** 2 and 4 PEs in one process, and every shape of several processes. */
const kMismatchShapes = kShapes.filter((shape) => shape.procs > 1 || [2, 4].includes(shape.pes));

for (const { pes, procs, name } of kMismatchShapes) {
  describe(`PEs that register different active messages, on ${name}`, () => {
    let scratch: string;
    let job: JobResult;
    beforeAll(async () => {
      scratch = mkdtempSync(join(tmpdir(), "shoal-registry-"));
      job = await runJob(pes, "fail-registry-mismatch.ts", { procs, args: [join(scratch, "claim")] });
    });
    afterAll(() => rmSync(scratch, { recursive: true, force: true }));

    it("end the job within seconds with exit code 1 and a message saying the PEs registered different sets", () => {
      expect(job.code).toBe(1);
      expect(job.elapsedMs).toBeLessThan(15_000);
      expect(job.stderr).toContain("RegistryError");
      expect(job.stderr).toContain("registered a different set");
      expect(job.stderr).toContain("call defineAm and defineActivity at module top level, unconditionally");
    });

    it("see init() reject on every PE (one PE defined the extra AM)", () => {
      const inits = recordsOf(job, "init");
      expect(inits).toHaveLength(pes);
      expect(inits.filter((r) => r["resolved"] !== false)).toEqual([]);
      expect(inits.filter((r) => r["first"] === true)).toHaveLength(1);
    });

    // init()'s barrier completes before any PE checks the registry hashes, so a PE that wakes from
    // it after another PE already threw (and the job is aborting) still finds the mismatch itself.
    it("see init() reject with a RegistryError on every PE", () => {
      for (const record of recordsOf(job, "init")) {
        expect(record).toMatchObject({ resolved: false, name: "RegistryError", code: "ERR_SHOAL_REGISTRY", isRegistryError: true });
        expect(record["message"]).toContain("registered a different set");
      }
    });
  });
}
