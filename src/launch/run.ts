/**
 * The launcher of a one-process job: it builds the shared memory (the job control block and one
 * ring per PE), starts one worker thread per PE, runs the program on every PE through the
 * control plane (comlink), and turns any PE's failure into the end of the whole job.
 *
 * Failure handling: the first PE that fails (its program throws or rejects, it throws outside the
 * program, or its thread exits before the program finished) is reported with its error, the job's
 * abort flag is raised so every other PE rejects its pending handles at once, and the PEs still
 * running after `abortGraceMs` are stopped. The exit code is then 1.
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
import { createRingBuffer, jobControlBytes, signalAbort } from "../lamellae/index.js";
import type { PeControl, PeWorkerData } from "./worker.js";

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

  const control = new SharedArrayBuffer(jobControlBytes(pes));
  const rings = Array.from({ length: pes }, () => createRingBuffer(config.ringBytes));
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
  const fail = (pe: number, error: unknown): void => {
    exitCode = 1;
    const secondary = isPeFailure(error);
    if (!failed) {
      failed = true;
      signalAbort(control, rings, pe);
      graceTimer = setTimeout(() => {
        if (!primaryReported && heldBack !== undefined) report(heldBack);
        primaryReported = true;
        for (const [other, worker] of workers.entries()) if (!finished[other]) void worker.terminate();
      }, config.abortGraceMs);
    }
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

  const exits: Promise<void>[] = [];
  for (let pe = 0; pe < pes; pe++) {
    const data: PeWorkerData = {
      endpoint: { pe, numPes: pes, control, rings, portsOut: portsOut[pe]!, portsIn: portsIn[pe]! },
      config,
      localPes: pes,
      program,
      args: options.args ?? [],
    };
    const worker = new Worker(workerUrl, {
      workerData: data,
      transferList: [...portsOut[pe]!, ...portsIn[pe]!],
      name: `shoal PE ${pe}`,
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
  if (!primaryReported && heldBack !== undefined) report(heldBack);
  return exitCode;
}

/** Whether `error` is a PeFailureError, also after crossing the control plane as a plain Error. */
function isPeFailure(error: unknown): boolean {
  return error instanceof PeFailureError || (error instanceof Error && error.name === "PeFailureError");
}

function describeFailure(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}
