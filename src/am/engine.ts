/**
 * The active-message engine of one PE: it aggregates outgoing messages per destination, runs the
 * progress loop, dispatches incoming messages, and tracks every request until it completes.
 *
 * ## Aggregation
 * Each destination has a {@link FrameWriter}. A message is appended to it and the frame is sent
 * when it reaches `aggregationBytes` (size), or when the PE's current synchronous run ends and the
 * progress step runs (idleness). A JavaScript timer could never fire earlier than that step, since
 * both wait for the running code to yield, so the idle flush is also the timer flush.
 *
 * ## Progress
 * One step flushes the writers, hands waiting frames to the dispatcher, flushes the replies, and
 * checks the waiters (barriers, `waitAll`, `finish`). Then:
 * - while frames keep arriving, or within `spinUs` of the last one, the next step is queued as a
 *   microtask. Microtasks run in order, so user continuations resolved by a step run before the
 *   next step polls: the PE polls between them without ever blocking them, and a reply is seen
 *   within about a microtask (0.1 to 0.2 µs);
 * - every millisecond of such polling, one step goes through `setImmediate`, so timers and I/O run;
 * - after `spinUs` without a frame, the PE sleeps on its ring's doorbell (`Atomics.waitAsync`),
 *   and costs no CPU. A frame, a barrier release, or the PE's own next call wakes it.
 * With more PEs than cores, `spinUs` is 0: spinning would only take the core from a PE that works.
 *
 * @module
 */
import type { ShoalConfig } from "../config/index.js";
import { PeFailureError, RemoteError, ShoalError, toError } from "../errors.js";
import { frameMessageCount, frameSource, kFrameHeaderBytes, kFrameServable, writeFrameHeader, type ShmTransport } from "../lamellae/index.js";
import { FrameReader, FrameWriter } from "./codec.js";
import {
  MessageKind, kFlagError, kFlagForSend, kFlagNoAck, kFlagReplyWanted, kFlagTracked, kMessageHeaderBytes, type ErrorInfo,
} from "./protocol.js";
import { PendingTable, type PendingRequest } from "./pending.js";
import type { AmContext, AmEntry, Registry } from "./registry.js";
import { Scope, currentScope, runInScope, runOutsideScope } from "./scope.js";

/** A condition the progress loop checks each step. */
interface Waiter {
  check(): boolean;
  resolve(): void;
  reject(reason: unknown): void;
}

/**
 * What the engine has counted.
 *
 * @example
 * ```ts
 * const { requestsSent, repliesReceived } = world.stats().engine;
 * ```
 */
export interface EngineCounters {
  requestsSent: number;
  requestsHandled: number;
  repliesReceived: number;
  steps: number;
  sleeps: number;
}

const kSliceMs = 1;
const kPollLimit = 256;
/** Empty steps between two reads of the clock and the abort flag (performance.now() costs more than a poll). */
const kPollsPerClockRead = 32;
/**
 * Extra polls of the ring inside one empty step. Each step is a microtask, and each microtask
 * allocates a promise; a few synchronous polls (about 0.1 µs) cut that garbage without making a
 * user continuation wait noticeably.
 */
const kPollsPerStep = 16;
/** Busy steps between two checks of the time slice (so timers and I/O still run under load). */
const kStepsPerSliceCheck = 1024;
/**
 * Queues `fn` as a microtask. Node's queueMicrotask wraps each callback in an AsyncResource,
 * which costs more than the poll itself; a reaction on a settled promise does not.
 */
const kSettled = Promise.resolve();
function microtask(fn: () => void): void {
  void kSettled.then(fn);
}

/** The active-message engine of one PE. @internal */
export class Engine {
  readonly pe: number;
  readonly numPes: number;
  readonly transport: ShmTransport;
  readonly counters: EngineCounters = { requestsSent: 0, requestsHandled: 0, repliesReceived: 0, steps: 0, sleeps: 0 };
  readonly #registry: Registry;
  readonly #aggregationBytes: number;
  readonly #spinMs: number;
  /** Whether the next wake from sleep should poll for `#spinMs` (set by kick). */
  #spinOnWake = false;
  readonly #writers: FrameWriter[];
  /** Destinations with unsent messages: `#dirty[0..#dirtyCount)`, each once (`#isDirty`). */
  readonly #dirty: Int32Array;
  #dirtyCount = 0;
  readonly #isDirty: Uint8Array;
  readonly #acksOwed: Uint32Array;
  /** By destination: requests in its frame so far for AMs its IO worker may serve (AmEntry.servable). */
  readonly #servable: Uint32Array;
  /** The handler context for messages from each source: it depends on nothing else, so it is made once. */
  readonly #contexts: readonly AmContext[];
  readonly #reader: FrameReader;
  readonly #pending = new PendingTable();
  readonly #waiters: Waiter[] = [];
  #outstandingSends = 0;
  #sendFailure: unknown = undefined;
  #scheduled = false;
  #sleeping = false;
  #stopped = false;
  /** Whether incoming frames are handled yet: not before the program has its world (see open). */
  #open = false;
  #lastFrameAt = 0;
  #sliceStart = 0;
  #emptyPolls = 0;
  #busySteps = 0;
  #sawFrame = false;
  #failure: PeFailureError | undefined;

  constructor(transport: ShmTransport, registry: Registry, config: ShoalConfig, localPes: number) {
    this.pe = transport.pe;
    this.numPes = transport.numPes;
    this.transport = transport;
    this.#registry = registry;
    this.#aggregationBytes = config.aggregationBytes;
    this.#spinMs = localPes > config.cores ? 0 : config.spinUs / 1000;
    this.#writers = [];
    for (let dest = 0; dest < this.numPes; dest++) {
      const writer = new FrameWriter(Math.min(4096, config.aggregationBytes * 2), config.largeBytes);
      writer.position = kFrameHeaderBytes;
      this.#writers.push(writer);
    }
    this.#dirty = new Int32Array(this.numPes);
    this.#isDirty = new Uint8Array(this.numPes);
    this.#acksOwed = new Uint32Array(this.numPes);
    this.#servable = new Uint32Array(this.numPes);
    this.#contexts = Array.from({ length: this.numPes }, (_, src) => Object.freeze({ pe: this.pe, numPes: this.numPes, src }));
    this.#reader = new FrameReader(transport);
    this.#lastFrameAt = performance.now();
    this.#sliceStart = this.#lastFrameAt;
  }

  // ---------------------------------------------------------------- sending

  /** How long this PE polls after its last frame before sleeping, in ms (0 when PEs outnumber cores). */
  get spinMs(): number {
    return this.#spinMs;
  }

  /** Sends a request; returns its result. Validation of `dest` and `entry` is the caller's. */
  request(dest: number, entry: AmEntry, arg: unknown): Promise<unknown> {
    this.#throwIfFailed();
    const scope = currentScope();
    const pending = this.#pending.open(entry, dest, scope, true);
    const flags = kFlagReplyWanted | (scope === undefined ? 0 : kFlagTracked);
    try {
      this.#write(dest, flags, entry, pending.id, arg);
    } catch (error) {
      this.#pending.close(pending);
      throw error;
    }
    const promise = new Promise<unknown>(capture);
    pending.resolve = captured.resolve;
    pending.reject = captured.reject;
    if (scope !== undefined) {
      scope.spawned();
      // finish reports the failure; an un-awaited handle must not also be an unhandled rejection.
      promise.catch(() => undefined);
    }
    this.#afterWrite(dest);
    return promise;
  }

  /** Sends a fire-and-forget request. */
  send(dest: number, entry: AmEntry, arg: unknown): void {
    this.#throwIfFailed();
    const scope = currentScope();
    if (scope === undefined) {
      this.#write(dest, 0, entry, 0, arg);
      this.#outstandingSends++;
    } else {
      const pending = this.#pending.open(entry, dest, scope, false);
      try {
        this.#write(dest, kFlagTracked, entry, pending.id, arg);
      } catch (error) {
        this.#pending.close(pending);
        throw error;
      }
      scope.spawned();
    }
    this.#afterWrite(dest);
  }

  /**
   * Sends a message of one of shoal's own protocols: fire-and-forget, outside any `finish`, and
   * never acknowledged (its handler must not throw; if it does, the error is printed).
   */
  post(dest: number, entry: AmEntry, arg: unknown): void {
    this.#throwIfFailed();
    this.#write(dest, kFlagNoAck, entry, 0, arg);
    this.#afterWrite(dest);
  }

  #write(dest: number, flags: number, entry: AmEntry, id: number, arg: unknown): void {
    const writer = this.#writers[dest]!;
    const mark = writer.mark();
    writer.header(MessageKind.Request, flags, entry.id, id);
    try {
      if (entry.spread) writer.tuple(arg as unknown[]);
      else writer.value(arg);
    } catch (error) {
      writer.rollback(mark);
      throw error;
    }
    writer.complete();
    if (entry.servable) this.#servable[dest]!++;
    this.counters.requestsSent++;
  }

  #afterWrite(dest: number): void {
    if (this.#writers[dest]!.position >= this.#aggregationBytes) this.#flush(dest);
    else this.#markDirty(dest);
    this.kick();
  }

  #markDirty(dest: number): void {
    if (this.#isDirty[dest] === 0) {
      this.#isDirty[dest] = 1;
      this.#dirty[this.#dirtyCount++] = dest;
    }
  }

  #flush(dest: number): void {
    const writer = this.#writers[dest]!;
    const owed = this.#acksOwed[dest]!;
    if (owed > 0) {
      this.#acksOwed[dest] = 0;
      writer.header(MessageKind.Ack, 0, 0, owed);
      writer.messages++;
    }
    if (writer.messages === 0) return;
    const servable = this.#servable[dest] === writer.messages;
    this.#servable[dest] = 0;
    writeFrameHeader(writer.view, this.pe, servable ? kFrameServable : 0, writer.messages);
    const length = writer.position;
    writer.position = kFrameHeaderBytes;
    writer.messages = 0;
    this.transport.send(dest, writer.bytes, length, writer.payloads);
    if (writer.payloads.length > 0) writer.payloads.length = 0;
  }

  /**
   * Sends every destination's waiting messages now, instead of when this PE next yields: for a
   * caller that sends requests and then computes before awaiting them.
   */
  flush(): void {
    if (this.#dirtyCount > 0) this.#flushAll();
  }

  #flushAll(): void {
    const dirty = this.#dirty;
    // A flush can block and run nothing else, but handlers never run inside it, so the set only
    // shrinks here.
    for (let i = 0; i < this.#dirtyCount; i++) {
      const dest = dirty[i]!;
      this.#isDirty[dest] = 0;
      this.#flush(dest);
    }
    this.#dirtyCount = 0;
  }

  // ---------------------------------------------------------------- receiving

  readonly #onFrame = (bytes: Uint8Array, length: number): void => {
    const reader = this.#reader;
    reader.reset(bytes, kFrameHeaderBytes);
    const source = frameSource(reader.view);
    reader.source = source;
    const count = frameMessageCount(reader.view);
    for (let i = 0; i < count && reader.position < length; i++) {
      const at = reader.position;
      const view = reader.view;
      const kind = view.getUint8(at);
      const flags = view.getUint8(at + 1);
      const amId = view.getUint16(at + 2, true);
      const id = view.getUint32(at + 4, true);
      reader.position = at + kMessageHeaderBytes;
      switch (kind) {
        case MessageKind.Request:
          this.#onRequest(source, flags, amId, id);
          break;
        case MessageKind.Reply: {
          let value: unknown;
          try {
            value = reader.value();
          } catch (error) {
            // The result cannot be read here: that request fails, the PE and the frame go on.
            this.#onUnreadable(id, source, error);
            return;
          }
          this.#onReply(id, value);
          break;
        }
        case MessageKind.Failure:
          this.#onFailure(flags, id, reader.value() as ErrorInfo);
          break;
        case MessageKind.Done:
          this.#onDone(id, (flags & kFlagError) !== 0 ? remoteErrorFrom(reader.value() as ErrorInfo) : undefined);
          break;
        case MessageKind.Ack:
          this.#outstandingSends -= id;
          break;
        default:
          // A frame we cannot read: drop the rest of it rather than misread it.
          process.emitWarning(`shoal: PE ${this.pe} dropped a malformed frame from PE ${source} (message kind ${kind})`);
          return;
      }
    }
  };

  #onRequest(source: number, flags: number, amId: number, id: number): void {
    this.counters.requestsHandled++;
    const entry = this.#registry.byId[amId];
    let arg: unknown;
    try {
      if (entry === undefined) throw new ShoalError(`PE ${this.pe} has no active message with id ${amId}`);
      arg = this.#reader.value();
    } catch (error) {
      this.#completeRequest(source, flags, amId, entry?.name ?? `#${amId}`, id, undefined, false, toError(error), undefined);
      return;
    }
    const ctx = this.#contexts[source]!;
    if (flags === kFlagNoAck) {
      try {
        runOutsideScope(entry.handler, ctx, arg);
      } catch (error) {
        process.stderr.write(`shoal: PE ${this.pe}: the internal message ${entry.name} from PE ${source} failed: ${toError(error).stack ?? String(error)}\n`);
      }
      return;
    }
    if (flags === 0) {
      // Untracked fire-and-forget, the bulk of aggregated traffic: a synchronous handler only
      // counts an ACK, which goes out with the next frame to the source.
      let result: unknown;
      try {
        result = runOutsideScope(entry.handler, ctx, arg);
      } catch (error) {
        this.#completeRequest(source, flags, amId, entry.name, id, undefined, false, error, undefined);
        return;
      }
      if (isThenable(result)) {
        result.then(
          () => this.#completeRequest(source, flags, amId, entry.name, id, undefined, true, undefined, undefined),
          (error: unknown) => this.#completeRequest(source, flags, amId, entry.name, id, undefined, false, error ?? new Error("rejected"), undefined),
        );
      } else {
        this.#acksOwed[source]!++;
        this.#markDirty(source);
      }
      return;
    }
    const tracked = (flags & kFlagTracked) !== 0;
    const scope = tracked ? new Scope((done) => this.#sendDone(source, id, entry.name, done.error)) : undefined;
    let result: unknown;
    try {
      result = scope === undefined ? runOutsideScope(entry.handler, ctx, arg) : runInScope(scope, () => entry.handler(ctx, arg));
    } catch (error) {
      this.#completeRequest(source, flags, amId, entry.name, id, undefined, false, error, scope);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (value) => this.#completeRequest(source, flags, amId, entry.name, id, value, true, undefined, scope),
        (error: unknown) => this.#completeRequest(source, flags, amId, entry.name, id, undefined, false, error ?? new Error("rejected"), scope),
      );
    } else {
      this.#completeRequest(source, flags, amId, entry.name, id, result, true, undefined, scope);
    }
  }

  #completeRequest(
    source: number, flags: number, amId: number, name: string, id: number,
    value: unknown, ok: boolean, error: unknown, scope: Scope | undefined,
  ): void {
    const writer = this.#writers[source]!;
    if ((flags & kFlagReplyWanted) !== 0) {
      if (ok) {
        const mark = writer.mark();
        writer.header(MessageKind.Reply, 0, 0, id);
        try {
          writer.value(value);
          writer.complete();
        } catch (encodeError) {
          writer.rollback(mark);
          ok = false;
          error = encodeError;
        }
      }
      if (!ok) this.#writeFailure(writer, 0, amId, id, this.#errorInfo(error, name));
    } else if (!ok && scope === undefined) {
      this.#writeFailure(writer, kFlagForSend, amId, 0, this.#errorInfo(error, name));
    } else if (scope === undefined) {
      this.#acksOwed[source]!++;
    }
    this.#markDirty(source);
    if (scope !== undefined) scope.bodyFinished(ok ? undefined : remoteErrorFrom(this.#errorInfo(error, name)));
    this.kick();
  }

  #writeFailure(writer: FrameWriter, flags: number, amId: number, id: number, info: ErrorInfo): void {
    writer.header(MessageKind.Failure, flags, amId, id);
    writer.value(info);
    writer.complete();
  }

  #sendDone(dest: number, id: number, name: string, error: unknown): void {
    const writer = this.#writers[dest]!;
    writer.header(MessageKind.Done, error === undefined ? 0 : kFlagError, 0, id);
    if (error !== undefined) writer.value(this.#errorInfo(error, name));
    writer.complete();
    this.#markDirty(dest);
    this.kick();
  }

  #errorInfo(error: unknown, name: string): ErrorInfo {
    if (error instanceof RemoteError) {
      return { name: error.remoteName, message: error.remoteMessage, stack: error.remoteStack, pe: error.pe, am: error.am };
    }
    const e = toError(error);
    return { name: e.name, message: e.message, stack: e.stack ?? `${e.name}: ${e.message}`, pe: this.pe, am: name };
  }

  #onReply(id: number, value: unknown): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    this.counters.repliesReceived++;
    const resolve = pending.resolve!;
    pending.replied = true;
    if (pending.scope === undefined) this.#pending.close(pending);
    resolve(value);
  }

  /** A reply or failure for `pending` arrived: reject it, and free it unless a DONE is still due. */
  #rejectPending(pending: PendingRequest, error: unknown): void {
    const reject = pending.reject!;
    pending.replied = true;
    if (pending.scope === undefined) this.#pending.close(pending);
    reject(error);
  }

  /**
   * A reply whose value cannot be decoded (a malformed frame): reject that request. The rest of
   * the frame cannot be located safely, so it is dropped, which is reported.
   */
  #onUnreadable(id: number, source: number, error: unknown): void {
    const pending = this.#pending.get(id);
    process.emitWarning(`shoal: PE ${this.pe} could not read a reply from PE ${source}: ${toError(error).message}; the rest of that frame was dropped`);
    if (pending !== undefined) this.#rejectPending(pending, error);
  }

  #onFailure(flags: number, id: number, info: ErrorInfo): void {
    const error = remoteErrorFrom(info);
    if ((flags & kFlagForSend) !== 0) {
      this.#outstandingSends--;
      if (this.#sendFailure === undefined) this.#sendFailure = error;
      return;
    }
    const pending = this.#pending.get(id);
    if (pending !== undefined) this.#rejectPending(pending, error);
  }

  #onDone(id: number, error: RemoteError | undefined): void {
    const pending = this.#pending.get(id);
    if (pending === undefined) return;
    const scope = pending.scope!;
    this.#pending.close(pending);
    scope.childDone(error);
  }

  // ---------------------------------------------------------------- waiting

  /**
   * Resolves once `check()` is true; the progress loop checks it each step. A `quiet` waiter does
   * not set a sleeping loop polling: whoever makes `check()` true rings this PE's doorbell (as the
   * collectives' shared-memory level does for a member that says it waits).
   */
  waitUntil(check: () => boolean, quiet = false): Promise<void> {
    if (this.#failure !== undefined) return Promise.reject(this.#failure);
    if (check()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      this.#waiters.push({ check, resolve, reject });
      if (!quiet || (!this.#scheduled && !this.#sleeping)) this.kick();
    });
  }

  /** Resolves when every request this PE sent has completed; rejects with the first failure of a fire-and-forget one. */
  async waitAll(): Promise<void> {
    await this.waitUntil(() => this.#pending.size === 0 && this.#outstandingSends === 0);
    const failure = this.#sendFailure;
    if (failure !== undefined) {
      this.#sendFailure = undefined;
      throw failure;
    }
  }

  /** Runs `body` as the root of a finish scope; resolves when it and everything it spawned completed. */
  async finish<T>(body: () => T | Promise<T>): Promise<T> {
    this.#throwIfFailed();
    let complete!: () => void;
    const completed = new Promise<void>((resolve) => {
      complete = resolve;
    });
    const scope = new Scope(() => complete());
    let value: T | undefined;
    try {
      value = await runInScope(scope, body);
      scope.bodyFinished(undefined);
    } catch (error) {
      scope.bodyFinished(error);
    }
    this.kick();
    await Promise.race([completed, this.waitUntil(() => scope.bodyDone && scope.pending === 0)]);
    if (scope.error !== undefined) throw scope.error;
    return value as T;
  }

  #checkWaiters(): void {
    const waiters = this.#waiters;
    for (let i = 0; i < waiters.length; ) {
      const waiter = waiters[i]!;
      if (waiter.check()) {
        waiters[i] = waiters[waiters.length - 1]!;
        waiters.pop();
        waiter.resolve();
      } else {
        i++;
      }
    }
  }

  // ---------------------------------------------------------------- progress

  /** Makes sure a progress step will run soon (wakes the PE if it sleeps). */
  kick(): void {
    if (this.#stopped) return;
    if (this.#sleeping) {
      // Ring our own doorbell so the pending waitAsync settles instead of piling up; this PE is
      // about to send or wait for something, so the loop polls again for a while.
      this.#spinOnWake = true;
      this.#sleeping = false;
      this.transport.endSleep();
      this.transport.wake(this.pe);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      microtask(this.#step);
    }
  }

  readonly #step = (): void => {
    // #scheduled stays true while the step runs: kicks from handlers need no second step; #next
    // decides what comes after this one.
    if (this.#stopped) {
      this.#scheduled = false;
      return;
    }
    this.counters.steps++;
    try {
      if (this.#dirtyCount > 0) this.#flushAll();
      let received = this.#open ? this.transport.poll(this.#onFrame, kPollLimit) : 0;
      if (received === 0 && this.#open) {
        const transport = this.transport;
        for (let i = 0; i < kPollsPerStep; i++) {
          if (transport.hasWork()) {
            received = transport.poll(this.#onFrame, kPollLimit);
            break;
          }
        }
      }
      if (this.#dirtyCount > 0) this.#flushAll();
      if (this.#waiters.length > 0) this.#checkWaiters();
      this.#next(received > 0);
    } catch (error) {
      this.#scheduled = false;
      if (error instanceof PeFailureError) {
        this.#abort();
        return;
      }
      throw error;
    }
  };

  #next(received: boolean): void {
    // The clock is read only after a run of empty steps, or every kStepsPerSliceCheck busy ones.
    if (received) {
      this.#sawFrame = true;
      this.#emptyPolls = 0;
      if (++this.#busySteps < kStepsPerSliceCheck) {
        microtask(this.#step);
        return;
      }
    } else if (++this.#emptyPolls < kPollsPerClockRead) {
      microtask(this.#step);
      return;
    }
    this.#emptyPolls = 0;
    this.#busySteps = 0;
    if (this.#failure === undefined && this.transport.failedPe() >= 0) {
      this.#scheduled = false;
      this.#abort();
      return;
    }
    const now = performance.now();
    if (this.#sawFrame) {
      this.#lastFrameAt = now;
      this.#sawFrame = false;
    }
    if (received || now - this.#lastFrameAt <= this.#spinMs || this.#dirtyCount > 0) {
      if (now - this.#sliceStart < kSliceMs) {
        microtask(this.#step);
      } else {
        this.#sliceStart = now;
        setImmediate(this.#step);
      }
      return;
    }
    this.#sleep();
  }

  #sleep(): void {
    const sleep = this.transport.sleep(0x7fffffff);
    if (sleep === null) {
      // A frame came in meanwhile (or waits for open()): poll again after the event loop's turn.
      setImmediate(this.#step);
      return;
    }
    // The doorbell was read by transport.sleep(); a barrier released (and the doorbells rung)
    // after this step checked its waiters would otherwise be slept through.
    if (this.#waiters.length > 0 && this.#waiters.some((waiter) => waiter.check())) {
      this.transport.endSleep();
      setImmediate(this.#step);
      return;
    }
    this.#scheduled = false;
    this.counters.sleeps++;
    this.#sleeping = true;
    void sleep.then(this.#wake);
  }

  readonly #wake = (): void => {
    if (!this.#sleeping) return;
    if (this.transport.failedPe() >= 0) {
      this.#sleeping = false;
      this.#abort();
      return;
    }
    this.#sleeping = false;
    this.transport.endSleep();
    const now = performance.now();
    // A wake by this PE's own kick polls for a while (a reply or a barrier is near); a ring from
    // elsewhere polls only if it brought frames (they keep the loop polling themselves).
    if (this.#spinOnWake) this.#lastFrameAt = now;
    this.#spinOnWake = false;
    this.#sliceStart = now;
    if (!this.#scheduled) {
      this.#scheduled = true;
      this.#step();
    }
  };

  /** Another PE failed: reject everything pending here. */
  #abort(): void {
    const failed = this.transport.failedPe();
    this.#failure = new PeFailureError(failed, `see the report of PE ${failed} (this is PE ${this.pe})`);
    const failure = this.#failure;
    for (const pending of [...this.#pending.values()]) {
      const { reject, scope } = pending;
      this.#pending.close(pending);
      reject?.(failure);
      scope?.childDone(failure);
    }
    // A waiter whose condition already holds (a barrier every PE passed) completed before the
    // failure: resolve it rather than blame it on the failure.
    for (const waiter of this.#waiters.splice(0)) {
      if (waiter.check()) waiter.resolve();
      else waiter.reject(failure);
    }
    this.#stopped = true;
  }

  /**
   * Throws once the job is failing. The abort flag itself is read by the progress loop (and by a
   * send that has to wait for room), not on every call: a call made in the same synchronous run
   * as another PE's failure is rejected a few microseconds later instead.
   */
  #throwIfFailed(): void {
    if (this.#failure !== undefined) throw this.#failure;
  }

  /**
   * Starts handling incoming frames. Until then they wait in the ring: a handler must not run
   * before the program's own `await init()` has returned and its next statements have run (an
   * activity may use the program's `world`), so `init` opens the engine one event-loop turn after
   * it resolves.
   */
  open(): void {
    this.#open = true;
    this.kick();
  }

  /** Stops the progress loop for good (after the final barrier). */
  stop(): void {
    this.#flushAll();
    this.#stopped = true;
    this.transport.close();
    if (this.#sleeping) {
      this.#sleeping = false;
      this.transport.endSleep();
    }
  }
}

/**
 * One shared promise executor: `new Promise(capture)` leaves the resolvers in `captured`, so a
 * request allocates no closure.
 */
const captured: { resolve: (value: unknown) => void; reject: (reason: unknown) => void } = {
  resolve: () => undefined,
  reject: () => undefined,
};
function capture(resolve: (value: unknown) => void, reject: (reason: unknown) => void): void {
  captured.resolve = resolve;
  captured.reject = reject;
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { then?: unknown }).then === "function";
}

function remoteErrorFrom(info: ErrorInfo): RemoteError {
  return new RemoteError(info.pe, info.am, info.name, info.message, info.stack);
}
