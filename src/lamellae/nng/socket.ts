/**
 * {@link NngSocket}: messages between processes over NNG (`ipc://` on one host, `tcp://` across
 * hosts), one connection ("pipe") per peer, addressed by pipe id. The IO worker builds the
 * multi-process transport on it.
 *
 * Why not NNG's pair1 protocol in polyamorous mode: in libnng 1.5.2 (Debian bookworm) a poly
 * socket silently drops a message whenever the chosen pipe's 2-message queue is full (measured:
 * 1343 of 2000 messages of 100 kB arrived, every send reported success), and the mode is
 * deprecated upstream. A transport needs every message, in order, with back-pressure. So the
 * addon uses NNG's stream API (the same ipc and tcp transports, dialers and listeners, without
 * the SP protocol layer) and frames messages itself with a 4-byte length: one connection per
 * process pair, TCP or Unix-socket flow control all the way, and a disconnect seen the moment
 * the peer's kernel closes its end (a killed process included). See native/nng/README.md.
 *
 * Threads: NNG's threads read and write; the JavaScript thread is woken once per batch of
 * received messages and events, so it never blocks and a burst costs one callback. Works in any
 * thread (the addon is context-aware): the IO worker is a `worker_thread`.
 *
 * @module
 */
import { ConfigError, ShoalTypeError, TransportError, describeValue } from "../../errors.js";
import { describeNngError, kNngError, kNngItem, kNngItemWords, loadNng, type NativeNngSocket, type NngBinding } from "./binding.js";

/** What happened to a pipe (a connection to one peer), as {@link NngSocketOptions.onPipeEvent} receives it. */
export type NngPipeEvent =
  /** A peer connected: it dialed this socket (`dialed: false`), or {@link NngSocket.dial} did. */
  | { readonly kind: "connected"; readonly pipe: number; readonly dialed: boolean }
  /**
   * The pipe is gone: the peer closed it or its process died (`code` is NNG's error, for example
   * 31 `NNG_ECONNSHUT`), a message was too large (17 `NNG_EMSGSIZE`), or this side closed it
   * (`code` 0). Every connected pipe ends with exactly one such event.
   */
  | { readonly kind: "disconnected"; readonly pipe: number; readonly code: number; readonly reason: string }
  /** Everything queued on the pipe has been written, after a {@link NngSocket.send} that returned false, or a flush. */
  | { readonly kind: "drained"; readonly pipe: number };

/** Options of {@link NngSocket}. */
export interface NngSocketOptions {
  /**
   * Called for every message received, in the order each peer sent them. `bytes` is a view that
   * starts at an 8-byte-aligned offset of its `ArrayBuffer`; small messages of one batch share
   * one buffer, a message of 64 KiB or more has its own. Keep or transfer them freely. `direct`:
   * the peer sent it on a PE's direct lane (see direct.ts) and no PE's sink took it.
   */
  readonly onMessage: (pipe: number, bytes: Uint8Array, direct: boolean) => void;
  /** Called when a pipe connects, disconnects or drains. */
  readonly onPipeEvent?: (event: NngPipeEvent) => void;
  /**
   * Called with what `onMessage` or `onPipeEvent` threw; delivery goes on with the next message.
   * Without it the error is rethrown outside the socket (an uncaught exception, as from an
   * event listener).
   */
  readonly onError?: (error: unknown) => void;
  /** The largest message this socket sends or accepts, in bytes; a peer that sends a larger one is disconnected. Default 256 MiB; at most 2^32 - 1. */
  readonly maxMessageBytes?: number;
  /** Bytes queued on one pipe above which {@link NngSocket.send} returns false (it still queues). Default 8 MiB. */
  readonly sendBufferBytes?: number;
  /** Bytes received and not yet handed to `onMessage` above which the socket stops reading (the peer's sends then wait). Default 8 MiB. */
  readonly receiveBufferBytes?: number;
  /** Path of the addon, for tests; default `SHOAL_NNG_ADDON` or the package's build. */
  readonly addonPath?: string;
}

/** Options of {@link NngSocket.dial}. */
export interface NngDialOptions {
  /** How long to keep trying while nobody listens at the address yet, in ms. Default 10 000. */
  readonly timeoutMs?: number;
}

/** The defaults of {@link NngSocketOptions}. @internal */
export const kDefaultNngSocketOptions = {
  maxMessageBytes: 256 * 1024 * 1024,
  sendBufferBytes: 8 * 1024 * 1024,
  receiveBufferBytes: 8 * 1024 * 1024,
  dialTimeoutMs: 10_000,
} as const;

const kMaxFrameBytes = 0xffff_ffff;

/** Dial errors that mean "nobody listens there yet": worth another try. */
const kRetryableDial = new Set<number>([kNngError.ECONNREFUSED, kNngError.ENOENT, kNngError.ETIMEDOUT, kNngError.ECONNRESET]);

function sizeOption(name: string, value: number | undefined, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isSafeInteger(value) || value < 0 || value > max) {
    throw new ConfigError(`NngSocket: ${name}: expected an integer from 0 to ${max}, got ${describeValue(value)}`);
  }
  return value;
}

interface FlushWaiter {
  readonly pipes: Set<number>;
  resolve(): void;
  reject(error: Error): void;
}

/**
 * A socket of the multi-process transport: it listens and dials over NNG (`ipc://`, `tcp://`),
 * keeps one pipe per peer, sends bytes to a pipe, and hands received bytes and pipe events to
 * callbacks on this thread, in batches.
 *
 * The socket keeps the event loop alive while it listens, dials or has a pipe, like a
 * `net.Socket`; `unref()` lets the process exit anyway. `close()` ends everything at once and no
 * callback runs after it; use `await flush()` first to let queued messages leave. Throws a
 * {@link TransportError} when the addon is unavailable (see {@link loadNng}).
 *
 * @example
 * ```ts
 * const server = new NngSocket({ onMessage: (pipe, bytes) => server.send(pipe, bytes) }); // echo
 * const url = server.listen("tcp://127.0.0.1:0");  // "tcp://127.0.0.1:40123"
 * const client = new NngSocket({ onMessage: (_pipe, bytes) => console.log(bytes) });
 * const pipe = await client.dial(url);
 * client.send(pipe, new Float64Array([1, 2, 3]));
 * ```
 * @internal
 */
export class NngSocket {
  readonly #binding: NngBinding;
  readonly #native: NativeNngSocket;
  readonly #onMessage: (pipe: number, bytes: Uint8Array, direct: boolean) => void;
  readonly #onPipeEvent: ((event: NngPipeEvent) => void) | undefined;
  readonly #onError: ((error: unknown) => void) | undefined;
  readonly #maxMessageBytes: number;
  readonly #sendBufferBytes: number;
  readonly #pipes = new Set<number>();
  readonly #dials = new Map<number, (result: { pipe: number } | { code: number }) => void>();
  readonly #flushes = new Set<FlushWaiter>();
  #nextDial = 1;
  #dialing = 0;
  #listeners = 0;
  #wantRef = true;
  #refed = false;
  #closed = false;

  constructor(options: NngSocketOptions) {
    if (typeof options?.onMessage !== "function") {
      throw new ShoalTypeError(`NngSocket: expected options.onMessage to be a function, got ${describeValue(options?.onMessage)}`);
    }
    this.#maxMessageBytes = sizeOption("maxMessageBytes", options.maxMessageBytes, kDefaultNngSocketOptions.maxMessageBytes, kMaxFrameBytes);
    this.#sendBufferBytes = sizeOption("sendBufferBytes", options.sendBufferBytes, kDefaultNngSocketOptions.sendBufferBytes, Number.MAX_SAFE_INTEGER);
    const receiveBufferBytes = sizeOption("receiveBufferBytes", options.receiveBufferBytes, kDefaultNngSocketOptions.receiveBufferBytes, Number.MAX_SAFE_INTEGER);
    const binding = loadNng(options.addonPath);
    if (binding instanceof TransportError) throw binding;
    this.#binding = binding;
    this.#onMessage = options.onMessage;
    this.#onPipeEvent = options.onPipeEvent;
    this.#onError = options.onError;
    this.#native = new binding.Socket((items, buffers) => this.#onBatch(items, buffers), this.#maxMessageBytes, this.#sendBufferBytes, receiveBufferBytes);
  }

  /** Whether {@link close} has been called. */
  get closed(): boolean {
    return this.#closed;
  }

  /** The pipes connected now. */
  get pipes(): ReadonlySet<number> {
    return this.#pipes;
  }

  /**
   * Listens at `url` (`ipc:///path` or `tcp://host:port`; port 0 picks a free one) and returns
   * the address peers can dial: for `tcp://host:0`, the port that was bound. A socket may listen
   * at several addresses. Throws a {@link TransportError} with NNG's reason.
   */
  listen(url: string): string {
    this.#checkOpen("listen");
    const port = this.#native.listen(url);
    if (port < 0) {
      const hint = -port === kNngError.EADDRINUSE && url.startsWith("ipc://") ? "; another socket listens there (a file left by a process that died is replaced: NNG checks that nobody answers)" : "";
      throw new TransportError(`NngSocket.listen ${url}: ${describeNngError(this.#binding, -port)}${hint}`);
    }
    this.#listeners++;
    this.#updateRef();
    return port > 0 ? url.replace(/:\d+$/, `:${port}`) : url;
  }

  /**
   * Connects to a socket listening at `url` and resolves to the new pipe. While nobody listens
   * there yet (connection refused, no socket file), it tries again until `timeoutMs`. Rejects
   * with a {@link TransportError} with NNG's reason and the URL.
   */
  async dial(url: string, options: NngDialOptions = {}): Promise<number> {
    this.#checkOpen("dial");
    const timeoutMs = sizeOption("timeoutMs", options.timeoutMs, kDefaultNngSocketOptions.dialTimeoutMs, 2 ** 31 - 1);
    const deadline = performance.now() + timeoutMs;
    let pause = 5;
    let tries = 0;
    this.#dialing++;
    this.#updateRef();
    try {
      for (;;) {
        tries++;
        const result = await this.#dialOnce(url, Math.max(1, Math.ceil(deadline - performance.now())));
        if ("pipe" in result) return result.pipe;
        const retry = kRetryableDial.has(result.code);
        if (this.#closed || !retry || performance.now() + pause >= deadline) {
          const after = retry ? ` (${tries} tries in ${timeoutMs} ms: is the peer listening?)` : "";
          throw new TransportError(`NngSocket.dial ${url}: ${this.#closed ? "the socket was closed" : describeNngError(this.#binding, result.code)}${after}`);
        }
        await new Promise((resolve) => setTimeout(resolve, pause));
        pause = Math.min(pause * 2, 100);
      }
    } finally {
      this.#dialing--;
      this.#updateRef();
    }
  }

  /**
   * Queues a copy of `bytes` (any typed array, `DataView` or `ArrayBuffer`) to `pipe` and returns
   * at once; messages to one pipe arrive in order. Returns false when the pipe's queue holds
   * `sendBufferBytes` or more: the message is queued all the same, and a `drained` event follows
   * when the queue is empty. Throws a {@link TransportError} after close, for a pipe that is not
   * connected, or for a message over `maxMessageBytes`.
   */
  send(pipe: number, bytes: ArrayBufferView | ArrayBuffer): boolean {
    if (!ArrayBuffer.isView(bytes) && !(bytes instanceof ArrayBuffer)) {
      throw new ShoalTypeError(`NngSocket.send: expected a typed array, DataView or ArrayBuffer, got ${describeValue(bytes)}`);
    }
    this.#checkOpen("send");
    const queued = this.#native.send(pipe, bytes);
    if (queued >= 0) return queued < this.#sendBufferBytes;
    switch (-queued) {
      case kNngError.ENOENT:
        throw new TransportError(`NngSocket.send: no pipe ${pipe}: it disconnected, was closed, or never existed`);
      case kNngError.EMSGSIZE:
        throw new TransportError(`NngSocket.send: expected a message of at most ${this.#maxMessageBytes} bytes (maxMessageBytes), got ${bytes.byteLength}; cut it, or raise maxMessageBytes on both sides`);
      default:
        throw new TransportError(`NngSocket.send to pipe ${pipe}: ${describeNngError(this.#binding, -queued)}`);
    }
  }

  /**
   * Delivers, now and on this stack, what has arrived: messages and pipe events go to the same
   * callbacks as always. Returns how many were delivered (0 from inside a callback). For a thread
   * that polls while it expects traffic (spin, then sleep) instead of waiting for the event loop
   * to wake it, which saves a thread wake-up per message; whatever is not polled still arrives
   * through the event loop.
   *
   * @example
   * ```ts
   * const until = performance.now() + 0.05; // spin for 50 µs, then let the event loop wait
   * while (performance.now() < until && !replied) socket.poll();
   * ```
   */
  poll(): number {
    return this.#closed ? 0 : this.#native.poll();
  }

  /**
   * Makes this socket the process's one for PEs' direct sends (see direct.ts): they may send to
   * process `rank` on `pipe` (0: no longer), and what `pipe`'s peer sends on a direct lane may go
   * straight to the destination PE's sink. For authenticated pipes only. Returns false when
   * another socket of the process is the shared one.
   * @internal
   */
  share(rank: number, pipe: number): boolean {
    this.#checkOpen("share");
    return this.#native.share(rank, pipe);
  }

  /**
   * Tells the PEs' direct sends that the IO worker has handed to the connections the first
   * `count` records (modulo 2^32) that local PE `localPe` gave it.
   * @internal
   */
  handed(localPe: number, count: number): void {
    if (!this.#closed) this.#native.handed(localPe, count);
  }

  /**
   * Sends `frame[0..length)` behind the stream entry header `entry` as one direct message (see
   * direct.ts): the IO worker's own answers, which the receiving socket may hand straight to the
   * destination PE. Returns false when the pipe's queue is full, as {@link send}.
   * @internal
   */
  sendDirect(pipe: number, entry: Uint8Array, frame: Uint8Array, length: number): boolean {
    this.#checkOpen("sendDirect");
    const queued = this.#native.sendDirect(pipe, entry, frame, length);
    if (queued >= 0) return queued < this.#sendBufferBytes;
    throw new TransportError(`NngSocket.sendDirect to pipe ${pipe}: ${describeNngError(this.#binding, -queued)}`);
  }

  /** Resolves when everything queued so far on every pipe has been written (or its pipe closed). */
  flush(): Promise<void> {
    if (this.#closed) return Promise.reject(new TransportError("NngSocket.flush: the socket is closed"));
    const pipes = new Set([...this.#pipes].filter((pipe) => this.#native.flush(pipe)));
    if (pipes.size === 0) return Promise.resolve();
    return new Promise((resolve, reject) => this.#flushes.add({ pipes, resolve, reject }));
  }

  /**
   * Closes one pipe at once (dropping what is still queued on it), for example a peer that did
   * not authenticate. Its `disconnected` event (code 0) follows. Returns false if it was not open.
   */
  closePipe(pipe: number): boolean {
    return !this.#closed && this.#native.closePipe(pipe);
  }

  /** Lets the event loop end while this socket is open (see the class). */
  unref(): this {
    this.#wantRef = false;
    this.#updateRef();
    return this;
  }

  /** Undoes {@link unref}. */
  ref(): this {
    this.#wantRef = true;
    this.#updateRef();
    return this;
  }

  /**
   * Closes every pipe and listener now; what is still queued is dropped (`await flush()` first to
   * avoid that). Pending dials and flushes reject. No callback runs after it. Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#native.close();
    this.#refed = false;
    this.#pipes.clear();
    for (const settle of this.#dials.values()) settle({ code: kNngError.ECLOSED });
    this.#dials.clear();
    const error = new TransportError("NngSocket.flush: the socket was closed before its queues were written");
    for (const waiter of this.#flushes) waiter.reject(error);
    this.#flushes.clear();
  }

  #checkOpen(call: string): void {
    if (this.#closed) throw new TransportError(`NngSocket.${call}: the socket is closed`);
  }

  #dialOnce(url: string, timeoutMs: number): Promise<{ pipe: number } | { code: number }> {
    const request = this.#nextDial++;
    const started = this.#native.dial(url, request, timeoutMs);
    if (started < 0) return Promise.resolve({ code: -started });
    return new Promise((resolve) => this.#dials.set(request, resolve));
  }

  #updateRef(): void {
    const want = !this.#closed && this.#wantRef && (this.#listeners > 0 || this.#dialing > 0 || this.#pipes.size > 0);
    if (want !== this.#refed) {
      this.#refed = want;
      this.#native.ref(want);
    }
  }

  #report(error: unknown): void {
    if (this.#onError === undefined) {
      queueMicrotask(() => {
        throw error;
      });
      return;
    }
    try {
      this.#onError(error);
    } catch (thrown) {
      queueMicrotask(() => {
        throw thrown;
      });
    }
  }

  #emit(event: NngPipeEvent): void {
    if (this.#onPipeEvent === undefined) return;
    try {
      this.#onPipeEvent(event);
    } catch (error) {
      this.#report(error);
    }
  }

  #settleFlushes(pipe: number): void {
    for (const waiter of this.#flushes) {
      if (waiter.pipes.delete(pipe) && waiter.pipes.size === 0) {
        this.#flushes.delete(waiter);
        waiter.resolve();
      }
    }
  }

  /** One batch from the addon (layout in binding.ts). */
  #onBatch(items: Uint32Array, buffers: ArrayBuffer[]): void {
    for (let i = 0; i < items.length && !this.#closed; i += kNngItemWords) {
      const pipe = items[i + 1]!;
      switch (items[i]) {
        case kNngItem.message:
        case kNngItem.direct:
          try {
            this.#onMessage(pipe, new Uint8Array(buffers[items[i + 2]!]!, items[i + 3]!, items[i + 4]!), items[i] === kNngItem.direct);
          } catch (error) {
            this.#report(error);
          }
          break;
        case kNngItem.connected: {
          this.#pipes.add(pipe);
          this.#updateRef();
          this.#emit({ kind: "connected", pipe, dialed: items[i + 2] === 1 });
          const settle = this.#dials.get(items[i + 3]!);
          this.#dials.delete(items[i + 3]!);
          settle?.({ pipe });
          break;
        }
        case kNngItem.disconnected: {
          const code = items[i + 2]!;
          this.#pipes.delete(pipe);
          this.#updateRef();
          this.#settleFlushes(pipe);
          this.#emit({ kind: "disconnected", pipe, code, reason: this.#disconnectReason(code) });
          break;
        }
        case kNngItem.drained:
          this.#settleFlushes(pipe);
          this.#emit({ kind: "drained", pipe });
          break;
        case kNngItem.dialFailed: {
          const settle = this.#dials.get(items[i + 2]!);
          this.#dials.delete(items[i + 2]!);
          settle?.({ code: items[i + 3]! });
          break;
        }
      }
    }
  }

  #disconnectReason(code: number): string {
    switch (code) {
      case 0:
        return "closed by this side";
      case kNngError.ECONNSHUT:
        return `the peer closed the connection, or its process ended: ${describeNngError(this.#binding, code)}`;
      case kNngError.EMSGSIZE:
        return `the peer sent a message larger than maxMessageBytes (${this.#maxMessageBytes}): ${describeNngError(this.#binding, code)}`;
      default:
        return describeNngError(this.#binding, code);
    }
  }
}
