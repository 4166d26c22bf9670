/**
 * The launcher of one process of a job: it builds the shared memory (the process control block
 * and one ring per PE), starts one worker thread per PE, runs the program on every PE through the
 * control plane (comlink), and turns any PE's failure into the end of the whole job. In a job of
 * several processes it first starts the process's IO worker (io-thread.ts), which connects to the
 * other processes, and only then the PEs.
 *
 * Failure handling: the first PE that fails (its program throws or rejects, it throws outside the
 * program, or its thread exits before the program finished) is reported with its error, the abort
 * flag is raised so every other PE rejects its pending handles at once, the IO worker tells the
 * other processes, and the PEs still running after `abortGraceMs` are stopped. A failure reported
 * by another process (or the loss of one) ends this one the same way. The exit code is then 1.
 *
 * @module
 */
import { existsSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { MessageChannel, Worker, type MessagePort } from "node:worker_threads";

import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";

import { readConfig, type ShoalConfig } from "../config/index.js";
import { ConfigError, PeFailureError, ShoalRangeError } from "../errors.js";
import { createRingBuffer, jobControlBytes, signalAbort, type IoEndpoint } from "../lamellae/index.js";
import { MessageHistogram, formatHistogram, type HistogramShare } from "../stats/index.js";
import type { IoWorkerCommand, IoWorkerData, IoWorkerReport } from "./io-thread.js";
import type { PeControl, PeWorkerData } from "./worker.js";

/** This process's place in a job of several processes, and how it reaches the others. */
export interface ProcessOfJob {
  /** This process's rank, `0 <= rank < size`. */
  readonly rank: number;
  /** The number of processes. */
  readonly size: number;
  /** Where rank 0 listens (`SHOAL_ROOT`). */
  readonly root: string;
  /** Where this rank listens for ranks above it (ranks 1..size-2). */
  readonly listen: string | undefined;
  /** The job's secret. */
  readonly token: string;
  /** PEs on this host, for the spin policy (processes on this host × PEs per process). */
  readonly hostPes: number;
  /** What names this process's node in the job's topology (placement.ts, `nodeKeyOf`). */
  readonly nodeKey: string;
}

/**
 * The threads of this job that poll on this host: every process's PEs and its IO worker. With more
 * than cores, nobody polls (a polling thread would take the core of one that has work).
 */
function hostThreads(job: ProcessOfJob, pes: number): number {
  return job.hostPes + job.hostPes / pes;
}

/** What {@link runJob} takes. */
export interface RunJobOptions {
  /** Number of PEs (worker threads). */
  readonly pes: number;
  /** Path of the program every PE runs (`.js`, `.mjs`, or `.ts` run through tsx). */
  readonly program: string;
  /** Arguments the program sees in `process.argv.slice(2)`. */
  readonly args?: readonly string[];
  /** Settings; read from the environment when absent. */
  readonly config?: ShoalConfig;
  /** Where the launcher's own reports go (default: stderr). */
  readonly report?: (line: string) => void;
  /** In a job of several processes: this process's part (then `pes` is the PEs of this process). */
  readonly process?: ProcessOfJob;
}

/** The largest number of PEs one process can hold (the frame header's 16-bit PE field). */
export const kMaxPes = 65535;

/**
 * Runs `program` on `pes` PEs in this process, and resolves to the job's exit code: 0 when every
 * PE finished its program, 1 when any failed.
 */
export async function runJob(options: RunJobOptions): Promise<number> {
  const { pes } = options;
  if (!Number.isInteger(pes) || pes < 1 || pes > kMaxPes) {
    throw new ShoalRangeError(`-n: expected a number of PEs in 1..${kMaxPes}, got ${String(pes)}`);
  }
  const program = resolve(options.program);
  if (!existsSync(program) || !statSync(program).isFile()) {
    throw new ConfigError(`no program at ${program}: give the path of a .js or .ts file`);
  }
  const config = options.config ?? readConfig();
  const report = options.report ?? ((line: string) => process.stderr.write(`${line}\n`));

  const job = options.process;
  const firstPe = job === undefined ? 0 : job.rank * pes;
  const numPes = job === undefined ? pes : job.size * pes;
  if (numPes > kMaxPes) {
    throw new ShoalRangeError(`a job of ${job!.size} processes × ${pes} PEs has ${numPes} PEs, more than ${kMaxPes}; use fewer`);
  }
  const control = new SharedArrayBuffer(jobControlBytes(numPes));
  const rings = Array.from({ length: pes }, () => createRingBuffer(config.ringBytes));
  // SHOAL_HISTOGRAM=1: one row per PE of this process, counted by the PEs and the IO worker.
  const histogram = config.histogram === undefined ? undefined : MessageHistogram.create(config.histogram, pes);
  // channels[s][d]: large payloads from PE s to PE d.
  const portsOut: MessagePort[][] = Array.from({ length: pes }, () => []);
  const portsIn: MessagePort[][] = Array.from({ length: pes }, () => []);
  for (let s = 0; s < pes; s++) {
    for (let d = 0; d < pes; d++) {
      const channel = new MessageChannel();
      portsOut[s]![d] = channel.port1;
      portsIn[d]![s] = channel.port2;
    }
  }
  const io = job === undefined ? undefined : await startIoWorker(job, pes, control, rings, config, histogram?.share());
  if (io !== undefined && "error" in io) {
    report(`shoal: process ${job!.rank} of ${job!.size} could not connect to the job's other processes: ${io.error}`);
    return 1;
  }
  // The rings signalAbort wakes: every PE's, and the IO worker's.
  const wakeRings = io === undefined ? rings : [...rings, io.ring];

  const workerUrl = new URL("./worker.js", import.meta.url);
  const workers: Worker[] = [];
  const finished: boolean[] = new Array<boolean>(pes).fill(false);
  let exitCode = 0;
  let failed = false;
  let graceTimer: NodeJS.Timeout | undefined;

  // The first failure ends the job. A PeFailureError only says that another PE failed: the
  // culprit's own error is what the report must show, so a secondary one that arrives first is
  // held back and printed only if the culprit never reports (its thread was lost).
  let primaryReported = false;
  let heldBack: string | undefined;
  const endJob = (failedPe: number): void => {
    exitCode = 1;
    if (failed) return;
    failed = true;
    signalAbort(control, wakeRings, failedPe);
    graceTimer = setTimeout(() => {
      if (!primaryReported && heldBack !== undefined) report(heldBack);
      primaryReported = true;
      for (const [other, worker] of workers.entries()) if (!finished[other]) void worker.terminate();
    }, config.abortGraceMs);
  };
  // The other processes hear of the first failure that is not only "another PE failed": a PE
  // raises the abort flag itself before its launcher hears of it, so a secondary failure of a PE
  // of this process may arrive first.
  let abortSent = false;
  const fail = (local: number, error: unknown): void => {
    const pe = firstPe + local;
    const secondary = isPeFailure(error);
    if (!abortSent && !secondary && io !== undefined) {
      abortSent = true;
      io.command({ type: "abort", pe, reason: firstLine(error) });
    }
    endJob(pe);
    if (secondary) {
      heldBack ??= `shoal: PE ${pe} failed: ${describeFailure(error)}`;
      return;
    }
    if (!primaryReported) {
      primaryReported = true;
      report(`shoal: PE ${pe} failed: ${describeFailure(error)}`);
      report(`shoal: ending the job (the other PEs are stopped within ${config.abortGraceMs} ms)`);
    } else {
      report(`shoal: PE ${pe} also failed: ${describeFailure(error)}`);
    }
  };
  let ioReported = (): void => {};
  const ioReport = new Promise<void>((resolve) => {
    ioReported = resolve;
  });
  io?.onFailure((pe, reason) => {
    ioReported();
    if (!failed && finished.every(Boolean)) return;
    abortSent = true; // the other processes know already
    endJob(pe);
    if (!primaryReported) {
      primaryReported = true;
      report(`shoal: process ${job!.rank}: ${/^process \d+ /.test(reason) ? reason : `PE ${pe} failed: ${reason}`}`);
      report(`shoal: ending the job (the PEs of process ${job!.rank} are stopped within ${config.abortGraceMs} ms)`);
    }
  });

  const exits: Promise<void>[] = [];
  for (let pe = 0; pe < pes; pe++) {
    const ioEndpoint = io?.endpoints[pe];
    const data: PeWorkerData = {
      endpoint: {
        pe: firstPe + pe, numPes, firstPe, control, rings, portsOut: portsOut[pe]!, portsIn: portsIn[pe]!,
        ...(ioEndpoint === undefined ? {} : { io: ioEndpoint }),
        ...(histogram === undefined ? {} : { histogram: histogram.share() }),
      },
      config,
      // Threads that want a core on this host: its PEs, and one IO worker per process.
      localPes: job === undefined ? pes : hostThreads(job, pes),
      ...(job === undefined ? {} : { nodeKey: job.nodeKey }),
      program,
      args: options.args ?? [],
    };
    const worker = new Worker(workerUrl, {
      workerData: data,
      transferList: [...portsOut[pe]!, ...portsIn[pe]!, ...(ioEndpoint === undefined ? [] : [ioEndpoint.toIo, ioEndpoint.fromIo])],
      name: `shoal PE ${firstPe + pe}`,
    });
    workers.push(worker);
    exits.push(new Promise<void>((resolveExit) => {
      worker.on("error", (error) => fail(pe, error));
      worker.on("exit", (code) => {
        if (!finished[pe]) {
          finished[pe] = true;
          if (!failed || code !== 1) fail(pe, new Error(`its thread exited (code ${code}) before its program finished`));
        }
        resolveExit();
      });
    }));
    const remote = Comlink.wrap<PeControl>(nodeEndpoint(worker));
    remote.run().then(
      () => {
        finished[pe] = true;
        void remote.shutdown();
      },
      (error: unknown) => {
        fail(pe, error);
        finished[pe] = true;
        void worker.terminate();
      },
    );
  }
  await Promise.all(exits);
  if (graceTimer !== undefined) clearTimeout(graceTimer);
  if (!primaryReported && heldBack !== undefined && io !== undefined) {
    // The PEs ended on an abort their IO worker raised (another process failed or was lost): its
    // report, which names the culprit, may still be on its way to this thread.
    const failedPe = Atomics.load(new Int32Array(control), 0) - 1;
    if (failedPe - firstPe >>> 0 >= pes) await Promise.race([ioReport, new Promise((resolve) => setTimeout(resolve, kIoReportWaitMs))]);
  }
  if (!primaryReported && heldBack !== undefined) report(heldBack);
  if (io !== undefined) {
    if (failed && !abortSent) {
      const failedPe = Atomics.load(new Int32Array(control), 0) - 1;
      io.command({ type: "abort", pe: failedPe, reason: heldBack ?? `PE ${failedPe} failed` });
    }
    await io.close();
  }
  // The histogram is printed here, by the process's main thread, rather than by a PE or the IO
  // worker as it closes: only once every PE's thread and the IO worker have ended is every frame
  // of the process counted and no counter still moving; this thread alone sees all of the
  // process's rows; and its table comes after everything the program printed (each PE flushed its
  // output before it finished). One write, so the table's lines stay together.
  if (histogram !== undefined) {
    const rank = job?.rank ?? 0;
    report(formatHistogram(histogram.snapshot(), `shoal: message histogram of process ${rank} of ${job?.size ?? 1} (PEs ${firstPe}..${firstPe + pes - 1})`));
  }
  return exitCode;
}

/** How long a process whose PEs ended on another process's failure waits for its IO worker to say which. */
const kIoReportWaitMs = 2000;

/** A started IO worker, seen from the launcher's thread. */
interface IoWorker {
  readonly ring: SharedArrayBuffer;
  /** What each local PE needs to reach it. */
  readonly endpoints: readonly IoEndpoint[];
  command(command: IoWorkerCommand): void;
  onFailure(listener: (pe: number, reason: string) => void): void;
  /** Says goodbye to the other processes and waits for the thread to end. */
  close(): Promise<void>;
}

/** How long a finishing IO worker waits for its last messages to leave, in ms. */
const kCloseDrainMs = 2000;

/** Starts this process's IO worker and waits until it has connected to every other process. */
async function startIoWorker(
  job: ProcessOfJob, pes: number, control: SharedArrayBuffer, rings: readonly SharedArrayBuffer[], config: ShoalConfig,
  histogram: HistogramShare | undefined,
): Promise<IoWorker | { error: string }> {
  const ring = createRingBuffer(config.ringBytes);
  const endpoints: IoEndpoint[] = [];
  // The direct lanes bypass the IO worker, which counts the histogram's frames between processes.
  const counted = histogram === undefined ? undefined : MessageHistogram.attach(histogram);
  const direct = config.direct && !(counted !== undefined && (counted.counts("ipc") || counted.counts("tcp") || counted.counts("gw")));
  const fromPe: MessagePort[] = [];
  const toPe: MessagePort[] = [];
  for (let pe = 0; pe < pes; pe++) {
    const up = new MessageChannel();
    const down = new MessageChannel();
    endpoints.push({ ring, toIo: up.port1, fromIo: down.port2, direct });
    fromPe.push(up.port2);
    toPe.push(down.port1);
  }
  const data: IoWorkerData = {
    rank: job.rank, size: job.size, root: job.root, token: job.token, listen: job.listen,
    connectTimeoutMs: config.connectTimeoutMs, pesPerProcess: pes, control, rings, ring, fromPe, toPe,
    mtu: config.mtu, spinUs: hostThreads(job, pes) > config.cores ? 0 : config.spinUs,
    largeBytes: config.largeBytes, addonPath: config.nngAddon, closeDrainMs: kCloseDrainMs,
    heartbeatMs: config.heartbeatMs, heartbeatTimeoutMs: config.heartbeatTimeoutMs, direct,
    ...(histogram === undefined ? {} : { histogram }),
  };
  const worker = new Worker(new URL("./io-thread.js", import.meta.url), {
    workerData: data, transferList: [...fromPe, ...toPe], name: `shoal IO worker of process ${job.rank}`,
  });
  const listeners: ((pe: number, reason: string) => void)[] = [];
  let early: { pe: number; reason: string } | undefined;
  let closed: (() => void) | undefined;
  const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
  const ready = new Promise<{ error: string } | undefined>((resolve) => {
    worker.on("message", (message: IoWorkerReport) => {
      switch (message.type) {
        case "ready":
          resolve(undefined);
          break;
        case "error":
          resolve({ error: message.message });
          break;
        case "failure":
          if (listeners.length === 0) early ??= { pe: message.pe, reason: message.reason };
          for (const listener of listeners) listener(message.pe, message.reason);
          break;
        case "closed":
          if (message.rejected > 0) {
            process.stderr.write(`shoal: process ${job.rank} refused ${message.rejected} connection${message.rejected === 1 ? "" : "s"} that did not prove the job's token\n`);
          }
          // SHOAL_IO_STATS=1: one line, JSON, for scripts and tests (congestions: back-pressure engaged).
          if (config.ioStats) process.stderr.write(`shoal: IO worker of process ${job.rank} of ${job.size}: ${JSON.stringify(message.counters)}\n`);
          closed?.();
          break;
      }
    });
    worker.on("error", (error) => resolve({ error: `its IO worker failed: ${describeFailure(error)}` }));
    void exited.then(() => resolve({ error: "its IO worker exited before it connected" }));
  });
  const problem = await ready;
  if (problem !== undefined) {
    await worker.terminate();
    return problem;
  }
  return {
    ring,
    endpoints,
    command: (command) => worker.postMessage(command),
    onFailure: (listener) => {
      listeners.push(listener);
      if (early !== undefined) listener(early.pe, early.reason);
    },
    close: async () => {
      const done = new Promise<void>((resolve) => (closed = resolve));
      worker.postMessage({ type: "close" } satisfies IoWorkerCommand);
      await Promise.race([Promise.all([done, exited]), new Promise((resolve) => setTimeout(resolve, kCloseDrainMs + 1000).unref())]);
      await worker.terminate();
    },
  };
}

function firstLine(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** Whether `error` is a PeFailureError, also after crossing the control plane as a plain Error. */
function isPeFailure(error: unknown): boolean {
  return error instanceof PeFailureError || (error instanceof Error && error.name === "PeFailureError");
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
