// NngSocket between real processes and real worker threads: this test's process and a child
// (test/fixtures/nng-peer.ts), or a worker thread running the same peer.
import { afterEach, describe, expect, it } from "vitest";

import { NngSocket, type NngPipeEvent } from "../src/lamellae/index.js";
import { ipcUrl, nngSkipReason, startPeerProcess, startPeerWorker, until, type Peer } from "./fixtures/nng-support.js";

const open: NngSocket[] = [];
const children: Peer[] = [];
afterEach(() => {
  for (const socket of open.splice(0)) socket.close();
  for (const child of children.splice(0)) child.kill("SIGKILL");
});

function recorder() {
  const messages: { pipe: number; bytes: Uint8Array }[] = [];
  const events: NngPipeEvent[] = [];
  const socket = new NngSocket({
    onMessage: (pipe, bytes) => messages.push({ pipe, bytes }),
    onPipeEvent: (event) => events.push(event),
    maxMessageBytes: 65 * 1024 * 1024,
  });
  open.push(socket);
  return { socket, messages, events };
}

function peerProcess(mode: string, url: string): Peer {
  const child = startPeerProcess(mode, url);
  children.push(child);
  return child;
}

describe.skipIf(nngSkipReason !== undefined)(`NngSocket across processes and threads${nngSkipReason === undefined ? "" : ` (skipped: ${nngSkipReason})`}`, () => {
  for (const transport of ["ipc", "tcp"] as const) {
    it(`exchanges 5000 numbered messages in order with a child process over ${transport}://, and sees it leave`, async () => {
      const server = recorder();
      const url = server.socket.listen(transport === "ipc" ? ipcUrl("child") : "tcp://127.0.0.1:0");
      const child = peerProcess("echo", url);
      await child.next("connected");
      await until(() => server.socket.pipes.size === 1, 10_000, "the child's pipe");
      const [pipe] = server.socket.pipes;
      for (let seq = 0; seq < 5000; seq++) server.socket.send(pipe!, new Uint32Array([seq, seq * 3]));
      await until(() => server.messages.length === 5000, 20_000, "every echo");
      expect(server.messages.every((m, seq) => m.pipe === pipe && m.bytes.length === 8 && new Uint32Array(m.bytes.slice().buffer)[0] === seq)).toBe(true);
      server.socket.closePipe(pipe!);
      expect(await child.next("disconnected")).toMatchObject({ code: 31 });
      expect((await child.exited).code).toBe(0);
    });
  }

  it("round-trips a 64 MiB message through a child process", async () => {
    const server = recorder();
    const child = peerProcess("echo", server.socket.listen(ipcUrl("child-large")));
    await child.next("connected");
    await until(() => server.socket.pipes.size === 1, 10_000, "the child's pipe");
    const [pipe] = server.socket.pipes;
    const large = new Uint32Array(16 * 1024 * 1024).map((_, i) => i ^ 0x5a5a5a5a);
    server.socket.send(pipe!, large);
    await until(() => server.messages.length === 1, 30_000, "the echo");
    const echoed = new Uint32Array(server.messages[0]!.bytes.buffer, server.messages[0]!.bytes.byteOffset, large.length);
    let wrong = 0;
    for (let i = 0; i < large.length; i++) if (echoed[i] !== (i ^ 0x5a5a5a5a)) wrong++;
    expect(wrong).toBe(0);
  });

  it("reports the pipe of a child process killed with SIGKILL as disconnected within seconds", async () => {
    const server = recorder();
    const child = peerProcess("echo", server.socket.listen(ipcUrl("kill")));
    await child.next("connected");
    await until(() => server.socket.pipes.size === 1, 10_000, "the child's pipe");
    const [pipe] = server.socket.pipes;
    const killed = performance.now();
    child.kill("SIGKILL");
    await until(() => server.events.some((e) => e.kind === "disconnected"), 5000, "the disconnected event");
    const elapsedMs = performance.now() - killed;
    expect(server.events.find((e) => e.kind === "disconnected")).toMatchObject({ pipe, code: 31, reason: expect.stringMatching(/peer closed the connection, or its process ended/) });
    expect(elapsedMs).toBeLessThan(5000); // a bound on "within seconds", not a speed claim
    expect(() => server.socket.send(pipe!, new Uint8Array(1))).toThrow(/no pipe/);
  });

  it("lets a child process call process.exit with its socket open, without a crash or a hang", async () => {
    const server = recorder();
    const child = peerProcess("exit-open", server.socket.listen(ipcUrl("exit")));
    await child.next("exiting");
    const exit = await child.exited;
    expect(exit.stderr).toBe("");
    expect(exit.code).toBe(0);
    expect(server.messages.map((m) => new TextDecoder().decode(m.bytes))).toEqual(["bye"]);
  });

  it("lets a program end with an unref'd listening socket open", async () => {
    const child = peerProcess("end-unref", ipcUrl("unref"));
    expect((await child.next("listening"))["url"]).toMatch(/^ipc:/);
    const exit = await child.exited;
    expect(exit.stderr).toBe("");
    expect(exit.code).toBe(0);
  });

  it("exchanges messages between worker threads, and survives a worker terminated with its socket open", async () => {
    const url = ipcUrl("threads");
    const listener = startPeerWorker("listen", url);
    expect((await listener.next("listening"))["url"]).toBe(url);
    const echo = startPeerWorker("echo", url);
    await echo.next("connected");
    // This thread talks to the listening worker, which echoes.
    const client = recorder();
    const pipe = await client.socket.dial(url);
    for (let seq = 0; seq < 1000; seq++) client.socket.send(pipe, new Uint16Array([seq]));
    await until(() => client.messages.length === 1000, 10_000, "the echoes");
    expect(client.messages.every((m, seq) => new Uint16Array(m.bytes.slice().buffer)[0] === seq)).toBe(true);
    // Terminating the echo worker closes its socket through the addon's cleanup hook.
    await echo.worker.terminate();
    client.socket.close();
    expect(await listener.exited).toBe(0); // it ends when its first peer (the echo worker) has gone
  });
});
