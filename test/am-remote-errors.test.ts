// Remote errors: a handler that fails rejects its caller with a RemoteError that says where and
// what failed (PE, AM name, remote error name, message and stack); fire-and-forget failures surface
// in the next waitAll; the PEs keep working. One job per shape (test/fixtures/am-remote-errors.ts):
// 1, 2 and 3 PEs in one process, and every shape of several processes.
import { beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

interface ErrorRecord {
  name: string;
  code: string;
  message: string;
  isRemoteError: boolean;
  isShoalError: boolean;
  stack: string;
  pe: number;
  am: string;
  remoteName: string;
  remoteMessage: string;
  remoteStack: string;
}

interface Expected {
  am: string;
  remoteName: string;
  remoteMessage: (caller: number) => string;
  /** Text the remote stack must contain: the handler's function name and the fixture's file. */
  stackHas: string[];
}

const kFixtureFile = "am-remote-errors.ts";

const kChecks: Record<string, Expected> = {
  "a handler that throws a TypeError": {
    am: "explode", remoteName: "TypeError", remoteMessage: (caller) => `boom from ${caller}`, stackHas: ["explodeHandler", kFixtureFile],
  },
  "an async handler that throws a RangeError": {
    am: "explodeLater", remoteName: "RangeError", remoteMessage: (caller) => `late boom from ${caller}`, stackHas: ["explodeLaterHandler", kFixtureFile],
  },
  "a handler that returns a rejected promise of a custom error": {
    am: "rejectCustom", remoteName: "CustomError", remoteMessage: (caller) => `custom from ${caller}`, stackHas: ["rejectCustomHandler", kFixtureFile],
  },
  "a handler that throws a string": {
    am: "throwString", remoteName: "Error", remoteMessage: () => "a thrown string", stackHas: [],
  },
  "a handler that returns a function": {
    am: "returnFunction", remoteName: "EncodeError", remoteMessage: () => "cannot send a function", stackHas: [],
  },
  "a handler that returns an object holding a symbol": {
    am: "returnSymbolInObject", remoteName: "EncodeError", remoteMessage: () => "cannot send a symbol", stackHas: [],
  },
  "a handler that returns a class instance": {
    am: "returnClassInstance", remoteName: "EncodeError", remoteMessage: () => "cannot send an object (Point): only plain objects travel", stackHas: [],
  },
};

function expectRemoteError(error: ErrorRecord | undefined, pe: number, am: string): void {
  expect(error).toBeDefined();
  expect(error!.name).toBe("RemoteError");
  expect(error!.code).toBe("ERR_SHOAL_REMOTE");
  expect(error!.isRemoteError).toBe(true);
  expect(error!.isShoalError).toBe(true);
  expect(error!.pe).toBe(pe);
  expect(error!.am).toBe(am);
  expect(error!.message).toContain(`"${am}" on PE ${pe}`);
  // The local stack carries the remote one.
  expect(error!.stack).toContain(`--- on PE ${pe} ---`);
  expect(error!.stack).toContain(error!.remoteStack);
}

const kRemoteErrorShapes = kShapes.filter((shape) => shape.procs > 1 || shape.pes <= 3);

for (const { pes, procs, name } of kRemoteErrorShapes) {
  describe(`remote errors on ${name}`, () => {
    let job: JobResult;
    beforeAll(async () => {
      job = await runJob(pes, "am-remote-errors.ts", { procs });
    });

    it("runs to completion: exit code 0 and nothing on stderr (a remote error does not end the job)", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    for (const [check, expected] of Object.entries(kChecks)) {
      for (const target of ["other", "self"]) {
        const on = target === "other" ? "another PE" : "the calling PE itself";
        it(`${check} on ${on} rejects the caller's exec with a RemoteError naming ${expected.remoteName}, and that PE keeps working`, () => {
          const records = recordsOf(job, "remote").filter((r) => r["check"] === check && r["target"] === target);
          expect(records.map((r) => r["pe"])).toEqual([...Array(pes).keys()]);
          for (const record of records) {
            const caller = Number(record["pe"]);
            const dest = target === "other" ? (caller + 1) % pes : caller;
            expect(record["resolved"]).toBe(false);
            const error = record["error"] as ErrorRecord;
            expectRemoteError(error, dest, expected.am);
            expect(error.remoteName).toBe(expected.remoteName);
            expect(error.remoteMessage).toContain(expected.remoteMessage(caller));
            expect(error.remoteStack).toContain(`${expected.remoteName}: ${expected.remoteMessage(caller)}`);
            for (const text of expected.stackHas) expect(error.remoteStack).toContain(text);
            expect(record["aliveAfter"]).toBe(dest);
          }
        });
      }
    }

    it("execAll rejects with the RemoteError of the PE whose handler threw", () => {
      const records = recordsOf(job, "execAll");
      expect(records).toHaveLength(pes);
      for (const record of records) {
        expect(record["resolved"]).toBe(false);
        const error = record["error"] as ErrorRecord;
        expectRemoteError(error, pes - 1, "explodeOnLastPe");
        expect(error.remoteMessage).toBe(`PE ${pes - 1} refuses`);
      }
    });

    it("a send whose handler throws makes the next waitAll reject with that RemoteError (the first one only)", () => {
      const records = recordsOf(job, "sends");
      expect(records).toHaveLength(pes);
      for (const record of records) {
        const dest = (Number(record["pe"]) + 1) % pes;
        const first = record["firstWait"] as { resolved: boolean; error: ErrorRecord };
        expect(first.resolved).toBe(false);
        expectRemoteError(first.error, dest, "countOrExplode");
        expect(first.error.remoteMessage).toBe("send -3 failed");
      }
    });

    it("the waitAll after a rejected one resolves, and so does one after further sends", () => {
      for (const record of recordsOf(job, "sends")) {
        expect(record["secondWait"]).toEqual({ resolved: true });
        expect(record["thirdWait"]).toEqual({ resolved: true });
      }
    });

    it("every send is handled once, those that threw included", () => {
      expect(recordsOf(job, "sends").map((r) => r["sendsHandled"])).toEqual([...Array(pes)].map(() => 8));
    });
  });
}
