// The shared-memory ring (src/lamellae/shm/ring.ts), a bounded multi-producer single-consumer
// byte queue: checked against a model of its documented layout in one thread (seeded random
// operations), then with three real producer threads.
import { fileURLToPath, pathToFileURL } from "node:url";
import { Worker } from "node:worker_threads";

import { describe, expect, it } from "vitest";

import { TransportError } from "../src/errors.js";
import { Ring, kRecordHeaderBytes, ringByteLength } from "../src/lamellae/index.js";
import { mulberry32, randomInt } from "./fixtures/am-random.js";

/** Word indices of TAIL and HEAD in the ring header (bytes 0 and 64, see ring.ts). */
const kTailWord = 0;
const kHeadWord = 16;

const align8 = (n: number) => Math.ceil(n / 8) * 8;

/** A ring whose TAIL and HEAD counters both start at `start` (an empty ring), and its buffer. */
function ringStartingAt(capacity: number, start: number): SharedArrayBuffer {
  const buffer = new SharedArrayBuffer(ringByteLength(capacity));
  const control = new Int32Array(buffer, 0, 32);
  control[kTailWord] = start | 0;
  control[kHeadWord] = start | 0;
  return buffer;
}

interface ModelRecord {
  /** Offset of the record (its header) in the data area. */
  readonly start: number;
  /** Bytes of padding reserved before it, up to the end of the data area. */
  padding: number;
  readonly total: number;
  readonly payload: Uint8Array;
  committed: boolean;
}

/**
 * The ring as documented: records are 8-byte aligned, `total = align8(8 + length)` bytes long,
 * never wrap (the rest of the data area becomes padding), and a reservation succeeds only if
 * everything reserved and not yet consumed, plus it, fits the capacity.
 */
class RingModel {
  tail: number;
  head: number;
  readonly records: ModelRecord[] = [];
  constructor(readonly capacity: number, start: number) {
    this.tail = start;
    this.head = start;
  }
  position(counter: number): number {
    return ((counter % this.capacity) + this.capacity) % this.capacity;
  }
  reserve(payload: Uint8Array): ModelRecord | undefined {
    const total = align8(kRecordHeaderBytes + payload.length);
    const position = this.position(this.tail);
    const untilEnd = this.capacity - position;
    const padding = total <= untilEnd ? 0 : untilEnd;
    if (this.tail - this.head + padding + total > this.capacity) return undefined;
    const record = { start: padding === 0 ? position : 0, padding, total, payload, committed: false };
    this.tail += padding + total;
    this.records.push(record);
    return record;
  }
  /** The next payload the consumer must get, or undefined; consumes padding before an uncommitted record too. */
  consume(): Uint8Array | undefined {
    const first = this.records[0];
    if (first === undefined) return undefined;
    this.head += first.padding;
    first.padding = 0;
    if (!first.committed) return undefined;
    this.records.shift();
    this.head += first.total;
    return first.payload;
  }
}

describe("Ring, in one thread", () => {
  const kCapacity = 4096;

  for (const start of [0, 2 ** 31 - 10_000, -10_000]) {
    it(`matches the documented layout over 20000 seeded operations, counters starting at ${start}`, () => {
      const buffer = ringStartingAt(kCapacity, start);
      const producer = new Ring(buffer);
      const consumer = new Ring(buffer);
      const model = new RingModel(kCapacity, start);
      const into = new Uint8Array(consumer.maxPayload);
      const random = mulberry32(2024 + start);
      const reserved: { offset: number; record: ModelRecord }[] = [];
      let refusals = 0;
      let paddings = 0;
      let consumed = 0;
      // Mismatches are collected, not asserted one by one: expect() per step would dominate the run.
      const mismatches: string[] = [];
      const sameBytes = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((byte, i) => byte === b[i]);
      for (let step = 0; step < 20_000 && mismatches.length < 5; step++) {
        const action = random();
        if (action < 0.5 && reserved.length < 3) {
          // Mostly small payloads, sometimes up to the largest a record holds.
          const length = random() < 0.8 ? randomInt(random, 200) : randomInt(random, producer.maxPayload + 1);
          const payload = new Uint8Array(length);
          for (let i = 0; i < length; i++) payload[i] = randomInt(random, 256);
          const expected = model.reserve(payload);
          const offset = producer.reserve(length);
          if (expected === undefined) {
            if (offset !== -1) mismatches.push(`step ${step}: reserve(${length}) returned ${offset} on a full ring`);
            refusals++;
            continue;
          }
          if (offset !== expected.start + kRecordHeaderBytes) {
            mismatches.push(`step ${step}: reserve(${length}) returned ${offset}, expected ${expected.start + kRecordHeaderBytes}`);
            continue;
          }
          if (expected.padding > 0) paddings++;
          producer.bytes.set(payload, offset);
          reserved.push({ offset, record: expected });
        } else if (action < 0.75 && reserved.length > 0) {
          // Commit any reserved record, not necessarily the oldest.
          const [{ offset, record }] = reserved.splice(randomInt(random, reserved.length), 1) as [{ offset: number; record: ModelRecord }];
          producer.commit(offset, record.payload.length);
          record.committed = true;
        } else {
          const expected = model.consume();
          const length = consumer.readNext(into);
          if (expected === undefined) {
            if (length !== -1) mismatches.push(`step ${step}: readNext returned ${length} while the oldest record is uncommitted`);
          } else if (length !== expected.length || !sameBytes(into.subarray(0, length), expected)) {
            mismatches.push(`step ${step}: readNext returned ${length} bytes, expected the ${expected.length} bytes of the oldest record`);
          } else {
            consumed++;
          }
        }
      }
      expect(mismatches).toEqual([]);
      // The run went through the cases it is meant to cover.
      expect(refusals).toBeGreaterThan(0);
      expect(paddings).toBeGreaterThan(0);
      expect(consumed).toBeGreaterThan(1000);
      // Drain: commit what is reserved, then every record comes out in reservation order.
      for (const { offset, record } of reserved) {
        producer.commit(offset, record.payload.length);
        record.committed = true;
      }
      for (let expected = model.consume(); expected !== undefined; expected = model.consume()) {
        const length = consumer.readNext(into);
        expect(into.subarray(0, length)).toEqual(expected);
      }
      expect(consumer.readNext(into)).toBe(-1);
      expect(consumer.hasData()).toBe(false);
    });
  }

  it("refuses when full, and has room again once the consumer has read a record", () => {
    const buffer = ringStartingAt(1024, 0);
    const ring = new Ring(buffer);
    const into = new Uint8Array(ring.maxPayload);
    const offsets: number[] = [];
    for (let offset = ring.reserve(120); offset >= 0; offset = ring.reserve(120)) {
      ring.bytes.fill(offsets.length + 1, offset, offset + 120);
      ring.commit(offset, 120);
      offsets.push(offset);
    }
    // 1024 bytes hold 8 records of 128 bytes.
    expect(offsets).toHaveLength(8);
    expect(ring.reserve(0)).toBe(-1);
    expect(ring.readNext(into)).toBe(120);
    expect(into.subarray(0, 120).every((byte) => byte === 1)).toBe(true);
    expect(ring.reserve(120)).toBe(offsets[0]);
  });

  it("skips the padding before a record that did not fit at the end of the data area", () => {
    const buffer = ringStartingAt(1024, 0);
    const ring = new Ring(buffer);
    const into = new Uint8Array(ring.maxPayload);
    // 3 records of 256 bytes leave 256 bytes at the end; free the first two, then ask for 300.
    for (let i = 0; i < 3; i++) ring.commit(ring.reserve(248), 248);
    ring.readNext(into);
    ring.readNext(into);
    const offset = ring.reserve(300);
    expect(offset, "the record starts at the beginning of the data area").toBe(kRecordHeaderBytes);
    ring.bytes.fill(7, offset, offset + 300);
    ring.commit(offset, 300);
    expect(ring.readNext(into)).toBe(248);
    expect(ring.readNext(into), "the padding is not handed out as a record").toBe(300);
    expect(into.subarray(0, 300).every((byte) => byte === 7)).toBe(true);
    expect(ring.readNext(into)).toBe(-1);
  });

  it("takes a zero-length payload, and one of exactly maxPayload bytes", () => {
    const ring = new Ring(ringStartingAt(1024, 0));
    const into = new Uint8Array(ring.maxPayload);
    ring.commit(ring.reserve(0), 0);
    expect(ring.readNext(into)).toBe(0);
    const offset = ring.reserve(ring.maxPayload);
    expect(offset).toBeGreaterThanOrEqual(0);
    ring.bytes.fill(9, offset, offset + ring.maxPayload);
    ring.commit(offset, ring.maxPayload);
    expect(ring.readNext(into)).toBe(ring.maxPayload);
    expect(into.every((byte) => byte === 9)).toBe(true);
  });

  it("refuses a payload larger than maxPayload with a TransportError", () => {
    const ring = new Ring(ringStartingAt(1024, 0));
    expect(() => ring.reserve(ring.maxPayload + 1)).toThrow(TransportError);
  });

  it("refuses a capacity that is not a power of two of at least 1024 bytes with a TransportError", () => {
    expect(() => new Ring(new SharedArrayBuffer(ringByteLength(512)))).toThrow(TransportError);
    expect(() => new Ring(new SharedArrayBuffer(ringByteLength(3000)))).toThrow(TransportError);
  });
});

/** A producer thread: pushes `count` records `[producer u32, seq u32, filler…]` of varying sizes. */
const kProducerSource = `
const { workerData, parentPort } = require("node:worker_threads");
(async () => {
  const { Ring } = await import(workerData.ringUrl);
  const ring = new Ring(workerData.buffer);
  const { producer, count } = workerData;
  let state = (producer + 1) * 2654435761 >>> 0;
  const nextLength = () => {
    state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0;
    return 8 + (state % 200);
  };
  let wakes = 0;
  for (let seq = 0; seq < count; seq++) {
    const length = nextLength();
    let offset = ring.reserve(length);
    while (offset < 0) {
      ring.waitForSpace(5);
      offset = ring.reserve(length);
    }
    const view = new DataView(ring.bytes.buffer, ring.bytes.byteOffset + offset, length);
    view.setUint32(0, producer, true);
    view.setUint32(4, seq, true);
    ring.bytes.fill((producer * 31 + seq) & 255, offset + 8, offset + length);
    if (ring.commit(offset, length)) {
      ring.wake();
      wakes++;
    }
  }
  parentPort.postMessage({ wakes });
})().catch((error) => { throw error; });
`;

describe("Ring, with three producer threads", () => {
  it("delivers each producer's 100000 records completely, intact and in order, and never loses a wake-up", async () => {
    const kProducers = 3;
    const kCount = 100_000;
    const buffer = new SharedArrayBuffer(ringByteLength(65536));
    const ringUrl = pathToFileURL(fileURLToPath(new URL("../dist/src/lamellae/shm/ring.js", import.meta.url))).href;
    const consumer = new Ring(buffer);
    const workers = Array.from({ length: kProducers }, (_, producer) =>
      new Worker(kProducerSource, { eval: true, workerData: { buffer, ringUrl, producer, count: kCount } }));
    const finished = Promise.all(workers.map((worker) => new Promise<{ wakes: number }>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    })));
    finished.catch(() => undefined);
    try {
      const into = new Uint8Array(consumer.maxPayload);
      const view = new DataView(into.buffer);
      const next = new Array<number>(kProducers).fill(0);
      let received = 0;
      let outOfOrder = 0;
      let corrupt = 0;
      let timedOut = 0;
      while (received < kProducers * kCount) {
        const length = consumer.readNext(into);
        if (length < 0) {
          // Sleep as a PE does; a lost wake-up would show as a timed-out sleep.
          const doorbell = consumer.prepareSleep();
          if (doorbell === -1) continue;
          if ((await consumer.sleepAsync(doorbell, 10_000)) === "timed-out") timedOut++;
          consumer.endSleep();
          continue;
        }
        const producer = view.getUint32(0, true);
        const seq = view.getUint32(4, true);
        if (producer >= kProducers) {
          corrupt++;
          continue;
        }
        if (seq !== next[producer]) outOfOrder++;
        next[producer] = seq + 1;
        const fill = (producer * 31 + seq) & 255;
        let intact = length >= 8 && length < 208;
        for (let i = 8; i < length && intact; i++) intact = into[i] === fill;
        if (!intact) corrupt++;
        received++;
      }
      await finished;
      expect(next).toEqual(new Array<number>(kProducers).fill(kCount));
      expect(outOfOrder).toBe(0);
      expect(corrupt).toBe(0);
      expect(timedOut).toBe(0);
      expect(consumer.readNext(into)).toBe(-1);
    } finally {
      await Promise.all(workers.map((worker) => worker.terminate()));
    }
  });
});
