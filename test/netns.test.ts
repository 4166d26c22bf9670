// Two hosts on one machine: Linux network namespaces joined by a veth pair (test/helpers/netns.ts),
// each with only its loopback and its own address. Checks that the harness makes real, separate
// hosts, that NNG carries messages between them over tcp://, and that it cleans up after itself.
// Needs root (CI runs as root); skipped, with the reason, elsewhere.
import { execFile, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import { afterAll, beforeAll, describe, expect, it } from "vitest";

import { netnsAnswer, netnsDigest, netnsMessage } from "./fixtures/netns-peer.js";
import { nngSkipReason } from "./fixtures/nng-support.js";
import { createHosts, netnsAvailable, type NetnsHostIndex, type NetnsHosts } from "./helpers/netns.js";

const repoRoot = fileURLToPath(new URL("../", import.meta.url));
const peerScript = fileURLToPath(new URL("./fixtures/netns-peer.ts", import.meta.url));
const netns = netnsAvailable();
const kSeed = 7177;
const kMessages = 16;

/** A netns-peer.ts process on one host, and the records it prints, as they come. */
interface PeerProcess {
  readonly child: ChildProcess;
  /** Resolves to its next record of `kind`; rejects if it ends first. */
  next(kind: string): Promise<Record<string, unknown>>;
  readonly exited: Promise<{ code: number | null; stderr: string }>;
}

function startPeer(net: NetnsHosts, host: NetnsHostIndex, args: readonly string[]): PeerProcess {
  const child = net.spawn(host, process.execPath, ["--import", "tsx", peerScript, ...args], { cwd: repoRoot, stdio: ["pipe", "pipe", "pipe"] });
  const records: Record<string, unknown>[] = [];
  const waiting: { kind: string; resolve(record: Record<string, unknown>): void; reject(error: Error): void }[] = [];
  let buffered = "";
  let stderr = "";
  let ended: { code: number | null; stderr: string } | undefined;
  child.stdout!.setEncoding("utf8").on("data", (chunk: string) => {
    buffered += chunk;
    let end;
    while ((end = buffered.indexOf("\n")) >= 0) {
      const record = JSON.parse(buffered.slice(0, end)) as Record<string, unknown>;
      buffered = buffered.slice(end + 1);
      const at = waiting.findIndex((w) => w.kind === record["kind"]);
      if (at >= 0) waiting.splice(at, 1)[0]!.resolve(record);
      else records.push(record);
    }
  });
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
  const exited = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on("close", (code) => {
      ended = { code, stderr };
      for (const w of waiting.splice(0)) w.reject(new Error(`netns-peer.ts ${args.join(" ")} ended (code ${String(code)}) before reporting "${w.kind}"; stderr:\n${stderr}`));
      resolve(ended);
    });
  });
  return {
    child,
    exited,
    next(kind) {
      const at = records.findIndex((r) => r["kind"] === kind);
      if (at >= 0) return Promise.resolve(records.splice(at, 1)[0]!);
      if (ended !== undefined) return Promise.reject(new Error(`netns-peer.ts ${args.join(" ")} ended before reporting "${kind}"; stderr:\n${ended.stderr}`));
      return new Promise((resolve, reject) => waiting.push({ kind, resolve, reject }));
    },
  };
}

const run = promisify(execFile);

async function listedNamespaces(): Promise<string[]> {
  const { stdout } = await run("ip", ["netns", "list"]);
  return stdout.split("\n").map((line) => line.split(" ")[0]!).filter((name) => name !== "");
}

describe.skipIf(!netns.ok)(`two hosts as network namespaces joined by a veth pair${netns.ok ? "" : ` (skipped: ${netns.why})`}`, () => {
  let net: NetnsHosts;
  const peers: PeerProcess[] = [];
  const peer = (host: NetnsHostIndex, args: readonly string[]): PeerProcess => {
    const started = startPeer(net, host, args);
    peers.push(started);
    return started;
  };

  beforeAll(async () => {
    net = await createHosts();
  });
  afterAll(async () => {
    for (const started of peers) started.child.kill("SIGKILL");
    await net?.destroy();
  });

  it("gives each host only a loopback and a veth link, with 127.0.0.1 and its own address", async () => {
    const [a, b] = net.hosts;
    expect(a.address).not.toBe(b.address);
    for (const host of [0, 1] as const) {
      const links = JSON.parse((await net.exec(host, "ip", ["-j", "link", "show"])).stdout) as { ifname: string }[];
      expect(links.map((link) => link.ifname).sort()).toEqual(["lo", "shoal0"]);
      const interfaces = JSON.parse((await net.exec(host, "ip", ["-j", "-4", "address", "show"])).stdout) as { ifname: string; addr_info: { local: string; prefixlen: number }[] }[];
      const addresses = interfaces.flatMap((i) => i.addr_info.map((address) => `${i.ifname} ${address.local}/${address.prefixlen}`)).sort();
      expect(addresses).toEqual(["lo 127.0.0.1/8", `shoal0 ${net.hosts[host].address}/30`]);
    }
  });

  for (const [server, client] of [[0, 1], [1, 0]] as const) {
    it(`lets host ${"AB"[client]} open a TCP connection to host ${"AB"[server]}'s address, from its own address`, async () => {
      const serving = peer(server, ["tcp-serve", net.hosts[server].address]);
      const { port } = await serving.next("listening");
      const connecting = peer(client, ["tcp-connect", net.hosts[server].address, String(port)]);
      expect(await connecting.next("greeting")).toEqual({ kind: "greeting", text: `hello from ${net.hosts[server].address}`, local: net.hosts[client].address });
      expect(await serving.next("accepted")).toEqual({ kind: "accepted", from: net.hosts[client].address });
      expect((await connecting.exited).code).toBe(0);
      expect((await serving.exited).code).toBe(0);
    });
  }

  describe.skipIf(nngSkipReason !== undefined)(`NNG over tcp:// between the hosts${nngSkipReason === undefined ? "" : ` (skipped: ${nngSkipReason})`}`, () => {
    it(`carries ${kMessages} seeded messages (0 B to 1 MiB) from a dialer on host B to a listener on host A, and A's answers back, byte for byte`, async () => {
      const [a] = net.hosts;
      const listener = peer(0, ["nng-listen", a.address]);
      const [url] = (await listener.next("listening"))["urls"] as string[];
      expect(url).toMatch(new RegExp(`^tcp://${a.address.replaceAll(".", "\\.")}:\\d+$`));
      const dialer = peer(1, ["nng-dial", url!, String(kMessages), String(kSeed)]);
      const sent = Array.from({ length: kMessages }, (_, index) => netnsMessage(kSeed, index));
      expect(sent.some((bytes) => bytes.length === 0) && sent.some((bytes) => bytes.length > 1024 * 1024)).toBe(true);
      expect((await dialer.next("answers"))["answers"]).toEqual(sent.map((bytes) => netnsDigest(netnsAnswer(bytes))));
      const received = [];
      for (let index = 0; index < kMessages; index++) received.push(await listener.next("received"));
      expect(received).toEqual(sent.map((bytes) => ({ kind: "received", ...netnsDigest(bytes) })));
      expect(await dialer.exited).toEqual({ code: 0, stderr: "" });
      listener.child.stdin!.end();
      expect(await listener.exited).toEqual({ code: 0, stderr: "" });
    });

    it("keeps host A's loopback its own: A reaches its listener at 127.0.0.1, B finds nobody listening there", async () => {
      const listener = peer(0, ["nng-listen", net.hosts[0].address]);
      const [, loopback] = (await listener.next("listening"))["urls"] as string[];
      expect(loopback).toMatch(/^tcp:\/\/127\.0\.0\.1:\d+$/);
      const fromA = peer(0, ["nng-probe", loopback!, "5000"]);
      expect(await fromA.next("probe")).toEqual({ kind: "probe", connected: true });
      const fromB = peer(1, ["nng-probe", loopback!, "1000"]);
      expect(await fromB.next("probe")).toMatchObject({ kind: "probe", connected: false, error: expect.stringMatching(/refused/i) });
      expect((await fromB.exited).code).toBe(0);
      listener.child.stdin!.end();
      expect((await listener.exited).code).toBe(0);
    });
  });
});

describe.skipIf(!netns.ok || nngSkipReason !== undefined)(`a shoal job across the two hosts over tcp://${netns.ok ? "" : ` (skipped: ${netns.why})`}`, () => {
  let net: NetnsHosts;
  beforeAll(async () => {
    net = await createHosts();
  });
  afterAll(async () => {
    await net?.destroy();
  });

  it("runs 2 processes × 2 PEs, one per host, connected over tcp:// on the hosts' own addresses", async () => {
    const cliPath = fileURLToPath(new URL("../dist/src/launch/cli.js", import.meta.url));
    const workload = fileURLToPath(new URL("./fixtures/procs-work.ts", import.meta.url));
    const [a] = net.hosts;
    const port = 20_000 + (process.pid % 20_000);
    const common = { SHOAL_SIZE: "2", SHOAL_LOCAL_RANK: "0", SHOAL_LOCAL_SIZE: "1", SHOAL_ROOT: `tcp://${a.address}:${port}`, SHOAL_JOB_TOKEN: "netns-test-token-0123456789abcdef" };
    const runs = ([0, 1] as const).map((host) => net.exec(host, process.execPath, [cliPath, "exec", "--pes-per-proc", "2", workload, "500"], {
      cwd: repoRoot, env: { ...common, SHOAL_RANK: String(host), SHOAL_NODE: String(host) }, timeoutMs: 60_000,
    }));
    const results = await Promise.all(runs);
    for (const [host, result] of results.entries()) {
      expect(result.stderr, `stderr of host ${"AB"[host]}`).toBe("");
      expect(result.code).toBe(0);
    }
    const records = results.flatMap((result) => result.stdout.split("\n").filter((line) => line.startsWith("{")).map((line) => JSON.parse(line) as Record<string, unknown>));
    const ready = records.filter((r) => r["kind"] === "ready").sort((x, y) => Number(x["pe"]) - Number(y["pe"]));
    expect(ready.map((r) => [r["pe"], r["process"]])).toEqual([[0, 0], [1, 0], [2, 1], [3, 1]]);
    const done = records.filter((r) => r["kind"] === "done").sort((x, y) => Number(x["pe"]) - Number(y["pe"]));
    expect(done.map((r) => r["pe"])).toEqual([0, 1, 2, 3]);
    for (const record of done) {
      const calls = Number(record["calls"]);
      expect(calls).toBeGreaterThan(0);
      expect(record["sum"]).toBe((calls * (calls - 1)) / 2 + calls);
    }
  });
});

describe.skipIf(!netns.ok)(`destroying two hosts${netns.ok ? "" : ` (skipped: ${netns.why})`}`, () => {
  it("kills what still runs in them, removes both from `ip netns list`, and may be called again", async () => {
    const net = await createHosts();
    const names = net.hosts.map((host) => host.name);
    expect(await listedNamespaces()).toEqual(expect.arrayContaining(names));
    const sleepers = ([0, 1] as const).map((host) => net.spawn(host, "sleep", ["600"]));
    const ended = sleepers.map((child) => new Promise<NodeJS.Signals | null>((resolve) => child.on("close", (_code, signal) => resolve(signal))));
    for (const [host, child] of sleepers.entries()) {
      const deadline = performance.now() + 5000;
      while ((await run("ip", ["netns", "identify", String(child.pid)])).stdout.trim() !== names[host]) {
        if (performance.now() > deadline) throw new Error(`sleep ${child.pid} never showed up in ${names[host]}`);
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    }
    await net.destroy();
    expect(await Promise.all(ended)).toEqual(["SIGKILL", "SIGKILL"]);
    const listed = await listedNamespaces();
    expect(listed.filter((name) => names.includes(name))).toEqual([]);
    await expect(net.destroy()).resolves.toBeUndefined();
  });
});
