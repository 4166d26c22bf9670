import { describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob } from "./helpers/job.js";

describe("shoal run", () => {
  for (const { pes, procs, name } of kShapes) {
    it(`gives each PE one reply per PE, in PE order, on ${name}`, async () => {
      const result = await runJob(pes, "hello.ts", { procs });
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
      const hellos = recordsOf(result, "hello");
      expect(hellos.map((r) => r["pe"])).toEqual([...Array(pes).keys()]);
      for (const record of hellos) {
        const me = Number(record["pe"]);
        expect(record["numPes"]).toBe(pes);
        expect(record["replies"]).toEqual([...Array(pes).keys()].map((pe) => `PE ${pe} greets PE ${me}`));
      }
    });
  }
});
