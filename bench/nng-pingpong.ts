/**
 * nng-pingpong: raw NNG through shoal's binding (`NngSocket`, src/lamellae/nng), between this
 * process and a child process over ipc:// on one host. It is the baseline that shoal's own
 * inter-process active-message round trip will be measured against (target ≤ 1.3× of it).
 * - round trip: an 8-byte message sent and echoed back, one at a time (µs each);
 * - small messages one way: 16-byte messages streamed to the child, which counts them (msgs/s);
 * - large messages one way: 16 MiB messages streamed to the child (GB/s = 10^9 bytes/s).
 *
 * Baseline, in the same run, against the same child, alternating with it: Node's own `net` over a
 * Unix domain socket with the same framing (a 4-byte length before each message).
 *
 *   npx shoal bench nng-pingpong [--reps 7] [--iters 5000] [--count 200000] [--mib 256] [--json]
 *   node --import tsx bench/nng-pingpong.ts [same options]     (a 1-PE world: the same figures)
 *
 * PE 0 measures; other PEs wait. Check, every repetition: each echo is the message sent, and the
 * child counted every streamed message, in order. Needs the NNG addon (npm test installs libnng
 * and builds it; see scripts/install-system-deps.sh).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createServer, connect, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import { init } from "shoal";

import { NngSocket } from "../dist/src/lamellae/index.js";
import { endBenchmark, integerOption, printRows, settle, summarize, type Row } from "./harness.js";

/** Message kinds: the first byte of every message. */
const kEcho = 1;
const kStream = 2;
const kReport = 3;
const kSpin = 4;
const kUnspin = 5;

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

async function runPeer(nngUrl: string, netPath: string): Promise<void> {
  let spinning = false;
  const nng: NngSocket = new NngSocket({
    onMessage: (pipe, bytes) => handleNng(pipe, bytes),
    onPipeEvent: (event) => {
      if (event.kind === "disconnected") {
        spinning = false;
        nng.close();
      }
    },
    maxMessageBytes: 64 << 20,
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
  const net = connect(netPath);
  net.setNoDelay(true);
  const handle = peerHandler((answer) => writeFrame(net, answer));
  net.on("data", frameReader(handle));
  net.on("close", () => nng.close());
}

// ---------------------------------------------------------------------------------------------
// the measuring side

/** One connection to the child, NNG or net, behind the same four calls. */
interface Link {
  readonly name: string;
  /** Sends a message; resolves when it may send more (back-pressure). */
  send(bytes: Uint8Array): Promise<void> | undefined;
  /** Resolves to the next message from the child. */
  next(): Promise<Uint8Array>;
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

async function startLinks(): Promise<{ nng: Link; net: Link; polledRoundTrip(iters: number): number; close(): Promise<void> }> {
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
    maxMessageBytes: 64 << 20,
  });
  const nngUrl = nngSocket.listen(`ipc://${join(tmpdir(), `${name}.ipc`)}`);
  const netPath = join(tmpdir(), `${name}.sock`);
  const netIn = inbox();
  const server: Server = createServer();
  await new Promise<void>((resolve) => server.listen(netPath, resolve));
  const accepted = new Promise<Socket>((resolve) => server.once("connection", resolve));
  const tsx = import.meta.resolve("tsx");
  const child: ChildProcess = spawn(process.execPath, ["--import", tsx, fileURLToPath(import.meta.url), "--peer", nngUrl, netPath], { stdio: ["ignore", "inherit", "inherit"] });
  const netSocket = await accepted;
  netSocket.setNoDelay(true);
  netSocket.on("data", frameReader((bytes) => netIn.push(bytes)));
  while (pipe === 0) await new Promise((resolve) => setTimeout(resolve, 5));
  const nng: Link = {
    name: "nng",
    send(bytes) {
      if (nngSocket.send(pipe, bytes)) return undefined;
      return new Promise<void>((resolve) => (drained = resolve));
    },
    next: () => nngIn.next(),
  };
  const net: Link = {
    name: "net",
    send(bytes) {
      if (writeFrame(netSocket, bytes)) return undefined;
      return new Promise<void>((resolve) => netSocket.once("drain", resolve));
    },
    next: () => netIn.next(),
  };
  /** Mean round trip of `iters` echoes with both sides polling instead of waiting, µs (blocks this thread). */
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
        throw new Error(`nng-pingpong: polled echo ${i} is not the message sent`);
      }
    }
    const micros = Number(process.hrtime.bigint() - start) / 1000 / iters;
    control[0] = kUnspin;
    nngSocket.send(pipe, control);
    return micros;
  }
  return {
    nng,
    net,
    polledRoundTrip,
    async close() {
      const exited = new Promise((resolve) => child.once("exit", resolve));
      netSocket.end();
      nngSocket.close();
      server.close();
      await exited;
    },
  };
}

/** Mean round trip of `iters` echoes of an 8-byte message, µs. */
async function roundTrip(link: Link, iters: number): Promise<number> {
  const message = new Uint8Array(8);
  message[0] = kEcho;
  const view = new DataView(message.buffer);
  const start = process.hrtime.bigint();
  for (let i = 0; i < iters; i++) {
    view.setUint32(4, i, true);
    await link.send(message);
    const echo = await link.next();
    if (echo.byteLength !== 8 || new DataView(echo.buffer, echo.byteOffset, 8).getUint32(4, true) !== i) {
      throw new Error(`nng-pingpong: ${link.name} echo ${i} is not the message sent`);
    }
  }
  return Number(process.hrtime.bigint() - start) / 1000 / iters;
}

/** Streams `count` messages of `size` bytes to the child and waits for its count; messages per second. */
async function stream(link: Link, count: number, size: number): Promise<number> {
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
    throw new Error(`nng-pingpong: ${link.name} stream of ${count} messages: the child counted ${counted}, ${errors} out of order`);
  }
  return count / seconds;
}

const peerAt = process.argv.indexOf("--peer");
if (peerAt >= 0) {
  await runPeer(process.argv[peerAt + 1]!, process.argv[peerAt + 2]!);
} else {
  const world = await init();
  if (world.pe === 0) {
    const reps = integerOption("reps", 7);
    const iters = integerOption("iters", 5000);
    const count = integerOption("count", 200_000);
    const mib = integerOption("mib", 256);
    const largeBytes = Math.min(16 << 20, mib << 20);
    const largeCount = Math.max(1, Math.floor((mib << 20) / largeBytes));
    await settle(world);
    const links = await startLinks();
    const figures = { nng: { rtt: [] as number[], small: [] as number[], large: [] as number[] }, net: { rtt: [] as number[], small: [] as number[], large: [] as number[] } };
    const polled: number[] = [];
    for (let rep = -1; rep < reps; rep++) { // rep -1 warms up
      const order = rep % 2 === 0 ? [links.nng, links.net] : [links.net, links.nng];
      const polledRtt = links.polledRoundTrip(rep < 0 ? Math.min(iters, 1000) : iters);
      if (rep >= 0) polled.push(polledRtt);
      await new Promise((resolve) => setTimeout(resolve, 20)); // the child stops polling
      for (const link of order) {
        const rtt = await roundTrip(link, rep < 0 ? Math.min(iters, 1000) : iters);
        const small = await stream(link, rep < 0 ? Math.min(count, 20_000) : count, 16);
        const large = (await stream(link, largeCount, largeBytes)) * largeBytes / 1e9;
        if (rep >= 0) {
          const f = figures[link.name as "nng" | "net"];
          f.rtt.push(rtt);
          f.small.push(small / 1e6);
          f.large.push(large);
        }
      }
    }
    await links.close();
    const s = { nng: { rtt: summarize(figures.nng.rtt), small: summarize(figures.nng.small), large: summarize(figures.nng.large) }, net: { rtt: summarize(figures.net.rtt), small: summarize(figures.net.small), large: summarize(figures.net.large) } };
    const check = "every echo was the message sent; the child counted every streamed message, in order";
    const target = "baseline of the inter-process AM round trip (≤ 1.3×)";
    const rows: Row[] = [
      { benchmark: "nng-pingpong", what: "NNG round trip, 8 B, ipc, 2 processes", unit: "µs", ...s.nng.rtt, target, check },
      { benchmark: "nng-pingpong", what: "baseline: node:net round trip, Unix socket", unit: "µs", ...s.net.rtt, ratio: s.net.rtt.median / s.nng.rtt.median, ratioOf: "net / NNG", check },
      { benchmark: "nng-pingpong", what: "NNG round trip, both sides polling (poll())", unit: "µs", ...summarize(polled), ratio: summarize(polled).median / s.nng.rtt.median, ratioOf: "polled / NNG", check },
      { benchmark: "nng-pingpong", what: "NNG 16 B messages one way", unit: "M msgs/s", ...s.nng.small, check },
      { benchmark: "nng-pingpong", what: "baseline: node:net 16 B messages one way", unit: "M msgs/s", ...s.net.small, ratio: s.nng.small.median / s.net.small.median, ratioOf: "NNG / net", check },
      { benchmark: "nng-pingpong", what: `NNG ${largeBytes >> 20} MiB messages one way`, unit: "GB/s", ...s.nng.large, check },
      { benchmark: "nng-pingpong", what: `baseline: node:net ${largeBytes >> 20} MiB messages one way`, unit: "GB/s", ...s.net.large, ratio: s.nng.large.median / s.net.large.median, ratioOf: "NNG / net", check },
    ];
    printRows(rows);
  }
  await endBenchmark(world);
}
