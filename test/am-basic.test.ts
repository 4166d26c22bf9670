// Active messages: exec, execAll, send + waitAll, ordering and barriers, on every PE count.
// One job per PE count runs every check (test/fixtures/am-basic.ts); each `it` reads its records.
import { beforeAll, describe, expect, it } from "vitest";

import {
  addValue, kBarrierRounds, kConcurrentExecs, kOrderedPerPair, kSendsPerPair, kWaitAllPerPair, mixValue,
} from "./fixtures/am-basic-plan.js";
import { foldChecksum, mulberry32, randomInt } from "./fixtures/am-random.js";
import { kShapes, onePerPe, recordsOf, runJob, type JobResult } from "./helpers/job.js";

const range = (n: number) => [...Array(n).keys()];

describe.each(kShapes)("active messages on $name", ({ pes, procs }) => {
  let job: JobResult;
  beforeAll(async () => {
    job = await runJob(pes, "am-basic.ts", { procs });
  });

  const perPe = (kind: string): Record<string, unknown>[] => onePerPe(job, kind, pes);

  it("runs to completion: exit code 0 and nothing on stderr", () => {
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
  });

  it("exec resolves to the handler's result, computed on the chosen PE with ctx.src set to the caller", () => {
    for (const record of perPe("exec")) {
      const me = Number(record["pe"]);
      expect(record["results"]).toEqual(range(pes).map((dest) => ({
        pe: dest, src: me, numPes: pes, value: (me * 100 + dest) ** 2,
      })));
    }
  });

  it("exec to the calling PE itself runs the handler there and resolves to its result", () => {
    for (const record of perPe("self")) {
      const me = Number(record["pe"]);
      expect(record["result"]).toEqual({ pe: me, src: me, numPes: pes, value: (7 + me) ** 2 });
    }
  });

  it("execAll resolves to every PE's result in PE order", () => {
    for (const record of perPe("execAll")) expect(record["results"]).toEqual(range(pes));
  });

  it("execAll of an async handler awaits each handler and keeps PE order when later PEs answer first", () => {
    for (const record of perPe("async")) {
      const me = Number(record["pe"]);
      expect(record["results"]).toEqual(range(pes).map((dest) => `from ${me}@${dest}`));
    }
  });

  it("send delivers every message exactly once, and after waitAll and a barrier every handler has run", () => {
    for (const record of perPe("sends")) {
      const me = Number(record["pe"]);
      let sum = 0;
      for (let src = 0; src < pes; src++) for (let i = 0; i < kSendsPerPair; i++) sum += addValue(src, me, i);
      expect(record["added"]).toBe(pes * kSendsPerPair);
      expect(record["addedSum"]).toBe(sum);
    }
  });

  it("waitAll resolves only once every exec (awaited or not) and every send to an async handler has completed", () => {
    for (const record of perPe("waitAll")) {
      expect(record["settled"]).toBe(kWaitAllPerPair * pes);
      expect(record["slowAdds"]).toEqual(range(pes).map(() => kWaitAllPerPair));
    }
  });

  it(`resolves ${kConcurrentExecs} execs in flight at once, each to its own result`, () => {
    for (const record of perPe("concurrent")) {
      const me = Number(record["pe"]);
      const random = mulberry32(1234 + me);
      let checksum = 0;
      for (let i = 0; i < kConcurrentExecs; i++) checksum = foldChecksum(checksum, mixValue(randomInt(random, pes), i));
      expect(record["count"]).toBe(kConcurrentExecs);
      expect(record["checksum"]).toBe(checksum);
    }
  });

  it("handles the messages one PE sends to another in send order: small ones, frame-filling ones and large typed arrays mixed", () => {
    for (const record of perPe("order")) {
      expect(record["received"]).toEqual(range(pes).map(() => kOrderedPerPair));
      expect(record["outOfOrder"]).toBe(0);
      expect(record["corrupt"]).toBe(0);
    }
  });

  it("lets no PE leave a barrier before every PE has arrived at it", () => {
    for (const record of perPe("barrier")) {
      // After round r's barrier every PE has set phase r; a PE already past its exec may be at r + 1.
      const rounds = record["rounds"] as { min: number; max: number }[];
      expect(rounds).toHaveLength(kBarrierRounds);
      rounds.forEach(({ min, max }, index) => {
        expect(min).toBeGreaterThanOrEqual(index + 1);
        expect(max).toBeLessThanOrEqual(index + 2);
      });
    }
  });
});

// A frame larger than a ring record travels by reference, as a view of a SharedArrayBuffer: every
// message aggregated with the giant one (objects and arrays holding strings) must decode from it,
// in send order.
describe("active messages whose frames travel by reference", () => {
  it.each([1, 3])("keeps send order when one message per pair makes its frame larger than a ring record (3 PEs in %i processes)", async (procs) => {
    const pes = 3;
    const job = await runJob(pes, "am-basic.ts", { procs, args: ["giant"] });
    expect(job.stderr).toBe("");
    expect(job.code).toBe(0);
    const records = recordsOf(job, "order");
    expect(records.map((r) => r["pe"])).toEqual(range(pes));
    for (const record of records) {
      expect(record["received"]).toEqual(range(pes).map(() => kOrderedPerPair));
      expect(record["outOfOrder"]).toBe(0);
      expect(record["corrupt"]).toBe(0);
    }
  });
});
