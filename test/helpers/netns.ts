/**
 * Two hosts on one machine, for tests that run a job "across machines": two Linux network
 * namespaces joined by a veth pair, each with its own address on a private /30, its own loopback
 * and nothing else. Needs root and iproute2's `ip` (scripts/install-system-deps.sh installs it);
 * {@link netnsAvailable} says whether both are there. Every command runs through `node:child_process`
 * with an argument array, never a shell string.
 *
 * Layout of one {@link createHosts} call (N counts the calls of this process; X and Y come from
 * the pid and N, so parallel test files get different subnets):
 *
 *   namespace shoal-PID-N-a               namespace shoal-PID-N-b
 *     lo      127.0.0.1                     lo      127.0.0.1
 *     shoal0  10.77.X.(Y+1)/30  <-veth->    shoal0  10.77.X.(Y+2)/30
 *
 * The veth ends are created directly inside the namespaces, so nothing appears in the machine's
 * own namespace and the interface names cannot collide with another call's.
 *
 * @example
 * const net = await createHosts();
 * try {
 *   const { stdout } = await net.exec(1, "ip", ["-4", "addr", "show"]);
 * } finally {
 *   await net.destroy();
 * }
 */
import { spawn, spawnSync, type ChildProcess, type StdioOptions } from "node:child_process";

/** Whether namespaces can be made here, and if not, why. */
export type NetnsAvailability = { readonly ok: true } | { readonly ok: false; readonly why: string };

/** One of the two hosts: its namespace's name and its address on the veth link. */
export interface NetnsHost {
  readonly name: string;
  readonly address: string;
}

/** Which of the two hosts: 0 (namespace `...-a`) or 1 (namespace `...-b`). */
export type NetnsHostIndex = 0 | 1;

/** Options of {@link createHosts}. */
export interface NetnsHostsOptions {
  /** The start of both namespaces' names; default "shoal". The pid and a counter follow it. */
  readonly prefix?: string;
  /** How long to wait for the veth link to come up, ms; default 5000. */
  readonly linkTimeoutMs?: number;
}

/** Options of {@link NetnsHosts.spawn}. */
export interface NetnsSpawnOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working folder; default this process's. */
  readonly cwd?: string;
  /** Default ["ignore", "pipe", "pipe"]. */
  readonly stdio?: StdioOptions;
}

/** Options of {@link NetnsHosts.exec}. */
export interface NetnsExecOptions {
  /** Added to this process's environment. */
  readonly env?: Readonly<Record<string, string>>;
  /** Working folder; default this process's. */
  readonly cwd?: string;
  /** Killed (SIGKILL) and rejected after this long, ms; default 30 000. */
  readonly timeoutMs?: number;
}

/** What a command run by {@link NetnsHosts.exec} left: its exit code (null if a signal ended it) and output. */
export interface NetnsExecResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Two hosts made by {@link createHosts}, and the means to run commands on them and remove them. */
export interface NetnsHosts {
  readonly hosts: readonly [NetnsHost, NetnsHost];
  /** Runs `command args...` in host `host`'s namespace and resolves when it has ended, whatever its exit code. */
  exec(host: NetnsHostIndex, command: string, args: readonly string[], options?: NetnsExecOptions): Promise<NetnsExecResult>;
  /** Starts `command args...` in host `host`'s namespace (through `ip netns exec`, which becomes the command). */
  spawn(host: NetnsHostIndex, command: string, args: readonly string[], options?: NetnsSpawnOptions): ChildProcess;
  /** Kills every process still in either namespace, then deletes both. Safe to call twice, and after a failed test. */
  destroy(): Promise<void>;
}

const kVeth = "shoal0";
const kDefaultLinkTimeoutMs = 5000;
const kDefaultExecTimeoutMs = 30_000;

let cachedAvailability: NetnsAvailability | undefined;

/**
 * Whether this process can make network namespaces: it runs as root, `ip` is installed, and a
 * throwaway namespace can be added, entered and deleted. Installs nothing; the answer is cached.
 *
 * @example
 * const netns = netnsAvailable();
 * describe.skipIf(!netns.ok)(`two hosts${netns.ok ? "" : ` (skipped: ${netns.why})`}`, () => {});
 */
export function netnsAvailable(): NetnsAvailability {
  cachedAvailability ??= probeNetns();
  return cachedAvailability;
}

function probeNetns(): NetnsAvailability {
  if (process.platform !== "linux") return { ok: false, why: `network namespaces need Linux, and this is ${process.platform}` };
  if (process.getuid?.() !== 0) return { ok: false, why: `network namespaces need root, and this process runs as uid ${String(process.getuid?.())}` };
  const probe = `shoal-probe-${process.pid}`;
  const added = spawnSync("ip", ["netns", "add", probe], { encoding: "utf8" });
  if (added.error !== undefined) {
    const missing = (added.error as NodeJS.ErrnoException).code === "ENOENT";
    return { ok: false, why: missing ? "the `ip` command is not installed (iproute2: run bash scripts/install-system-deps.sh)" : `ip netns add failed: ${added.error.message}` };
  }
  if (added.status !== 0) return { ok: false, why: `ip netns add ${probe} failed: ${added.stderr.trim()}` };
  try {
    const entered = spawnSync("ip", ["netns", "exec", probe, "ip", "link", "set", "lo", "up"], { encoding: "utf8" });
    if (entered.status !== 0) return { ok: false, why: `ip netns exec ${probe} failed: ${entered.stderr.trim() || entered.error?.message}` };
    return { ok: true };
  } finally {
    spawnSync("ip", ["netns", "delete", probe]);
  }
}

/** Namespaces made and not yet deleted, removed at exit if a test run ends without destroy(). */
const live = new Set<string>();
let exitHookInstalled = false;
let calls = 0;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const name of live) {
      for (const pid of pidsInSync(name)) killQuietly(pid);
      spawnSync("ip", ["netns", "delete", name]);
    }
  });
}

/**
 * Makes two hosts: two namespaces named `PREFIX-PID-N-a` and `-b`, joined by a veth pair with
 * addresses on a /30 of 10.77.0.0/16 chosen from the pid and a counter, with `lo` and the veth
 * ends up and the link carrying traffic. If a step fails, what was made is removed and it rejects
 * with the failing command and its message. Call {@link NetnsHosts.destroy} when done (in a
 * `finally` or `afterAll`).
 *
 * @example
 * const net = await createHosts();
 * const [a] = net.hosts;
 * const server = net.spawn(0, process.execPath, ["server.js", a.address]);
 * const client = await net.exec(1, process.execPath, ["client.js", a.address]);
 */
export async function createHosts(options: NetnsHostsOptions = {}): Promise<NetnsHosts> {
  const available = netnsAvailable();
  if (!available.ok) throw new Error(`createHosts: network namespaces are unavailable: ${available.why}`);
  installExitHook();
  const call = calls++;
  const base = `${options.prefix ?? "shoal"}-${process.pid}-${call}`;
  // 16384 subnets of four addresses: 256 pids (mod 256) times 64 calls each before one repeats.
  // Two pairs never share a namespace, so a repeat would still not collide; unique just reads better.
  const subnet = ((process.pid & 0xff) * 64 + (call & 0x3f)) * 4;
  const prefix = `10.77.${subnet >> 8}.`;
  const hosts = [
    { name: `${base}-a`, address: `${prefix}${(subnet & 0xff) + 1}` },
    { name: `${base}-b`, address: `${prefix}${(subnet & 0xff) + 2}` },
  ] as const;

  const made: string[] = [];
  try {
    for (const host of hosts) {
      await ip(["netns", "add", host.name]);
      made.push(host.name);
      live.add(host.name);
    }
    await ip(["link", "add", kVeth, "netns", hosts[0].name, "type", "veth", "peer", "name", kVeth, "netns", hosts[1].name]);
    for (const host of hosts) {
      await ip(["-n", host.name, "address", "add", `${host.address}/30`, "dev", kVeth]);
      await ip(["-n", host.name, "link", "set", "lo", "up"]);
      await ip(["-n", host.name, "link", "set", kVeth, "up"]);
    }
    for (const host of hosts) await waitForLinkUp(host.name, options.linkTimeoutMs ?? kDefaultLinkTimeoutMs);
  } catch (error) {
    await removeNamespaces(made);
    throw error;
  }

  let destroyed: Promise<void> | undefined;
  return {
    hosts,
    exec: (host, command, args, execOptions = {}) => execIn(hosts[host].name, command, args, execOptions),
    spawn: (host, command, args, spawnOptions = {}) => spawnIn(hosts[host].name, command, args, spawnOptions),
    destroy: () => (destroyed ??= removeNamespaces(made)),
  };
}

function spawnIn(namespace: string, command: string, args: readonly string[], options: NetnsSpawnOptions): ChildProcess {
  return spawn("ip", ["netns", "exec", namespace, command, ...args], {
    env: { ...process.env, ...options.env },
    ...(options.cwd === undefined ? {} : { cwd: options.cwd }),
    stdio: options.stdio ?? ["ignore", "pipe", "pipe"],
  });
}

function execIn(namespace: string, command: string, args: readonly string[], options: NetnsExecOptions): Promise<NetnsExecResult> {
  const timeoutMs = options.timeoutMs ?? kDefaultExecTimeoutMs;
  return new Promise((resolve, reject) => {
    const child = spawnIn(namespace, command, args, { ...options, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr!.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`in namespace ${namespace}: ${command} ${args.join(" ")} did not finish within ${timeoutMs} ms\nstdout:\n${stdout}\nstderr:\n${stderr}`));
    }, timeoutMs);
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs `ip args...` (in this namespace); rejects with its stderr unless it exits 0. */
function ip(args: readonly string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding("utf8").on("data", (chunk: string) => (stderr += chunk));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code === 0) resolve(stdout);
      else reject(new Error(`ip ${args.join(" ")}: expected exit code 0, got ${String(code)}: ${stderr.trim()}`));
    });
  });
}

async function waitForLinkUp(namespace: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  for (;;) {
    const [link] = JSON.parse(await ip(["-n", namespace, "-j", "link", "show", "dev", kVeth])) as { operstate?: string }[];
    if (link?.operstate === "UP") return;
    if (performance.now() > deadline) {
      throw new Error(`createHosts: expected ${kVeth} in ${namespace} to be UP within ${timeoutMs} ms, got ${String(link?.operstate)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function pidsInSync(namespace: string): number[] {
  const listed = spawnSync("ip", ["netns", "pids", namespace], { encoding: "utf8" });
  if (listed.status !== 0) return [];
  return listed.stdout.split(/\s+/).filter((word) => word !== "").map(Number);
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

/** Kills what runs in each namespace, waits (up to 5 s) for it to be gone, and deletes the namespace. */
async function removeNamespaces(names: readonly string[]): Promise<void> {
  const failures: string[] = [];
  for (const name of names) {
    const deadline = performance.now() + 5000;
    let pids = pidsInSync(name);
    while (pids.length > 0 && performance.now() < deadline) {
      for (const pid of pids) killQuietly(pid);
      await new Promise((resolve) => setTimeout(resolve, 10));
      pids = pidsInSync(name);
    }
    try {
      await ip(["netns", "delete", name]);
      live.delete(name);
    } catch (error) {
      failures.push((error as Error).message);
    }
    if (pids.length > 0) failures.push(`processes ${pids.join(", ")} were still in namespace ${name} 5 s after SIGKILL`);
  }
  if (failures.length > 0) throw new Error(`destroying namespaces: ${failures.join("; ")}`);
}
