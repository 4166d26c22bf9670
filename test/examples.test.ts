// CI runs every example: each file in examples/ runs on 4 PEs, in one process and in two, exits 0
// and writes nothing to stderr.
import { readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";

import { describe, expect, it } from "vitest";

import { kShapes, runJob } from "./helpers/job.js";

const examplesDir = fileURLToPath(new URL("../examples/", import.meta.url));
const examples = readdirSync(examplesDir).filter((name) => /\.[mc]?[jt]s$/.test(name)).sort();

describe("examples", () => {
  it("has examples to run", () => {
    expect(examples.length).toBeGreaterThan(0);
  });

  for (const shape of kShapes.filter(({ pes }) => pes === 4)) {
    for (const name of examples) {
      it(`runs examples/${name} on ${shape.name}: exit code 0, nothing on stderr`, async () => {
        const result = await runJob(shape.pes, `${examplesDir}${name}`, { procs: shape.procs });
        expect(result.stderr).toBe("");
        expect(result.code).toBe(0);
        expect(result.stdout).not.toBe("");
      });
    }
  }
});
