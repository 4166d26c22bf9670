/**
 * {@link connectMesh}: the connections of a multi-process job, one authenticated {@link NngSocket}
 * pipe per pair of processes ("ranks").
 *
 * **Bootstrap.** Rank 0 listens at the job's root address (`SHOAL_ROOT`, given by the launcher).
 * Ranks 1..size-2 listen at their own address (`listen`); the last rank does not listen at all,
 * since nobody dials it. Every rank r > 0 dials root, authenticates, and sends its listen address
 * (ADDR); once every rank has, root sends everyone the address table (TABLE). Rank r then keeps
 * its root pipe as its link to rank 0 and dials ranks 1..r-1. A rank is ready when it has a link
 * to every other rank. After that, every new connection is refused at once: a job's mesh never
 * grows.
 *
 * **Authentication** is a challenge-response with HMAC-SHA256 keyed by the job token, both ways,
 * so the token never travels and neither side sends anything but a nonce and a MAC to a peer that
 * has not proved it holds the token:
 *
 * ```
 * listener                                   dialer
 *   CHALLENGE {listener rank, nonce L}   ->
 *                                        <-  HELLO   {dialer rank, nonce D, HMAC(token, HELLO[0..32] ‖ L)}
 *   WELCOME {listener rank, nonce, HMAC(token, WELCOME[0..32] ‖ D)}  ->
 * ```
 *
 * Each of the three is one 64-byte handshake record (all integers little-endian):
 *
 * | offset | bytes | field |
 * |---|---|---|
 * | 0 | 4 | magic `"SHML"` |
 * | 4 | 1 | version, 1 |
 * | 5 | 1 | kind: 1 CHALLENGE, 2 HELLO, 3 WELCOME |
 * | 6 | 2 | 0 |
 * | 8 | 4 | the sender's rank |
 * | 12 | 4 | the job's size |
 * | 16 | 16 | the sender's fresh random nonce |
 * | 32 | 32 | HMAC-SHA256(token, bytes 0..31 ‖ the peer's nonce); zeros in a CHALLENGE |
 *
 * The MAC covers kind, rank and size, so a record cannot be replayed in another role, for another
 * rank, or into another job. A pipe's first message must be the expected record: anything else
 * (another size, garbage, a bad MAC, a message before the CHALLENGE, a second CHALLENGE) closes the
 * pipe with {@link NngSocket.closePipe} before anything is decoded, and counts in
 * {@link Mesh.rejected}; so does a pipe that says nothing for `timeoutMs`. A correct MAC with a
 * rank that cannot be (out of range, twice, or one this rank does not expect) is a misconfigured
 * job, not an intruder: the mesh fails with a {@link TransportError}.
 *
 * After authentication, on the link between rank r and root only, r's first message is ADDR and
 * root's first message is TABLE:
 *
 * ```
 * ADDR   0: magic "SHML"  4: version  5: kind 4  6: 0 (2 bytes)  8: rank u32   12: the listen address, UTF-8 (empty: none)
 * TABLE  0: magic "SHML"  4: version  5: kind 5  6: 0 (2 bytes)  8: size u32   12: size × { u32 byte length, UTF-8 address }
 * ABORT  0: magic "SHML"  4: version  5: kind 6  6: 0 (2 bytes)  8: 0 u32       12: why, UTF-8
 * ```
 *
 * Root sends ABORT instead of TABLE when it gives up (a rank never said hello, or a misconfigured
 * one did), so every rank fails with root's reason; a rank that is connected to root waits for
 * it up to 2 s past `timeoutMs`.
 *
 * Everything else on an authenticated pipe is the user's: {@link Mesh.send} bytes arrive at
 * {@link MeshOptions.onMessage} as they were, in order per pair.
 *
 * @module
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

import { ConfigError, ShoalRangeError, ShoalTypeError, TransportError, describeValue } from "../../errors.js";
import { NngSocket, type NngPipeEvent } from "./socket.js";

/** Bytes of every handshake record (CHALLENGE, HELLO, WELCOME). @internal */
export const kMeshHandshakeBytes = 64;

/** The shortest job token accepted, in bytes (`SHOAL_JOB_TOKEN` has the same bound). */
const kMinTokenBytes = 16;

/** Record kinds of the mesh protocol (see the module's table). @internal */
export const kMeshRecord = {
  challenge: 1,
  hello: 2,
  welcome: 3,
  address: 4,
  table: 5,
  abort: 6,
} as const;

/**
 * How much longer than `timeoutMs` a rank that is connected to root waits for the table: root
 * knows which ranks are missing and says so (ABORT), so its verdict should come first.
 */
const kRootVerdictGraceMs = 2000;

/** How long a failing root tries to get its ABORT out before it closes, in ms. */
const kAbortFlushMs = 500;

const kMagic = 0x4c4d4853; // "SHML" little-endian
const kVersion = 1;
const kHeaderBytes = 12;
const kNonceBytes = 16;
const kMacOffset = 32;

/** Options of {@link connectMesh}. */
export interface MeshOptions {
  /** This process's rank, in `0..size-1` (from the launcher: `readPlacement`). */
  readonly rank: number;
  /** The number of processes of the job. */
  readonly size: number;
  /** Where rank 0 listens: `ipc:///path` or `tcp://host:port` (`SHOAL_ROOT`); `tcp://host:0` on rank 0 picks a port, which {@link MeshOptions.onListening} reports. */
  readonly root: string;
  /** The job's secret (`SHOAL_JOB_TOKEN`, or one the launcher generated), at least 16 bytes. */
  readonly token: string | Uint8Array;
  /**
   * Where this rank listens for ranks above it, for ranks 1..size-2: `ipc:///tmp/shoal-JOB-RANK`,
   * or `tcp://HOST:0` for a free port on the host's address. Rank 0 listens at `root` only, and
   * the last rank listens nowhere, so both ignore it.
   */
  readonly listen?: string;
  /** How long to wait for every other rank to connect, in ms (`SHOAL_CONNECT_TIMEOUT_MS`). */
  readonly timeoutMs: number;
  /**
   * Called with every message from another rank, in the order that rank sent them. Messages may
   * arrive before `connectMesh` resolves on this rank (another rank may be ready first).
   * `direct`: it came on a PE's direct lane (one whole stream entry, see direct.ts), and no PE's
   * sink took it.
   */
  readonly onMessage: (rank: number, bytes: Uint8Array, direct: boolean) => void;
  /** Called once the mesh has formed, when the connection to a rank drops: it closed, or its process died. */
  readonly onLost: (rank: number, reason: string) => void;
  /** Called with each address this rank listens at, as bound (with the port a `tcp://…:0` picked). */
  readonly onListening?: (address: string) => void;
  /** Called when everything queued to `rank` has been written, after a {@link Mesh.send} to it returned false. */
  readonly onDrained?: (rank: number) => void;
  /** Path of the NNG addon to load, for tests (as `NngSocketOptions.addonPath`). @internal */
  readonly addonPath?: string;
}

/**
 * The connections of a multi-process job: one authenticated pipe to every other rank.
 *
 * @example
 * ```ts
 * const mesh = await connectMesh({ rank, size, root, token, listen, timeoutMs: 30_000, onMessage, onLost });
 * mesh.send((rank + 1) % size, new TextEncoder().encode("hi"));
 * ```
 */
export interface Mesh {
  /** This process's rank. */
  readonly rank: number;
  /** The number of processes of the job. */
  readonly size: number;
  /** Every rank's listen address (rank 0: the root address; the last rank: empty). */
  readonly addresses: readonly string[];
  /** Connections refused so far: unauthenticated, malformed, or after the mesh formed. */
  readonly rejected: number;
  /**
   * Sends a copy of `bytes` to `rank` (not this one). Returns false when that link's queue is
   * full (the message is queued all the same). Throws a {@link TransportError} when the link is lost.
   */
  send(rank: number, bytes: ArrayBufferView | ArrayBuffer): boolean;
  /**
   * Opens the direct lanes (direct.ts): this process's PEs may send on the mesh's connections
   * from their own threads, and direct messages from the other ranks may go straight to their
   * sinks. Returns false when the process has another mesh that shares them already.
   */
  shareDirect(): boolean;
  /** Tells the direct lanes that the first `count` records of local PE `localPe` are on the connections (see direct.ts). */
  handed(localPe: number, count: number): void;
  /** Sends one stream entry, `entry` then `frame[0..length)`, to `rank` as a direct message (see direct.ts); as {@link send} otherwise. */
  sendDirect(rank: number, entry: Uint8Array, frame: Uint8Array, length: number): boolean;
  /** Resolves when everything sent so far has been written. */
  flush(): Promise<void>;
  /** Closes every connection now (what is still queued is dropped: `await flush()` first). No callback runs after it. */
  close(): void;
}

type LinkPhase =
  /** Dialed, waiting for `dial` to say which rank the pipe is (its messages wait in `pending`). */
  | "dialing"
  /** Dialed: waiting for the CHALLENGE. */
  | "challenge"
  /** Dialed: HELLO sent, waiting for the WELCOME. */
  | "welcome"
  /** Accepted: CHALLENGE sent, waiting for the HELLO. */
  | "hello"
  /** Authenticated. */
  | "ready";

interface Link {
  readonly pipe: number;
  /** Whether this side dialed it (and so must fail the mesh when it does not authenticate). */
  readonly dialed: boolean;
  phase: LinkPhase;
  rank: number;
  /** The nonce this side sent (or will send). */
  readonly nonce: Buffer;
  pending: Uint8Array[];
  timer: ReturnType<typeof setTimeout> | undefined;
}

function checkOptions(options: MeshOptions): Buffer {
  if (typeof options !== "object" || options === null) throw new ShoalTypeError(`connectMesh: expected an options object, got ${describeValue(options)}`);
  const { rank, size, root, token, listen, timeoutMs, onMessage, onLost } = options;
  if (!Number.isSafeInteger(size) || size < 1) throw new ShoalRangeError(`connectMesh: expected size to be an integer of at least 1, got ${describeValue(size)}`);
  if (!Number.isSafeInteger(rank) || rank < 0 || rank >= size) throw new ShoalRangeError(`connectMesh: expected rank to be an integer in 0..${size - 1}, got ${describeValue(rank)}`);
  if (typeof root !== "string" || !/^(ipc|tcp):\/\/./.test(root)) throw new ShoalTypeError(`connectMesh: expected root to be an ipc:// or tcp:// address, got ${describeValue(root)}`);
  if (listen !== undefined && (typeof listen !== "string" || !/^(ipc|tcp):\/\/./.test(listen))) {
    throw new ShoalTypeError(`connectMesh: expected listen to be an ipc:// or tcp:// address, got ${describeValue(listen)}`);
  }
  if (rank > 0 && rank < size - 1 && listen === undefined) throw new ConfigError(`connectMesh: rank ${rank} of ${size} needs a listen address (ranks 1..${size - 2} listen for the ranks above them)`);
  if (!Number.isSafeInteger(timeoutMs) || timeoutMs < 1) throw new ShoalRangeError(`connectMesh: expected timeoutMs to be a positive integer, got ${describeValue(timeoutMs)}`);
  if (typeof onMessage !== "function") throw new ShoalTypeError(`connectMesh: expected onMessage to be a function, got ${describeValue(onMessage)}`);
  if (typeof onLost !== "function") throw new ShoalTypeError(`connectMesh: expected onLost to be a function, got ${describeValue(onLost)}`);
  const key = typeof token === "string" ? Buffer.from(token, "utf8") : token instanceof Uint8Array ? Buffer.from(token) : undefined;
  if (key === undefined) throw new ShoalTypeError(`connectMesh: expected token to be a string or a Uint8Array, got ${describeValue(token)}`);
  if (key.length < kMinTokenBytes) throw new ConfigError(`connectMesh: expected a job token of at least ${kMinTokenBytes} bytes, got ${key.length}; set SHOAL_JOB_TOKEN to a random one (openssl rand -hex 32) or let the launcher generate it`);
  return key;
}

/**
 * Collective: every rank of the job calls it. Connects this process to every other rank of the
 * job, each connection authenticated with the job token (the protocol is in this module's
 * comment), and resolves when this rank has a link to every other. Rejects with a
 * {@link TransportError} naming the ranks and addresses it could not reach within `timeoutMs`, or
 * the reason a peer closed the connection (a different job token, most often); a failed rank
 * closes its socket, so the ranks connected to it fail too instead of waiting.
 *
 * @example
 * ```ts
 * const config = readConfig();
 * const { rank, size } = readPlacement(readLauncherEnv());
 * const mesh = await connectMesh({
 *   rank, size, root: config.root!, token: config.jobToken!, timeoutMs: config.connectTimeoutMs,
 *   listen: `ipc:///tmp/shoal-${jobId}-${rank}`,
 *   onMessage: (from, bytes) => console.log(`${bytes.length} bytes from rank ${from}`),
 *   onLost: (lost, reason) => { console.error(`rank ${lost} is gone: ${reason}`); process.exit(1); },
 * });
 * ```
 */
export function connectMesh(options: MeshOptions): Promise<Mesh> {
  try {
    return new MeshConnection(options, checkOptions(options)).connect();
  } catch (error) {
    return Promise.reject(error); // bad options, or no NNG addon (loadNng's TransportError)
  }
}

function writeHeader(view: DataView, kind: number, word: number): void {
  view.setUint32(0, kMagic, true);
  view.setUint8(4, kVersion);
  view.setUint8(5, kind);
  view.setUint16(6, 0, true);
  view.setUint32(8, word, true);
}

/** Whether `bytes` starts with the header of a `kind` record; returns its word at offset 8, or -1. */
function readHeader(bytes: Uint8Array, kind: number): number {
  if (bytes.length < kHeaderBytes) return -1;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== kMagic || view.getUint8(4) !== kVersion || view.getUint8(5) !== kind || view.getUint16(6, true) !== 0) return -1;
  return view.getUint32(8, true);
}

class MeshConnection implements Mesh {
  readonly rank: number;
  readonly size: number;
  readonly #options: MeshOptions;
  readonly #key: Buffer;
  readonly #deadline: number;
  readonly #links = new Map<number, Link>();
  /** Whether {@link shareDirect} opened the direct lanes. */
  #sharing = false;
  /** The authenticated pipe of each rank. */
  readonly #pipeOf: (number | undefined)[];
  readonly #addresses: string[];
  /** On root: the ranks whose ADDR has come. */
  readonly #addressed = new Set<number>();
  readonly #socket: NngSocket | undefined;
  #rejected = 0;
  #formed = false;
  #failed = false;
  #table = false;
  #graced = false;
  #settle: { resolve(mesh: Mesh): void; reject(error: Error): void } | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: MeshOptions, key: Buffer) {
    this.#options = options;
    this.#key = key;
    this.rank = options.rank;
    this.size = options.size;
    this.#deadline = performance.now() + options.timeoutMs;
    this.#pipeOf = new Array<number | undefined>(options.size).fill(undefined);
    this.#addresses = new Array<string>(options.size).fill("");
    this.#socket =
      options.size === 1
        ? undefined
        : new NngSocket({
            onMessage: (pipe, bytes, direct) => this.#onMessage(pipe, bytes, direct),
            onPipeEvent: (event) => this.#onPipeEvent(event),
            ...(options.addonPath === undefined ? {} : { addonPath: options.addonPath }),
          });
  }

  get addresses(): readonly string[] {
    return this.#addresses;
  }

  get rejected(): number {
    return this.#rejected;
  }

  connect(): Promise<Mesh> {
    const socket = this.#socket;
    if (socket === undefined) {
      this.#formed = true;
      return Promise.resolve(this);
    }
    const promise = new Promise<Mesh>((resolve, reject) => (this.#settle = { resolve, reject }));
    try {
      if (this.rank === 0) {
        this.#addresses[0] = this.#listen(this.#options.root);
      } else if (this.rank < this.size - 1) {
        this.#addresses[this.rank] = this.#listen(this.#options.listen!);
      }
    } catch (error) {
      this.#fail(error instanceof Error ? error : new TransportError(String(error)));
      return promise;
    }
    this.#timer = setTimeout(() => this.#onTimeout(), this.#options.timeoutMs);
    if (this.rank > 0) void this.#dial(0, this.#options.root);
    return promise;
  }

  send(rank: number, bytes: ArrayBufferView | ArrayBuffer): boolean {
    if (!Number.isSafeInteger(rank) || rank < 0 || rank >= this.size || rank === this.rank) {
      throw new ShoalRangeError(`Mesh.send: expected a rank in 0..${this.size - 1} other than this one (${this.rank}), got ${describeValue(rank)}`);
    }
    const pipe = this.#pipeOf[rank];
    if (pipe === undefined || this.#socket === undefined) throw new TransportError(`Mesh.send: rank ${this.rank} has no connection to rank ${rank}: ${this.#formed ? "it was lost" : "the mesh has not formed"}`);
    return this.#socket.send(pipe, bytes);
  }

  shareDirect(): boolean {
    const socket = this.#socket;
    if (socket === undefined) return false;
    this.#sharing = true;
    for (let rank = 0; rank < this.size; rank++) {
      const pipe = this.#pipeOf[rank];
      if (rank !== this.rank && pipe !== undefined && !socket.share(rank, pipe)) {
        this.#sharing = false;
        return false;
      }
    }
    return true;
  }

  handed(localPe: number, count: number): void {
    this.#socket?.handed(localPe, count);
  }

  sendDirect(rank: number, entry: Uint8Array, frame: Uint8Array, length: number): boolean {
    const pipe = this.#pipeOf[rank];
    if (pipe === undefined || this.#socket === undefined) throw new TransportError(`Mesh.sendDirect: rank ${this.rank} has no connection to rank ${rank}: ${this.#formed ? "it was lost" : "the mesh has not formed"}`);
    return this.#socket.sendDirect(pipe, entry, frame, length);
  }

  flush(): Promise<void> {
    return this.#socket === undefined ? Promise.resolve() : this.#socket.flush();
  }

  close(): void {
    clearTimeout(this.#timer);
    for (const link of this.#links.values()) clearTimeout(link.timer);
    this.#links.clear();
    this.#pipeOf.fill(undefined);
    this.#socket?.close();
  }

  #listen(url: string): string {
    const bound = this.#socket!.listen(url);
    this.#options.onListening?.(bound);
    return bound;
  }

  async #dial(rank: number, url: string): Promise<void> {
    let pipe: number;
    try {
      pipe = await this.#socket!.dial(url, { timeoutMs: Math.max(1, Math.ceil(this.#deadline - performance.now())) });
    } catch (error) {
      this.#fail(new TransportError(`rank ${this.rank}: cannot reach rank ${rank}${rank === 0 ? " (root)" : ""} at ${url} within ${this.#options.timeoutMs} ms: ${(error as Error).message}`));
      return;
    }
    if (this.#failed) return;
    const link = this.#links.get(pipe);
    if (link === undefined) return this.#fail(this.#handshakeError(rank, url, "the connection closed, or the peer sent something other than a CHALLENGE"));
    link.rank = rank;
    link.phase = "challenge";
    for (const bytes of link.pending.splice(0)) {
      if (!this.#links.has(pipe)) break;
      this.#onMessage(pipe, bytes, false);
    }
  }

  #onTimeout(): void {
    if (this.rank > 0 && !this.#table && this.#pipeOf[0] !== undefined && !this.#graced) {
      this.#graced = true;
      this.#timer = setTimeout(() => this.#onTimeout(), kRootVerdictGraceMs);
      return;
    }
    this.#fail(new TransportError(this.#timeoutMessage()));
  }

  #onPipeEvent(event: NngPipeEvent): void {
    if (this.#failed) return; // closing: a failing root may still be sending its ABORT
    switch (event.kind) {
      case "connected": {
        if (this.#formed || this.#failed) {
          this.#refuse(event.pipe); // the mesh never grows; nobody is expected
          return;
        }
        const link: Link = { pipe: event.pipe, dialed: event.dialed, phase: event.dialed ? "dialing" : "hello", rank: -1, nonce: randomBytes(kNonceBytes), pending: [], timer: undefined };
        this.#links.set(event.pipe, link);
        if (!event.dialed) {
          link.timer = setTimeout(() => this.#refuse(event.pipe), Math.max(1, this.#deadline - performance.now()));
          link.timer.unref?.();
          this.#sendQuietly(event.pipe, this.#handshake(kMeshRecord.challenge, undefined, link.nonce));
        }
        return;
      }
      case "disconnected": {
        const link = this.#links.get(event.pipe);
        if (link === undefined) return;
        this.#links.delete(event.pipe);
        clearTimeout(link.timer);
        if (link.phase !== "ready") {
          // A pipe this rank dialed, closed by the listener during the handshake (one still
          // "dialing" is reported when its dial resolves).
          if (link.dialed && link.phase !== "dialing") this.#fail(this.#handshakeError(link.rank, this.#urlOf(link.rank), `it closed the connection (${event.reason})`));
          return;
        }
        this.#pipeOf[link.rank] = undefined;
        if (this.#sharing) this.#socket!.share(link.rank, 0);
        if (this.#formed) {
          this.#options.onLost(link.rank, event.reason);
        } else {
          this.#fail(new TransportError(`rank ${this.rank}: the connection to rank ${link.rank} dropped before the mesh formed (${event.reason})${link.rank === 0 ? "; root gives up when a rank is missing: see its error" : ""}`));
        }
        return;
      }
      case "drained": {
        const link = this.#links.get(event.pipe);
        if (link !== undefined && link.phase === "ready") this.#options.onDrained?.(link.rank);
        return;
      }
    }
  }

  #onMessage(pipe: number, bytes: Uint8Array, direct: boolean): void {
    if (this.#failed) return;
    const link = this.#links.get(pipe);
    if (link === undefined) return; // refused or closed: nothing of it is read
    switch (link.phase) {
      case "ready":
        if (link.rank === 0 && this.rank > 0 && !this.#table) return this.#onTable(bytes);
        if (this.rank === 0 && !this.#addressed.has(link.rank)) return this.#onAddress(link, bytes);
        this.#options.onMessage(link.rank, bytes, direct);
        return;
      case "dialing":
        if (bytes.length !== kMeshHandshakeBytes || link.pending.length > 0) return this.#refuse(pipe);
        link.pending.push(bytes);
        return;
      case "challenge": {
        const view = this.#record(bytes, kMeshRecord.challenge);
        if (view === undefined || view.getUint32(8, true) !== link.rank) return this.#refuse(pipe);
        this.#sendQuietly(pipe, this.#handshake(kMeshRecord.hello, bytes.subarray(16, 32), link.nonce));
        link.phase = "welcome";
        return;
      }
      case "welcome": {
        const view = this.#record(bytes, kMeshRecord.welcome);
        if (view === undefined || view.getUint32(8, true) !== link.rank || !this.#macOk(bytes, link.nonce)) return this.#refuse(pipe);
        this.#authenticated(link, link.rank);
        if (link.rank === 0) this.#sendAddress(pipe);
        return;
      }
      case "hello": {
        const view = this.#record(bytes, kMeshRecord.hello);
        if (view === undefined || !this.#macOk(bytes, link.nonce)) return this.#refuse(pipe);
        // The peer holds the token: from here, a wrong rank is a misconfigured job.
        const rank = view.getUint32(8, true);
        const expected = this.rank === 0 ? rank >= 1 && rank < this.size : rank > this.rank && rank < this.size;
        if (!expected || this.#pipeOf[rank] !== undefined) {
          this.#refuse(pipe);
          const why = !expected ? `rank ${rank} is not expected here (rank ${this.rank} of ${this.size} accepts ${this.rank === 0 ? `ranks 1..${this.size - 1}` : `ranks ${this.rank + 1}..${this.size - 1}`})` : `rank ${rank} connected twice: two processes have the same rank`;
          return this.#fail(new TransportError(`rank ${this.rank}: ${why}; check the launcher's rank variables (SHOAL_RANK, SHOAL_SIZE)`));
        }
        this.#sendQuietly(pipe, this.#handshake(kMeshRecord.welcome, bytes.subarray(16, 32), randomBytes(kNonceBytes)));
        this.#authenticated(link, rank);
        return;
      }
    }
  }

  /** Checks a handshake record's size, header and size field; returns a view of it, or undefined. */
  #record(bytes: Uint8Array, kind: number): DataView | undefined {
    if (bytes.length !== kMeshHandshakeBytes || readHeader(bytes, kind) < 0) return undefined;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    return view.getUint32(12, true) === this.size ? view : undefined;
  }

  /** A handshake record from this rank (or `rank`): MAC over bytes 0..31 and `peerNonce`, zeros without one. */
  #handshake(kind: number, peerNonce: Uint8Array | undefined, nonce: Uint8Array): Uint8Array {
    const bytes = new Uint8Array(kMeshHandshakeBytes);
    const view = new DataView(bytes.buffer);
    writeHeader(view, kind, this.rank);
    view.setUint32(12, this.size, true);
    bytes.set(nonce, 16);
    if (peerNonce !== undefined) bytes.set(this.#mac(bytes.subarray(0, kMacOffset), peerNonce), kMacOffset);
    return bytes;
  }

  #mac(record: Uint8Array, nonce: Uint8Array): Buffer {
    return createHmac("sha256", this.#key).update(record).update(nonce).digest();
  }

  #macOk(bytes: Uint8Array, nonce: Uint8Array): boolean {
    return timingSafeEqual(this.#mac(bytes.subarray(0, kMacOffset), nonce), bytes.subarray(kMacOffset, kMeshHandshakeBytes));
  }

  #authenticated(link: Link, rank: number): void {
    clearTimeout(link.timer);
    link.timer = undefined;
    link.rank = rank;
    link.phase = "ready";
    this.#pipeOf[rank] = link.pipe;
    this.#check();
  }

  /**
   * Closes a pipe that did not authenticate, before reading anything more of it. A pipe this rank
   * dialed to a job peer fails the mesh: that peer is not one of the job's.
   */
  #refuse(pipe: number): void {
    const link = this.#links.get(pipe);
    if (link !== undefined) {
      clearTimeout(link.timer);
      this.#links.delete(pipe);
    }
    this.#rejected++;
    this.#socket?.closePipe(pipe);
    if (link?.dialed === true && link.rank >= 0) this.#fail(this.#handshakeError(link.rank, this.#urlOf(link.rank), "it did not prove the job token"));
  }

  /** Sends on a pipe that may have just disconnected (its event then follows): never throws. */
  #sendQuietly(pipe: number, bytes: Uint8Array): void {
    try {
      this.#socket?.send(pipe, bytes);
    } catch {
      // The pipe is gone; its disconnected event handles it.
    }
  }

  #urlOf(rank: number): string {
    return rank === 0 ? this.#options.root : this.#addresses[rank]!;
  }

  #handshakeError(rank: number, url: string, what: string): TransportError {
    return new TransportError(`rank ${this.rank}: the handshake with rank ${rank}${rank === 0 ? " (root)" : ""} at ${url} failed: ${what}. Its job token differs from this one (check SHOAL_JOB_TOKEN: every process of a job needs the same), it refused rank ${this.rank}, or something else listens there`);
  }

  #sendAddress(pipe: number): void {
    const address = new TextEncoder().encode(this.#addresses[this.rank]);
    const bytes = new Uint8Array(kHeaderBytes + address.length);
    writeHeader(new DataView(bytes.buffer), kMeshRecord.address, this.rank);
    bytes.set(address, kHeaderBytes);
    this.#sendQuietly(pipe, bytes);
  }

  #onAddress(link: Link, bytes: Uint8Array): void {
    if (readHeader(bytes, kMeshRecord.address) !== link.rank) {
      return this.#fail(new TransportError(`rank 0: expected rank ${link.rank}'s address record first, got ${bytes.length} bytes that are not one (a different shoal version?)`));
    }
    let address: string;
    try {
      address = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(kHeaderBytes));
    } catch {
      return this.#fail(new TransportError(`rank 0: rank ${link.rank} sent an address that is not UTF-8`));
    }
    if ((link.rank < this.size - 1) !== (address !== "")) {
      return this.#fail(new TransportError(`rank 0: rank ${link.rank} of ${this.size} sent ${address === "" ? "no listen address" : `a listen address (${address})`}; expected ${link.rank < this.size - 1 ? "one" : "none"}`));
    }
    this.#addresses[link.rank] = address;
    this.#addressed.add(link.rank);
    this.#check();
  }

  #sendTable(): void {
    const encoded = this.#addresses.map((address) => new TextEncoder().encode(address));
    const bytes = new Uint8Array(kHeaderBytes + encoded.reduce((sum, address) => sum + 4 + address.length, 0));
    const view = new DataView(bytes.buffer);
    writeHeader(view, kMeshRecord.table, this.size);
    let offset = kHeaderBytes;
    for (const address of encoded) {
      view.setUint32(offset, address.length, true);
      bytes.set(address, offset + 4);
      offset += 4 + address.length;
    }
    for (let rank = 1; rank < this.size; rank++) this.#sendQuietly(this.#pipeOf[rank]!, bytes);
  }

  #onTable(bytes: Uint8Array): void {
    if (readHeader(bytes, kMeshRecord.abort) === 0) {
      let why: string;
      try {
        why = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(kHeaderBytes));
      } catch {
        why = "(a reason that is not UTF-8)";
      }
      return this.#fail(new TransportError(`rank ${this.rank}: root gave up: ${why}`));
    }
    const addresses: string[] = [];
    if (readHeader(bytes, kMeshRecord.table) === this.size) {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      const decoder = new TextDecoder("utf-8", { fatal: true });
      let offset = kHeaderBytes;
      try {
        while (addresses.length < this.size && offset + 4 <= bytes.length) {
          const length = view.getUint32(offset, true);
          if (offset + 4 + length > bytes.length) break;
          addresses.push(decoder.decode(bytes.subarray(offset + 4, offset + 4 + length)));
          offset += 4 + length;
        }
      } catch {
        addresses.length = 0;
      }
      if (offset !== bytes.length) addresses.length = 0;
    }
    if (addresses.length !== this.size || addresses.some((address, rank) => rank > 0 && rank < this.size - 1 && address === "")) {
      return this.#fail(new TransportError(`rank ${this.rank}: the address table from root is malformed (${bytes.length} bytes; a different shoal version, or a different job size?)`));
    }
    addresses.forEach((address, rank) => (this.#addresses[rank] = address));
    this.#table = true;
    for (let rank = 1; rank < this.rank; rank++) void this.#dial(rank, addresses[rank]!);
    this.#check();
  }

  /** Resolves once every link is up (and, on root, every address is in and the table sent). */
  #check(): void {
    if (this.#formed || this.#failed) return;
    for (let rank = 0; rank < this.size; rank++) {
      if (rank !== this.rank && this.#pipeOf[rank] === undefined) return;
    }
    if (this.rank === 0) {
      if (this.#addressed.size < this.size - 1) return;
      this.#sendTable();
    } else if (!this.#table) {
      return;
    }
    this.#formed = true;
    clearTimeout(this.#timer);
    this.#settle?.resolve(this);
  }

  #timeoutMessage(): string {
    const within = `within ${this.#options.timeoutMs} ms (SHOAL_CONNECT_TIMEOUT_MS)`;
    const refused = this.#rejected > 0 ? `; ${this.#rejected} connection${this.#rejected === 1 ? " was" : "s were"} refused meanwhile (a different SHOAL_JOB_TOKEN, or not shoal)` : "";
    if (this.rank === 0) {
      const silent = [];
      for (let rank = 1; rank < this.size; rank++) if (this.#pipeOf[rank] === undefined || !this.#addressed.has(rank)) silent.push(rank);
      return `rank 0 (root at ${this.#addresses[0] || this.#options.root}): rank${silent.length === 1 ? "" : "s"} ${silent.join(", ")} of ${this.size} never said hello ${within}${refused}`;
    }
    // Not connected to root is the same failure whether the dial or this timer noticed it first.
    if (this.#pipeOf[0] === undefined) return `rank ${this.rank}: cannot reach rank 0 (root) at ${this.#options.root} ${within}: root did not answer${refused}`;
    if (!this.#table) return `rank ${this.rank}: no address table from rank 0 (root) at ${this.#options.root} ${within}: root still waits for other ranks${refused}`;
    const missing = [];
    for (let rank = 1; rank < this.size; rank++) {
      if (rank !== this.rank && this.#pipeOf[rank] === undefined) missing.push(rank < this.rank ? `rank ${rank} at ${this.#addresses[rank]} (dialed)` : `rank ${rank} (should dial ${this.#addresses[this.rank]})`);
    }
    return `rank ${this.rank}: no connection ${within} with ${missing.join(", ")}${refused}`;
  }

  #fail(error: Error): void {
    if (this.#formed || this.#failed) return;
    this.#failed = true;
    clearTimeout(this.#timer);
    const settle = (): void => {
      this.close();
      this.#settle?.reject(error);
    };
    const socket = this.#socket;
    const connected = this.#pipeOf.filter((pipe) => pipe !== undefined);
    if (this.rank !== 0 || socket === undefined || connected.length === 0) return settle();
    // Root tells every rank why, so each fails with the reason instead of its own timeout.
    const why = new TextEncoder().encode(error.message);
    const bytes = new Uint8Array(kHeaderBytes + why.length);
    writeHeader(new DataView(bytes.buffer), kMeshRecord.abort, 0);
    bytes.set(why, kHeaderBytes);
    for (const pipe of connected) this.#sendQuietly(pipe, bytes);
    const timer = new Promise<void>((resolve) => setTimeout(resolve, kAbortFlushMs));
    void Promise.race([socket.flush().catch(() => {}), timer]).then(settle);
  }
}
