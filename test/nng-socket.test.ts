// NngSocket within one process: real NNG sockets over ipc:// and tcp://, two sockets per test.
import { connect } from "node:net";
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { afterEach, describe, expect, it } from "vitest";

import { readConfig } from "../src/config/index.js";
import { TransportError } from "../src/errors.js";
import { NngSocket, loadNng, type NngPipeEvent, type NngSocketOptions } from "../src/lamellae/index.js";
import { ipcUrl, nngSkipReason, until } from "./fixtures/nng-support.js";

const open: NngSocket[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
});

/** A socket that records what it receives; closed after the test. */
function recorder(options: Partial<NngSocketOptions> = {}) {
  const messages: { pipe: number; bytes: Uint8Array }[] = [];
  const events: NngPipeEvent[] = [];
  const socket = new NngSocket({
    onMessage: (pipe, bytes) => messages.push({ pipe, bytes }),
    onPipeEvent: (event) => events.push(event),
    ...options,
  });
  open.push(socket);
  return { socket, messages, events };
}

/** A message carrying `seq` in its first 4 bytes, `length` bytes long (at least 4), filled from `seq`. */
function numbered(seq: number, length: number): Uint8Array {
  const bytes = new Uint8Array(Math.max(4, length));
  new DataView(bytes.buffer).setUint32(0, seq, true);
  for (let i = 4; i < bytes.length; i++) bytes[i] = (seq + i) & 0xff;
  return bytes;
}

function isNumbered(bytes: Uint8Array, seq: number, length: number): boolean {
  if (bytes.length !== Math.max(4, length)) return false;
  if (new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, true) !== seq) return false;
  for (let i = 4; i < bytes.length; i++) if (bytes[i] !== ((seq + i) & 0xff)) return false;
  return true;
}

describe("loadNng", () => {
  it("returns a TransportError that says the addon is not built, and how to fix it, for a missing file", () => {
    const result = loadNng("/nonexistent/shoal_nng.node");
    expect(result).toBeInstanceOf(TransportError);
    expect((result as TransportError).code).toBe("ERR_SHOAL_TRANSPORT");
    expect((result as TransportError).message).toMatch(/NNG transport is unavailable: its addon is not built/);
    expect((result as TransportError).message).toContain("scripts/install-system-deps.sh");
    expect((result as TransportError).message).toContain("npm rebuild");
  });

  it("returns a TransportError for a file that is not a loadable addon", () => {
    const bogus = join(tmpdir(), `shoal-nng-bogus-${process.pid}.node`);
    writeFileSync(bogus, "not an addon");
    const result = loadNng(bogus);
    expect(result).toBeInstanceOf(TransportError);
    expect((result as TransportError).message).toMatch(/could not be loaded .*shoal-nng-bogus/);
  });

  it("reads the addon's path from SHOAL_NNG_ADDON", () => {
    expect(readConfig({ SHOAL_NNG_ADDON: "/opt/shoal_nng.node" }).nngAddon).toBe("/opt/shoal_nng.node");
    expect(readConfig({}).nngAddon).toBeUndefined();
  });

  it("makes new NngSocket throw that TransportError", () => {
    expect(() => new NngSocket({ onMessage: () => {}, addonPath: "/nonexistent/shoal_nng.node" })).toThrow(/addon is not built/);
  });
});

describe.skipIf(nngSkipReason !== undefined)(`NngSocket in one process${nngSkipReason === undefined ? "" : ` (skipped: ${nngSkipReason})`}`, () => {
  it("loads the addon, built against libnng 1.5 or later", () => {
    const binding = loadNng();
    if (binding instanceof Error) throw binding;
    expect(binding.version()).toMatch(/^1\.\d+\.\d+/);
  });

  it("listens on tcp://127.0.0.1:0 and returns the port it bound", () => {
    const { socket } = recorder();
    const url = socket.listen("tcp://127.0.0.1:0");
    expect(url).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
    expect(url).not.toBe("tcp://127.0.0.1:0");
  });

  for (const transport of ["ipc", "tcp"] as const) {
    it(`delivers 10 000 messages of mixed sizes (0 B to 70 kB) in order, both ways, over ${transport}://`, async () => {
      const server = recorder();
      const client = recorder();
      const url = server.socket.listen(transport === "ipc" ? ipcUrl("order") : "tcp://127.0.0.1:0");
      const pipe = await client.socket.dial(url);
      const sizes = [0, 1, 7, 8, 100, 4096, 65535, 65536, 70_000, 3, 12, 40];
      const count = 10_000;
      for (let seq = 0; seq < count; seq++) client.socket.send(pipe, numbered(seq, sizes[seq % sizes.length]!));
      await until(() => server.messages.length === count, 20_000, "every message");
      const serverPipe = server.messages[0]!.pipe;
      for (let seq = 0; seq < count; seq++) {
        if (!isNumbered(server.messages[seq]!.bytes, seq, sizes[seq % sizes.length]!)) throw new Error(`message ${seq} is wrong`);
        expect(server.messages[seq]!.bytes.byteOffset % 8).toBe(0);
      }
      for (let seq = 0; seq < 1000; seq++) server.socket.send(serverPipe, numbered(seq, 16));
      await until(() => client.messages.length === 1000, 10_000, "the replies");
      expect(client.messages.every((m, seq) => m.pipe === pipe && isNumbered(m.bytes, seq, 16))).toBe(true);
    });
  }

  it("delivers a 64 MiB message intact, in its own buffer", async () => {
    const server = recorder({ maxMessageBytes: 65 * 1024 * 1024 });
    const client = recorder({ maxMessageBytes: 65 * 1024 * 1024 });
    const pipe = await client.socket.dial(server.socket.listen(ipcUrl("large")));
    const large = new Float64Array(8 * 1024 * 1024);
    for (let i = 0; i < large.length; i++) large[i] = i * 0.5;
    client.socket.send(pipe, large);
    client.socket.send(pipe, new Uint8Array([42]));
    await until(() => server.messages.length === 2, 30_000, "the large message");
    const received = server.messages[0]!.bytes;
    expect(received.byteLength).toBe(64 * 1024 * 1024);
    expect(received.byteOffset).toBe(0);
    const values = new Float64Array(received.buffer, received.byteOffset, received.byteLength / 8);
    let wrong = 0;
    for (let i = 0; i < values.length; i++) if (values[i] !== i * 0.5) wrong++;
    expect(wrong).toBe(0);
    expect([...server.messages[1]!.bytes]).toEqual([42]);
  });

  it("accepts several peers on one listening socket and addresses each by its pipe", async () => {
    const server = recorder();
    server.socket.listen(ipcUrl("many")); // two addresses on one socket
    const url = server.socket.listen("tcp://127.0.0.1:0");
    const clients = [recorder(), recorder(), recorder()];
    const pipes = await Promise.all(clients.map((c) => c.socket.dial(url)));
    clients.forEach((c, i) => c.socket.send(pipes[i]!, new Uint8Array([i])));
    await until(() => server.messages.length === 3, 10_000, "one message from each peer");
    expect(new Set(server.messages.map((m) => m.pipe)).size).toBe(3);
    expect(server.socket.pipes.size).toBe(3);
    for (const { pipe, bytes } of server.messages) server.socket.send(pipe, new Uint8Array([bytes[0]!, 100]));
    await until(() => clients.every((c) => c.messages.length === 1), 10_000, "each peer's reply");
    clients.forEach((c, i) => expect([...c.messages[0]!.bytes]).toEqual([i, 100]));
    expect(server.events.filter((e) => e.kind === "connected").length).toBe(3);
    expect(clients.every((c) => c.events.some((e) => e.kind === "connected" && e.dialed))).toBe(true);
  });

  it("closePipe drops one peer: a disconnected event with code 0 here, NNG_ECONNSHUT there", async () => {
    const server = recorder();
    const client = recorder();
    await client.socket.dial(server.socket.listen(ipcUrl("closepipe")));
    await until(() => server.socket.pipes.size === 1, 5000, "the connection");
    const [pipe] = server.socket.pipes;
    expect(server.socket.closePipe(pipe!)).toBe(true);
    expect(server.socket.closePipe(pipe!)).toBe(false);
    await until(() => client.events.some((e) => e.kind === "disconnected"), 5000, "the peer's disconnected event");
    expect(server.events.find((e) => e.kind === "disconnected")).toMatchObject({ pipe, code: 0, reason: "closed by this side" });
    expect(client.events.find((e) => e.kind === "disconnected")).toMatchObject({ code: 31 });
    expect(() => server.socket.send(pipe!, new Uint8Array(1))).toThrow(/no pipe/);
  });

  it("disconnects a peer that sends a message larger than maxMessageBytes", async () => {
    const server = recorder({ maxMessageBytes: 1000 });
    const client = recorder();
    const pipe = await client.socket.dial(server.socket.listen(ipcUrl("toolarge")));
    client.socket.send(pipe, new Uint8Array(1000));
    client.socket.send(pipe, new Uint8Array(1001));
    await until(() => server.events.some((e) => e.kind === "disconnected"), 5000, "the disconnect");
    expect(server.messages.length).toBe(1);
    expect(server.events.find((e) => e.kind === "disconnected")).toMatchObject({ code: 17, reason: expect.stringMatching(/larger than maxMessageBytes/) });
    expect(() => server.socket.send(server.messages[0]!.pipe, new Uint8Array(1001))).toThrow(/at most 1000 bytes/);
  });

  it("delivers random garbage from a raw connection as bytes or drops that connection, and keeps working", async () => {
    const server = recorder({ maxMessageBytes: 1 << 20 });
    const url = server.socket.listen("tcp://127.0.0.1:0");
    const port = Number(url.slice(url.lastIndexOf(":") + 1));
    let state = 12345;
    const random = (): number => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let round = 0; round < 20; round++) {
      const garbage = Buffer.alloc(1 + (round * 997) % 5000);
      for (let i = 0; i < garbage.length; i++) garbage[i] = random();
      if (round % 2 === 0 && garbage.length >= 12) garbage.writeUInt32LE(garbage.length - 8, 0); // sometimes a plausible length
      await new Promise<void>((resolve, reject) => {
        const raw = connect(port, "127.0.0.1", () => raw.end(garbage));
        raw.on("close", () => resolve());
        raw.on("error", reject);
      });
    }
    await until(() => server.events.filter((e) => e.kind === "disconnected").length === 20, 10_000, "every raw connection's end");
    const client = recorder();
    const pipe = await client.socket.dial(url);
    client.socket.send(pipe, new Uint8Array([1, 2, 3]));
    await until(() => server.messages.some((m) => m.pipe !== 0 && m.bytes.length === 3 && m.bytes[0] === 1 && m.bytes[2] === 3), 5000, "a proper message");
  });

  it("keeps delivering after onMessage throws, and hands the error to onError", async () => {
    const errors: unknown[] = [];
    const received: number[] = [];
    const server = new NngSocket({
      onMessage: (_pipe, bytes) => {
        received.push(bytes[0]!);
        if (bytes[0] === 1) throw new Error("handler failed");
      },
      onError: (error) => errors.push(error),
    });
    open.push(server);
    const client = recorder();
    const pipe = await client.socket.dial(server.listen(ipcUrl("throw")));
    for (const b of [0, 1, 2]) client.socket.send(pipe, new Uint8Array([b]));
    await until(() => received.length === 3, 5000, "three messages");
    expect(received).toEqual([0, 1, 2]);
    expect(errors).toHaveLength(1);
    expect((errors[0] as Error).message).toBe("handler failed");
  });

  it("retries a dial until the listener appears", async () => {
    const url = ipcUrl("late");
    const client = recorder();
    const dialed = client.socket.dial(url, { timeoutMs: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const server = recorder();
    server.socket.listen(url);
    expect(await dialed).toBeGreaterThan(0);
  });

  it("rejects a dial with a TransportError naming the URL once its timeout has passed", async () => {
    const { socket } = recorder();
    const url = ipcUrl("nobody");
    const dial = socket.dial(url, { timeoutMs: 200 });
    await expect(dial).rejects.toThrow(TransportError);
    await expect(dial).rejects.toThrow(new RegExp(`dial ${url.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}: .*NNG_E.*is the peer listening`));
  });

  it("throws a TransportError with NNG's reason and the URL for an address it cannot listen on", () => {
    const { socket } = recorder();
    expect(() => socket.listen("bogus://nowhere")).toThrow(/listen bogus:\/\/nowhere: .*\(NNG_E/);
    const url = ipcUrl("twice");
    socket.listen(url);
    const other = recorder();
    expect(() => other.socket.listen(url)).toThrow(/NNG_EADDRINUSE/);
  });

  it("returns false from send above sendBufferBytes, then reports the pipe drained; flush waits for the queue", async () => {
    const server = recorder({ maxMessageBytes: 8 << 20 });
    const client = recorder({ sendBufferBytes: 1 << 20 });
    const pipe = await client.socket.dial(server.socket.listen(ipcUrl("drain")));
    expect(client.socket.send(pipe, new Uint8Array(1000))).toBe(true);
    expect(client.socket.send(pipe, new Uint8Array(4 << 20))).toBe(false);
    await until(() => client.events.some((e) => e.kind === "drained" && e.pipe === pipe), 10_000, "the drained event");
    for (let i = 0; i < 10; i++) client.socket.send(pipe, new Uint8Array(1 << 20));
    await client.socket.flush();
    await until(() => server.messages.length === 12, 10_000, "every message");
  });

  it("throws a clear TransportError for send after close, and closes twice without harm", async () => {
    const server = recorder();
    const client = recorder();
    const pipe = await client.socket.dial(server.socket.listen(ipcUrl("closed")));
    client.socket.close();
    client.socket.close();
    expect(client.socket.closed).toBe(true);
    expect(() => client.socket.send(pipe, new Uint8Array(1))).toThrow(TransportError);
    expect(() => client.socket.send(pipe, new Uint8Array(1))).toThrow("NngSocket.send: the socket is closed");
    expect(() => client.socket.listen(ipcUrl("closed2"))).toThrow(/closed/);
    await expect(client.socket.dial("ipc:///nowhere")).rejects.toThrow(/closed/);
    expect(client.socket.closePipe(pipe)).toBe(false);
    await until(() => server.events.some((e) => e.kind === "disconnected"), 5000, "the server's disconnected event");
  });

  it("rejects bad arguments with typed errors before anything is sent", async () => {
    const server = recorder();
    const client = recorder();
    const pipe = await client.socket.dial(server.socket.listen(ipcUrl("bad")));
    expect(() => client.socket.send(pipe, "text" as unknown as Uint8Array)).toThrow(/expected a typed array, DataView or ArrayBuffer, got "text"/);
    expect(() => new NngSocket({ onMessage: () => {}, maxMessageBytes: 2 ** 32 })).toThrow(/maxMessageBytes: expected an integer from 0 to 4294967295/);
    expect(() => new NngSocket({} as NngSocketOptions)).toThrow(/onMessage to be a function/);
    expect(client.socket.send(pipe, new DataView(new ArrayBuffer(3)))).toBe(true);
    expect(client.socket.send(pipe, new ArrayBuffer(5))).toBe(true);
    await until(() => server.messages.length === 2, 5000, "both messages");
    expect(server.messages.map((m) => m.bytes.length)).toEqual([3, 5]);
  });
});
