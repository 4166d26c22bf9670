// Back-pressure and oversubscription: with a small ring (SHOAL_RING_BYTES=65536), PEs that flood
// a busy PE, or each other, lose nothing, duplicate nothing, keep per-pair order and never
// deadlock; 8 PEs on a 2-core machine complete an all-to-all of execs. Every job also runs on
// several processes, where a message to another process goes through the IO worker's ring.
// Fixture: am-flood.ts.
import { beforeAll, describe, expect, it } from "vitest";

import { kExecsPerPe, kSymmetric, kToBusy, kToEach } from "./fixtures/am-flood-plan.js";
import { kShapes, onePerPe, runJob, type JobResult } from "./helpers/job.js";

const kSmallRing = { SHOAL_RING_BYTES: "65536", SHOAL_AGGREGATION_BYTES: "16384" };
const range = (n: number) => [...Array(n).keys()];

/** A flood needs a PE to flood: every shape of 2 PEs or more. */
const kFloodShapes = kShapes.filter((shape) => shape.pes >= 2);

for (const { pes, procs, name } of kFloodShapes) {
  describe(`a flood of 1 KiB messages through 64 KiB rings on ${name}`, () => {
    let job: JobResult;
    beforeAll(async () => {
      job = await runJob(pes, "am-flood.ts", { procs, env: kSmallRing });
    });

    const perPe = (kind: string): Record<string, unknown>[] => onePerPe(job, kind, pes);

    it("runs to completion: exit code 0 and nothing on stderr", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    it("delivers every message sent to a PE that is busy for 200 ms exactly once, in order and intact", () => {
      for (const record of perPe("busy")) {
        const expected = record["pe"] === 0 ? kToBusy + kToEach : kToEach;
        expect(record["received"]).toEqual(range(pes).map(() => expected));
        expect(record["outOfOrder"]).toBe(0);
        expect(record["corrupt"]).toBe(0);
      }
    });

    it("made the senders wait for room in a full ring (the flood did exceed the ring)", () => {
      const blocked = perPe("busy").reduce((sum, r) => sum + Number(r["blockedSends"]), 0);
      expect(blocked).toBeGreaterThan(0);
    });

    it("lets neighbours that flood each other in synchronous loops both finish, every message delivered once and in order", () => {
      for (const record of perPe("symmetric")) {
        const me = Number(record["pe"]);
        const neighbours = new Set([(me + 1) % pes, (me + pes - 1) % pes]);
        neighbours.delete(me);
        expect(record["received"]).toEqual(range(pes).map((src) => (neighbours.has(src) ? kSymmetric : 0)));
        expect(record["outOfOrder"]).toBe(0);
        expect(record["corrupt"]).toBe(0);
      }
    });

    it(`completes an all-to-all of ${kExecsPerPe} execs per PE pair with 1 KiB arguments, every reply right`, () => {
      for (const record of perPe("allToAll")) {
        expect(record["replies"]).toBe(kExecsPerPe * pes);
        expect(record["wrong"]).toBe(0);
      }
    });
  });
}

describe("SHOAL_RING_BYTES", () => {
  // SHOAL_AGGREGATION_BYTES is left unset: its default shrinks to a quarter of the ring.
  for (const { pes, procs, name } of kShapes.filter((shape) => shape.pes === 2)) {
    it(`accepts its documented minimum, 65536, without any other setting, on ${name}`, async () => {
      const job = await runJob(pes, "am-flood.ts", { procs, env: { SHOAL_RING_BYTES: "65536" } });
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });
  }
});
