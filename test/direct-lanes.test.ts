// The direct lanes between processes (lamellae/nng/direct.ts): small frames skip both IO workers,
// with the same results and the same order per PE pair as through them. Each multi-process shape
// runs fixtures/direct-lanes.ts three ways: as configured by default; with SHOAL_SPIN_US=0, so
// that every PE sleeps as soon as it is idle and its frames arrive through its sink; and with
// SHOAL_DIRECT=0, where the IO workers carry everything.
import { describe, expect, it } from "vitest";

import { readConfig } from "../src/config/index.js";
import { kMultiProcessShapes, onePerPe, runJob } from "./helpers/job.js";

const kModes = [
  { name: "by default", env: {}, direct: true, sleeps: false },
  { name: "with SHOAL_SPIN_US=0 (idle PEs sleep at once)", env: { SHOAL_SPIN_US: "0" }, direct: true, sleeps: true },
  { name: "with SHOAL_DIRECT=0", env: { SHOAL_DIRECT: "0" }, direct: false, sleeps: false },
] as const;

describe("SHOAL_DIRECT", () => {
  it("defaults to on, and takes only 0 or 1", () => {
    expect(readConfig({}).direct).toBe(true);
    expect(readConfig({ SHOAL_DIRECT: "0" }).direct).toBe(false);
    expect(() => readConfig({ SHOAL_DIRECT: "yes" })).toThrow(/SHOAL_DIRECT: expected one of 0, 1/);
  });
});

describe.each(kMultiProcessShapes)("direct lanes, $name", (shape) => {
  it.each(kModes)("every ping is answered, and every PE's messages arrive in order and intact, $name", async (mode) => {
    const job = await runJob(shape.pes, "direct-lanes.ts", { procs: shape.procs, env: mode.env, timeoutMs: 120_000 });
    expect(job.code, job.stderr).toBe(0);
    const records = onePerPe(job, "lanes", shape.pes);
    const perProcess = shape.pes / shape.procs;
    for (const r of records) {
      expect(r["far"]).toBe(shape.pes - perProcess);
      expect(r["pingErrors"]).toBe(0);
      expect(r["received"]).toBe(r["expected"]);
      expect(r["outOfOrder"]).toBe(0);
      expect(r["corrupt"]).toBe(0);
    }
    const sum = (key: string): number => records.reduce((total, r) => total + Number(r[key]), 0);
    const pings = sum("pings");
    if (!mode.direct) {
      expect(sum("directSent")).toBe(0);
      expect(sum("directReceived")).toBe(0);
      return;
    }
    // Every ping's request and reply is a small frame: most leave on the direct lane.
    expect(sum("directSent")).toBeGreaterThanOrEqual(pings);
    // A PE that sleeps between pings takes them from its sink (through its IO worker while awake).
    if (mode.sleeps) expect(sum("directReceived")).toBeGreaterThan(0);
  });
});
