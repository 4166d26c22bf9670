// The value codec: every kind of value an active message carries arrives exactly as it was sent,
// on another PE and on the sending PE itself, and comes back unchanged from an echo. The oracle is
// the value itself: the test fingerprints what it sends, the fixture fingerprints what arrived.
// Every job runs on 2 PEs, in one process and in two.
import { beforeAll, describe, expect, it } from "vitest";

import { codecCases, fingerprint, typedByteLength, type CodecCase, type CodecCaseSet } from "./fixtures/codec-cases.js";
import { kShapes, runJob, type JobResult } from "./helpers/job.js";

// The round trips check values, not speed: on a loaded machine a job may take longer than the
// default barrier report interval, whose report on stderr is not what these tests look at.
const kPatient = { SHOAL_BARRIER_TIMEOUT_MS: "120000" };

interface CodecRecord {
  name: string;
  target: "other" | "self";
  seen?: { fingerprint: string; view?: { byteOffset: number; bufferBytes: number } };
  byReference?: number;
  echoed?: string;
  echoedEqual?: boolean;
  error?: string;
}

function codecRecords(job: JobResult): Map<string, CodecRecord> {
  const byKey = new Map<string, CodecRecord>();
  for (const record of job.records) {
    if (record["kind"] !== "codec") continue;
    const codec = record as unknown as CodecRecord;
    byKey.set(`${codec.target}: ${codec.name}`, codec);
  }
  return byKey;
}

/** What the receiver must see: the fingerprint of the value as it arrives. */
function expectedFingerprint(testCase: CodecCase): string {
  const value = testCase.make();
  return fingerprint(testCase.arrives === undefined ? value : testCase.arrives(value));
}

/** Asserts that `record` shows `testCase` arriving and coming back unchanged. */
function expectRoundTrip(record: CodecRecord | undefined, testCase: CodecCase): void {
  expect(record, "the fixture printed a record for this case").toBeDefined();
  expect(record!.error).toBeUndefined();
  const expected = expectedFingerprint(testCase);
  expect(record!.seen?.fingerprint).toBe(expected);
  expect(record!.echoed).toBe(expected);
  expect(record!.echoedEqual).toBe(true);
}

/** One `it` per case and target. */
function roundTripTests(set: CodecCaseSet, records: () => Map<string, CodecRecord>, targets: readonly ("other" | "self")[]): void {
  for (const testCase of codecCases(set)) {
    for (const target of targets) {
      const where = target === "other" ? "another PE" : "the sending PE itself";
      it(`${testCase.name} arrives on ${where} and comes back from it unchanged`, () => {
        expectRoundTrip(records().get(`${target}: ${testCase.name}`), testCase);
      });
    }
  }
}

/** The shapes of a 2-PE job: 2 PEs in one process, and in two. */
const kTwoPeShapes = kShapes.filter((shape) => shape.pes === 2);

for (const { pes, procs, name } of kTwoPeShapes) {
  describe(`codec round trips under the default settings, on ${name}`, () => {
    let job: JobResult;
    let records: Map<string, CodecRecord>;
    beforeAll(async () => {
      job = await runJob(pes, "codec-roundtrip.ts", { procs, args: ["all"], env: kPatient });
      records = codecRecords(job);
    });

    it("runs to completion: exit code 0 and nothing on stderr", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    roundTripTests("all", () => records, ["other", "self"]);

    it("moves typed arrays of at least 65536 bytes by reference and smaller ones inside the frame", () => {
      for (const testCase of codecCases("all")) {
        const bytes = typedByteLength(testCase.make());
        if (bytes === undefined) continue;
        expect(records.get(`other: ${testCase.name}`)?.byReference, testCase.name).toBe(bytes >= 65536 ? 1 : 0);
      }
    });

    it("moves a frame larger than a ring record by reference", () => {
      for (const testCase of codecCases("all").filter((c) => c.frameLargerThanRecord === true)) {
        for (const target of ["other", "self"]) {
          expect(records.get(`${target}: ${testCase.name}`)?.byReference, `${target}: ${testCase.name}`).toBe(1);
        }
      }
    });

    it("delivers a typed array over a buffer of its own elements only, at byte offset 0 (subarrays included)", () => {
      for (const testCase of codecCases("all")) {
        const bytes = typedByteLength(testCase.make());
        if (bytes === undefined) continue;
        for (const target of ["other", "self"]) {
          expect(records.get(`${target}: ${testCase.name}`)?.seen?.view, `${target}: ${testCase.name}`).toEqual({ byteOffset: 0, bufferBytes: bytes });
        }
      }
    });

    it("keeps each argument of an activity in its place when several are large typed arrays", () => {
      const tuple = job.records.find((r) => r["kind"] === "tuple");
      const sent = [new Float64Array(10_000).fill(1.5), 7, new Int32Array(20_000).fill(-3), "after"];
      expect(tuple?.["fingerprints"]).toEqual(sent.map(fingerprint));
      expect(tuple?.["equal"]).toBe(true);
    });
  });
}

for (const { pes, procs, name } of kTwoPeShapes) {
  describe(`codec round trips with SHOAL_LARGE_BYTES=1024, on ${name}`, () => {
    let job: JobResult;
    let records: Map<string, CodecRecord>;
    beforeAll(async () => {
      job = await runJob(pes, "codec-roundtrip.ts", { procs, args: ["large"], env: { ...kPatient, SHOAL_LARGE_BYTES: "1024" } });
      records = codecRecords(job);
    });

    it("runs to completion: exit code 0 and nothing on stderr", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    roundTripTests("large", () => records, ["other", "self"]);

    it("moves typed arrays of at least 1024 bytes by reference and smaller ones inside the frame", () => {
      for (const testCase of codecCases("large")) {
        const bytes = typedByteLength(testCase.make())!;
        for (const target of ["other", "self"]) {
          expect(records.get(`${target}: ${testCase.name}`)?.byReference, `${target}: ${testCase.name}`).toBe(bytes >= 1024 ? 1 : 0);
        }
      }
    });

    it("delivers a large typed array over a buffer of its own elements only, at byte offset 0", () => {
      for (const testCase of codecCases("large")) {
        const bytes = typedByteLength(testCase.make())!;
        expect(records.get(`other: ${testCase.name}`)?.seen?.view, testCase.name).toEqual({ byteOffset: 0, bufferBytes: bytes });
      }
    });
  });
}

for (const { pes, procs, name } of kTwoPeShapes) {
  describe(`codec round trips with SHOAL_RING_BYTES=65536, on ${name}`, () => {
    let job: JobResult;
    let records: Map<string, CodecRecord>;
    beforeAll(async () => {
      job = await runJob(pes, "codec-roundtrip.ts", { procs, args: ["ring"], env: { ...kPatient, SHOAL_RING_BYTES: "65536" } });
      records = codecRecords(job);
    });

    it("runs to completion: exit code 0 and nothing on stderr", () => {
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
    });

    roundTripTests("ring", () => records, ["other", "self"]);

    it("moves frames larger than a ring record by reference", () => {
      for (const testCase of codecCases("ring")) {
        for (const target of ["other", "self"]) {
          expect(records.get(`${target}: ${testCase.name}`)?.byReference, `${target}: ${testCase.name}`).toBe(testCase.frameLargerThanRecord === true ? 1 : 0);
        }
      }
    });
  });
}

// A reply that only the handler's PE builds: a Map whose keys are objects and arrays.
for (const { pes, procs, name } of kTwoPeShapes) {
  describe(`a reply holding a Map with object keys, on ${name}`, () => {
    it("resolves the caller's exec to that Map, and the caller keeps working", async () => {
      const job = await runJob(pes, "codec-reply-map.ts", { procs });
      expect(job.stderr).toBe("");
      expect(job.code).toBe(0);
      expect(job.records.find((r) => r["kind"] === "replyMap")).toEqual({ kind: "replyMap", equal: true, aliveAfter: 1 });
    });
  });
}
