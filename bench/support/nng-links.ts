/**
 * Raw NNG (and, for nng-pingpong, node:net) between the measuring process and a child process on
 * one host: the baselines of the inter-process benchmarks (bench/nng-pingpong.ts, bench/procs.ts).
 * It is not a benchmark, hence this folder: `shoal bench` takes every file of bench/ as one.
 *
 * `startLinks` spawns this file as the child (`node --import tsx nng-links.ts --peer NNG_URL
 * [NET_PATH]`), which dials the measuring side's NngSocket over ipc:// (and connects to its Unix
 * socket when asked) and then, on either connection, echoes, counts or reports (`peerHandler`).
 * Every message starts with its kind byte:
 * - kEcho: sent back unchanged;
 * - kStream: counted; its u32 at offset 4 must be the next sequence number (0, 1, ...);
 * - kReport: answered with `[u32 kReport, u32 count, u32 errors]` (12 bytes), then counting restarts;
 * - kSpin / kUnspin (NNG only): the child polls its socket in a loop from kSpin until kUnspin.
 *
 * The node:net connection frames each message with a 4-byte little-endian length before it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import { NngSocket } from "../../dist/src/lamellae/index.js";

/** Message kinds: the first byte of every message. */
const kEcho = 1;
const kStream = 2;
const kReport = 3;
const kSpin = 4;
const kUnspin = 5;

/** The largest message either side sends or accepts (the streams send up to 16 MiB). */
const kMaxMessageBytes = 64 << 20;

/**
 * What the child does with a message on either connection: echo it, count it (checking that its
 * u32 at offset 4 is the next sequence number), or answer a report request with
 * `[kReport, 0, 0, 0, u32 count, u32 errors]` and start counting again.
 */
function peerHandler(reply: (bytes: Uint8Array) => void): (bytes: Uint8Array) => void {
  let count = 0;
  let errors = 0;
  return (bytes) => {
    switch (bytes[0]) {
      case kEcho:
        reply(bytes);
        break;
      case kStream:
        if (new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(4, true) !== count) errors++;
        count++;
        break;
      case kReport: {
        const answer = new Uint32Array([kReport, count, errors]);
        count = 0;
        errors = 0;
        reply(new Uint8Array(answer.buffer));
        break;
      }
    }
  };
}

/** Cuts a byte stream into length-prefixed messages (the `net` baseline's framing). */
function frameReader(onFrame: (bytes: Buffer) => void): (chunk: Buffer) => void {
  let head = Buffer.alloc(0);
  let pending: Buffer | undefined;
  let have = 0;
  return (chunk) => {
    let pos = 0;
    while (pos < chunk.length) {
      if (pending !== undefined) {
        const n = Math.min(pending.length - have, chunk.length - pos);
        chunk.copy(pending, have, pos, pos + n);
        have += n;
        pos += n;
        if (have === pending.length) {
          const frame = pending;
          pending = undefined;
          onFrame(frame);
        }
        continue;
      }
      if (head.length + chunk.length - pos < 4) {
        head = Buffer.concat([head, chunk.subarray(pos)]);
        return;
      }
      let length: number;
      if (head.length > 0) {
        const take = 4 - head.length;
        length = Buffer.concat([head, chunk.subarray(pos, pos + take)]).readUInt32LE(0);
        head = Buffer.alloc(0);
        pos += take;
      } else {
        length = chunk.readUInt32LE(pos);
        pos += 4;
      }
      if (chunk.length - pos >= length) {
        onFrame(chunk.subarray(pos, pos + length));
        pos += length;
      } else {
        pending = Buffer.allocUnsafe(length);
        have = 0;
      }
    }
  };
}

/**
 * Writes one framed message as one copy of it (as NngSocket.send makes one: the caller may reuse
 * its array at once); returns false when the socket's buffer is full ('drain' follows).
 */
function writeFrame(socket: Socket, bytes: Uint8Array): boolean {
  const frame = Buffer.allocUnsafe(4 + bytes.byteLength);
  frame.writeUInt32LE(bytes.byteLength, 0);
  frame.set(bytes, 4);
  return socket.write(frame);
}

// ---------------------------------------------------------------------------------------------
// the child

/** The child: dials `nngUrl` (and connects to `netPath` when given) and serves until they close. */
async function runPeer(nngUrl: string, netPath: string | undefined): Promise<void> {
  let spinning = false;
  const nng: NngSocket = new NngSocket({
    onMessage: (pipe, bytes) => handleNng(pipe, bytes),
    onPipeEvent: (event) => {
      if (event.kind === "disconnected") {
        spinning = false;
        nng.close();
      }
    },
    maxMessageBytes: kMaxMessageBytes,
  });
  const handlers = new Map<number, (bytes: Uint8Array) => void>();
  function handleNng(pipe: number, bytes: Uint8Array): void {
    if (bytes[0] === kSpin) { // poll in a loop (the event loop waits meanwhile) until kUnspin
      spinning = true;
      setImmediate(() => {
        while (spinning) nng.poll();
      });
      return;
    }
    if (bytes[0] === kUnspin) {
      spinning = false;
      return;
    }
    let handler = handlers.get(pipe);
    if (handler === undefined) handlers.set(pipe, (handler = peerHandler((answer) => nng.send(pipe, answer))));
    handler(bytes);
  }
  await nng.dial(nngUrl);
  if (netPath === undefined) return;
  const net = connect(netPath);
  net.setNoDelay(true);
  const handle = peerHandler((answer) => writeFrame(net, answer));
  net.on("data", frameReader(handle));
  net.on("close", () => nng.close());
}

// ---------------------------------------------------------------------------------------------
// the measuring side

/** One connection to the child, NNG or net, behind the same two calls. */
export interface Link {
  readonly name: "nng" | "net";
  /** Sends a message; resolves when it may send more (back-pressure). */
  send(bytes: Uint8Array): Promise<void> | undefined;
  /** Resolves to the next message from the child. */
  next(): Promise<Uint8Array>;
}

/** The connections to one child process. */
export interface Links {
  readonly nng: Link;
  /** Mean round trip of `iters` echoes with both sides polling instead of waiting, µs (blocks this thread). */
  polledRoundTrip(iters: number): number;
  /** Closes the connections and resolves when the child has exited. */
  close(): Promise<void>;
}

/** Options of {@link startLinks}. */
export interface LinksOptions {
  /** The benchmark's name, which starts its error messages. */
  readonly benchmark: string;
  /** Whether to connect over node:net (a Unix domain socket) as well as NNG. */
  readonly net?: boolean;
}

function inbox(): { push(bytes: Uint8Array): void; next(): Promise<Uint8Array>; shift(): Uint8Array | undefined } {
  const queue: Uint8Array[] = [];
  let waiting: ((bytes: Uint8Array) => void) | undefined;
  return {
    push(bytes) {
      if (waiting !== undefined) {
        const resolve = waiting;
        waiting = undefined;
        resolve(bytes);
      } else queue.push(bytes);
    },
    next() {
      const bytes = queue.shift();
      return bytes !== undefined ? Promise.resolve(bytes) : new Promise((resolve) => (waiting = resolve));
    },
    shift: () => queue.shift(),
  };
}

/**
 * Spawns the child process and connects to it over NNG ipc:// (and node:net, with `net: true`).
 * Call it from the thread that measures: the sockets deliver on its event loop.
 */
export async function startLinks(options: LinksOptions & { net: true }): Promise<Links & { net: Link }>;
export async function startLinks(options: LinksOptions): Promise<Links>;
export async function startLinks(options: LinksOptions): Promise<Links & { net?: Link }> {
  const { benchmark } = options;
  const name = `shoal-bench-nng-${process.pid}-${Date.now()}`;
  const nngIn = inbox();
  let drained: (() => void) | undefined;
  let pipe = 0;
  const nngSocket = new NngSocket({
    onMessage: (_pipe, bytes) => nngIn.push(bytes),
    onPipeEvent: (event) => {
      if (event.kind === "connected") pipe = event.pipe;
      if (event.kind === "drained") drained?.();
    },
    maxMessageBytes: kMaxMessageBytes,
  });
  const nngUrl = nngSocket.listen(`ipc://${join(tmpdir(), `${name}.ipc`)}`);
  let server: Server | undefined;
  let accepted: Promise<Socket> | undefined;
  const netPath = join(tmpdir(), `${name}.sock`);
  if (options.net === true) {
    const listening = createServer();
    await new Promise<void>((resolve) => listening.listen(netPath, resolve));
    accepted = new Promise<Socket>((resolve) => listening.once("connection", resolve));
    server = listening;
  }
  const tsx = import.meta.resolve("tsx");
  const peerArgs = ["--peer", nngUrl, ...(options.net === true ? [netPath] : [])];
  const child: ChildProcess = spawn(process.execPath, ["--import", tsx, fileURLToPath(import.meta.url), ...peerArgs], { stdio: ["ignore", "inherit", "inherit"] });
  let net: Link | undefined;
  let netSocket: Socket | undefined;
  if (accepted !== undefined) {
    const socket = await accepted;
    socket.setNoDelay(true);
    const netIn = inbox();
    socket.on("data", frameReader((bytes) => netIn.push(bytes)));
    net = {
      name: "net",
      send(bytes) {
        if (writeFrame(socket, bytes)) return undefined;
        return new Promise<void>((resolve) => socket.once("drain", resolve));
      },
      next: () => netIn.next(),
    };
    netSocket = socket;
  }
  while (pipe === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const nng: Link = {
    name: "nng",
    send(bytes) {
      if (nngSocket.send(pipe, bytes)) return undefined;
      return new Promise<void>((resolve) => (drained = resolve));
    },
    next: () => nngIn.next(),
  };
  function polledRoundTrip(iters: number): number {
    const control = new Uint8Array(8);
    control[0] = kSpin;
    nngSocket.send(pipe, control);
    const message = new Uint8Array(8);
    message[0] = kEcho;
    const view = new DataView(message.buffer);
    let echo: Uint8Array | undefined;
    const start = process.hrtime.bigint();
    for (let i = 0; i < iters; i++) {
      view.setUint32(4, i, true);
      nngSocket.send(pipe, message);
      while ((echo = nngIn.shift()) === undefined) nngSocket.poll();
      if (echo.byteLength !== 8 || new DataView(echo.buffer, echo.byteOffset, 8).getUint32(4, true) !== i) {
        throw new Error(`${benchmark}: polled echo ${i} is not the message sent`);
      }
    }
    const micros = Number(process.hrtime.bigint() - start) / 1000 / iters;
    control[0] = kUnspin;
    nngSocket.send(pipe, control);
    return micros;
  }
  return {
    nng,
    ...(net === undefined ? {} : { net }),
    polledRoundTrip,
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      netSocket?.end();
      nngSocket.close();
      server?.close();
      await exited;
    },
  };
}

/** Mean round trip of `iters` echoes of an 8-byte message, µs; throws (naming `benchmark`) when an echo is not the message sent. */
export async function roundTrip(benchmark: string, link: Link, iters: number): Promise<number> {
  const message = new Uint8Array(8);
  message[0] = kEcho;
  const view = new DataView(message.buffer);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    view.setUint32(4, i, true);
    await link.send(message);
    const echo = await link.next();
    if (echo.byteLength !== 8 || new DataView(echo.buffer, echo.byteOffset, 8).getUint32(4, true) !== i) {
      throw new Error(`${benchmark}: ${link.name} echo ${i} is not the message sent`);
    }
  }
  return Number(process.hrtime.bigint() - start) / 1000 / iters;
}

/**
 * Streams `count` messages of `size` bytes (at least 8) to the child and waits for its count;
 * messages per second. Throws (naming `benchmark`) unless the child counted every one, in order.
 */
export async function stream(benchmark: string, link: Link, count: number, size: number): Promise<number> {
  const message = new Uint8Array(size);
  message[0] = kStream;
  const start = process.hrtime.bigint();
  for (let i = 0; i < count; i++) {
    new DataView(message.buffer).setUint32(4, i, true);
    const wait = link.send(message);
    if (wait !== undefined) await wait;
  }
  const report = new Uint8Array(8);
  report[0] = kReport;
  await link.send(report);
  const answer = await link.next();
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const [kind, counted, errors] = new Uint32Array(Uint8Array.from(answer).buffer); // a copy: a Buffer may be a view of a larger one
  if (kind !== kReport || counted !== count || errors !== 0) {
    throw new Error(`${benchmark}: ${link.name} stream of ${count} messages: the child counted ${counted}, ${errors} out of order`);
  }
  return count / seconds;
}

const entry = process.argv[1];
if (entry !== undefined && import.meta.url === pathToFileURL(entry).href) {
  const peerAt = process.argv.indexOf("--peer");
  if (peerAt < 0 || process.argv[peerAt + 1] === undefined) {
    throw new Error("nng-links: this file runs as a benchmark's child process: node --import tsx nng-links.ts --peer NNG_URL [NET_PATH]");
  }
  await runPeer(process.argv[peerAt + 1]!, process.argv[peerAt + 2]);
}
