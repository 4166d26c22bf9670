// Bad input is refused on the calling PE with a typed error (a ShoalError subclass with a stable
// code and a message saying what was expected and what came), before anything is sent; the PE
// keeps working afterwards. One job per shape runs every check (test/fixtures/am-bad-input.ts): 1
// and 3 PEs in one process, and every shape of several processes.
import { beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

interface Refusal {
  /** The class the error must be an instance of (besides ShoalError). */
  readonly error: "ShoalRangeError" | "ShoalTypeError" | "RegistryError" | "EncodeError" | "StateError";
  readonly code: string;
  /** Fragments the message must contain, for a job of `pes` PEs. */
  readonly says: (pes: number) => string[];
}

const range = (call: string, got?: number): Refusal => ({
  error: "ShoalRangeError", code: "ERR_SHOAL_RANGE", says: (pes) => [`${call}: expected a PE in 0..${pes - 1}, got ${got ?? pes}`],
});
const notInteger = (got: string): Refusal => ({ error: "ShoalTypeError", code: "ERR_SHOAL_TYPE", says: () => ["expected an integer PE number", `got ${got}`] });
const registry = (...says: string[]): Refusal => ({ error: "RegistryError", code: "ERR_SHOAL_REGISTRY", says: () => says });
const encode = (...says: string[]): Refusal => ({ error: "EncodeError", code: "ERR_SHOAL_ENCODE", says: () => says });

/** Registry calls refused at module top level and after init (they send nothing). */
const kDefinitionChecks: Record<string, Refusal> = {
  "defineAm with an empty name": registry("non-empty name"),
  "defineAm with a name already defined": registry(`"touch" is defined twice`),
  "defineActivity with a name already defined by defineAm": registry(`"touch" is defined twice`),
  "defineAm with a handler that is not a function": registry("expected a function"),
  "defineAm after init": { error: "StateError", code: "ERR_SHOAL_STATE", says: () => [`defineAm("late")`, "after init()"] },
  "defineActivity after init": { error: "StateError", code: "ERR_SHOAL_STATE", says: () => [`defineActivity("lateActivity")`, "after init()"] },
};

/** Calls refused between two valid messages to the same PE, in the fixture's order. */
const kCallChecks: [string, Refusal][] = [
  ["exec to PE numPes", range("exec")],
  ["exec to PE -1", range("exec", -1)],
  ["exec to PE 0.5", notInteger("0.5")],
  ["exec to PE NaN", notInteger("NaN")],
  ["exec to PE \"0\" (a string)", notInteger(`"0"`)],
  ["send to PE numPes", range("send")],
  ["at to PE numPes", range("at")],
  ["exec of an object that is not an AM", registry("expected an active message returned by defineAm")],
  ["exec of undefined instead of an AM", registry("expected an active message returned by defineAm", "got undefined")],
  ["execAll of an object that is not an AM", registry("execAll", "expected an active message returned by defineAm")],
  ["send of an object that is not an AM", registry("send", "expected an active message returned by defineAm")],
  ["exec of an activity", registry(`"squareActivity" is an activity`, "world.at")],
  ["send of an activity", registry(`"squareActivity" is an activity`, "world.at")],
  ["at of an AM", registry(`"touch" is an active message`, "world.exec")],
  ["exec with a function argument", encode("function")],
  ["exec with a symbol argument", encode("symbol")],
  ["exec with a function nested in an object", encode("function", "value.nested.method")],
  ["exec with a symbol in an array", encode("symbol", "value[2]")],
  ["exec with a function as a Map value", encode("function")],
  ["exec with a cyclic object", encode("cyclic", "value.self.back")],
  ["exec with a cyclic array", encode("cyclic")],
  ["exec with an object nested 100 levels deep", encode("nested more than 64 levels")],
  ["send with a function argument", encode("function")],
  ["execAll with a function argument", encode("function")],
  // Class instances other than Map, Set, Date and typed arrays are refused, naming the class and
  // where in the value the instance is.
  ["exec with a class instance argument", encode("cannot send an object (Point)", "only plain objects travel")],
  ["exec with a class instance nested in an object", encode("cannot send an object (Point)", "value.shape.origin", "only plain objects travel")],
  ["exec with a class instance in an array", encode("cannot send an object (Point)", "value[1]", "only plain objects travel")],
  ["exec with a class instance as a Map value", encode("cannot send an object (Point)", "only plain objects travel")],
  ["exec with a DataView", encode("cannot send an object (DataView)", "only plain objects travel")],
  ["exec with an ArrayBuffer", encode("cannot send an object (ArrayBuffer)", "only plain objects travel")],
  ["send with a class instance argument", encode("cannot send an object (Point)", "only plain objects travel")],
  ["at with a class instance argument", encode("cannot send an object (Point)", "only plain objects travel")],
];

function expectRefusal(record: Record<string, unknown> | undefined, refusal: Refusal, pes: number): void {
  expect(record, "the fixture printed a record for this check").toBeDefined();
  expect(record!["name"]).toBe(refusal.error);
  expect(record!["code"]).toBe(refusal.code);
  expect(record!["instanceOf"]).toEqual(expect.arrayContaining(["ShoalError", refusal.error]));
  for (const fragment of refusal.says(pes)) expect(record!["message"]).toContain(fragment);
}

const kBadInputShapes = kShapes.filter((shape) => shape.procs > 1 || [1, 3].includes(shape.pes));

for (const { pes, procs, name } of kBadInputShapes) {
  describe(`bad input on ${name}`, () => {
    let job: JobResult;
    let refusals: Record<string, unknown>[];
    beforeAll(async () => {
      job = await runJob(pes, "am-bad-input.ts", { procs });
      refusals = recordsOf(job, "refused");
    });

    /** The records of `check`, one per PE. */
    function recordsFor(check: string): Record<string, unknown>[] {
      const records = refusals.filter((r) => r["check"] === check);
      expect(records.map((r) => r["pe"]), `one record per PE for "${check}"`).toEqual([...Array(pes).keys()]);
      return records;
    }

    it("runs to completion: exit code 0 and nothing on stderr", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    for (const [check, refusal] of Object.entries(kDefinitionChecks)) {
      it(`refuses ${check} with ${refusal.error} (${refusal.code})`, () => {
        for (const record of recordsFor(check)) expectRefusal(record, refusal, pes);
      });
    }

    kCallChecks.forEach(([check, refusal], index) => {
      it(`refuses ${check} with ${refusal.error} (${refusal.code}), sends nothing of it, and the next exec succeeds`, () => {
        for (const record of recordsFor(check)) {
          expectRefusal(record, refusal, pes);
          // Two valid touches per check so far reached the destination, and nothing else.
          expect(record["after"]).toBe(2 * (index + 1));
        }
      });
    });

    it("ships no large argument of a refused activity call: the next call's large argument is the one that arrives", () => {
      for (const record of recordsFor("at with a large typed array then a function")) {
        expectRefusal(record, encode("function"), pes);
        expect(record["afterAt"]).toEqual([["Float64Array", 10_000, 222], "ok"]);
      }
    });

    it("delivers exactly the valid messages: every PE handled two touches per refused call", () => {
      const touched = recordsOf(job, "touched");
      expect(touched.map((r) => r["touched"])).toEqual([...Array(pes)].map(() => 2 * kCallChecks.length));
    });
  });
}
