// world.finish and failures: finish rejects with the first failure of anything spawned inside it
// (awaited or not, however deep), as a RemoteError naming the PE and the activity that threw, and
// only once everything else inside it has completed.
import { beforeAll, describe, expect, it } from "vitest";

import { kShapes, recordsOf, runJob, type JobResult } from "./helpers/job.js";

for (const { pes, procs, name } of kShapes) {
  describe(`world.finish failures on ${name}`, () => {
    let result: JobResult;
    const record = (kind: string, pe: number): Record<string, unknown> => {
      const found = recordsOf(result, kind).find((r) => r["pe"] === pe);
      if (found === undefined) throw new Error(`no "${kind}" record from PE ${pe}; stdout:\n${result.stdout}\nstderr:\n${result.stderr}`);
      return found;
    };
    const eachPe = (check: (pe: number) => void): void => {
      for (let pe = 0; pe < pes; pe++) check(pe);
    };
    /** Checks a described error: a RemoteError naming `pe` and `am`, carrying the remote error. */
    const expectRemote = (error: unknown, pe: number, am: string, remoteName: string, remoteMessage: string): void => {
      expect(error).toMatchObject({ name: "RemoteError", remote: true, code: "ERR_SHOAL_REMOTE", pe, am, remoteName, remoteMessage });
      const message = String((error as Record<string, unknown>)["message"]);
      expect(message).toContain(`on PE ${pe}`);
      expect(message).toContain(am);
      expect(message).toContain(remoteMessage);
    };

    beforeAll(async () => {
      result = await runJob(pes, "apgas-finish-errors.ts", { procs });
    });

    it("ends with exit code 0 and nothing on stderr (no unhandled rejection of un-awaited handles)", () => {
      expect(result.stderr).toBe("");
      expect(result.code).toBe(0);
    });

    it("rejects with the failure of an activity whose handle was never awaited", () => {
      eachPe((pe) => expectRemote(record("unawaited", pe)["error"], (pe + 1) % pes, "apgas.fail", "RangeError", `unawaited from ${pe}`));
    });

    it("rejects with a failure that comes after the body has returned", () => {
      eachPe((pe) => expectRemote(record("unawaitedLater", pe)["error"], (pe + 1) % pes, "apgas.failLater", "TypeError", `later from ${pe}`));
    });

    it("rejects with the failure of a grandchild on another PE", () => {
      eachPe((pe) => expectRemote(record("grandchild", pe)["error"], (pe + 2) % pes, "apgas.relay", "Error", `grandchild of ${pe}`));
    });

    it("rejects with the failure of an activity four levels down the tree", () => {
      eachPe((pe) => expectRemote(record("deeper", pe)["error"], (pe + 4) % pes, "apgas.relay", "Error", `deep under ${pe}`));
    });

    it("rejects with the failure of a fire-and-forget active message", () => {
      eachPe((pe) => expectRemote(record("send", pe)["error"], (pe + 2) % pes, "apgas.failAm", "Error", `sent by ${pe}`));
    });

    it("rejects with the first failure, and rejects the failed activity's own handle too", () => {
      eachPe((pe) => {
        const first = record("first", pe);
        expectRemote(first["handle"], (pe + 1) % pes, "apgas.fail", "RangeError", `first from ${pe}`);
        expectRemote(first["error"], (pe + 1) % pes, "apgas.fail", "RangeError", `first from ${pe}`);
      });
    });

    it("rejects only after every sibling of the failed activity has completed", () => {
      eachPe((pe) => {
        const siblings = record("siblings", pe);
        expectRemote(siblings["error"], (pe + 1) % pes, "apgas.fail", "RangeError", `among siblings from ${pe}`);
        expect(siblings["counts"]).toEqual(new Array<number>(pes).fill(2));
      });
    });

    it("does not fail an outer finish when its body catches an inner finish's failure", () => {
      eachPe((pe) => {
        const caught = record("caughtInner", pe);
        expectRemote(caught["inner"], (pe + 1) % pes, "apgas.fail", "RangeError", `inner of ${pe}`);
        expect(caught["value"]).toBe("outer resolved");
      });
    });

    it("leaves nothing behind: a later finish and waitAll succeed", () => {
      eachPe((pe) => expect(record("afterwards", pe)).toEqual({ kind: "afterwards", pe, value: "clean", counts: new Array<number>(pes).fill(1) }));
    });
  });
}

describe("world.finish and untracked messages", () => {
  // PE 0's progress loop is restarted from inside its finish (the at() after a timer), so the loop
  // may carry that finish's scope; the untracked handler it then runs must not be counted by it.
  it("does not count what an untracked handler sends while the PE waits in a finish", async () => {
    const result = await runJob(2, "apgas-scope-leak.ts");
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    const [leak] = recordsOf(result, "leak");
    expect(leak?.["finishOutcome"]).toBe("resolved");
    expect(String(leak?.["waitAllOutcome"])).toContain("sent outside any finish");
  });
});
