/**
 * The bootstrap of a process's IO worker thread (lamellae/io/service.ts): it connects this
 * process to the job's other processes (nng/mesh.ts), then carries frames until the launcher's
 * thread says the process's PEs have finished.
 *
 * Messages with the launcher's thread:
 * - to it: `{ type: "ready" }` once connected, `{ type: "error", message }` when the connections
 *   could not be made, `{ type: "failure", pe, reason }` when the job fails elsewhere, and
 *   `{ type: "closed", rejected, counters }` after a close, with the number of connections refused
 *   because they could not prove the job's token, and the IO worker's counters (which the launcher's
 *   thread prints with `SHOAL_IO_STATS=1`);
 * - from it: `{ type: "abort", pe, reason }` (a PE of this process failed) and `{ type: "close" }`.
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";

// The array layer's index would load all of it (Arrow included, some 130 ms) into a thread that
// needs only the server of far operations.
// eslint-disable-next-line no-restricted-imports
import { FarOpServer } from "../array/far-ops.js";
import { IoService, connectMesh, moduleWord, type IoCounters, type IoServiceOptions } from "../lamellae/index.js";

/**
 * What the launcher puts in the IO worker's `workerData`: the service's options that can cross
 * threads, and how to connect. @internal
 */
export interface IoWorkerData extends Omit<IoServiceOptions, "onFailure" | "server" | "sameModule"> {
  readonly root: string;
  readonly token: string;
  readonly listen: string | undefined;
  readonly connectTimeoutMs: number;
  /** Typed arrays of at least this many bytes travel by reference (`SHOAL_LARGE_BYTES`). */
  readonly largeBytes: number;
  readonly addonPath: string | undefined;
  readonly closeDrainMs: number;
}

/** What the IO worker tells the launcher's thread. @internal */
export type IoWorkerReport =
  | { readonly type: "ready" }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "failure"; readonly pe: number; readonly reason: string }
  | { readonly type: "closed"; readonly rejected: number; readonly counters: IoCounters };

/** What the launcher's thread tells the IO worker. @internal */
export type IoWorkerCommand = { readonly type: "abort"; readonly pe: number; readonly reason: string } | { readonly type: "close" };

const data = workerData as IoWorkerData;
const port = parentPort!;
const report = (message: IoWorkerReport): void => port.postMessage(message);
let rejected = (): number => 0;

// The module of process `rank`'s PEs: in the control block once init's barrier is over (every
// process's ARRIVE carried its PEs' modules, see lamellae/shm/job.ts), before any frame is sent.
const controlWords = new Int32Array(data.control);
const moduleOf = (rank: number): number => Atomics.load(controlWords, moduleWord(rank * data.pesPerProcess, data.size * data.pesPerProcess));

const service = new IoService({
  ...data,
  onFailure: (pe, reason) => report({ type: "failure", pe, reason }),
  server: new FarOpServer(data.largeBytes),
  // For the message-size histogram: frames to a process of another module count as `gw`.
  sameModule: (rank) => moduleOf(rank) === moduleOf(data.rank),
});

port.on("message", (command: IoWorkerCommand) => {
  if (command.type === "abort") {
    service.broadcastAbort(command.pe, command.reason);
  } else {
    void service.close(data.closeDrainMs).then(() => {
      report({ type: "closed", rejected: rejected(), counters: service.counters });
      port.close();
    });
  }
});

try {
  const mesh = await connectMesh({
    rank: data.rank,
    size: data.size,
    root: data.root,
    token: data.token,
    ...(data.listen === undefined ? {} : { listen: data.listen }),
    timeoutMs: data.connectTimeoutMs,
    onMessage: (rank, bytes, direct) => service.onMessage(rank, bytes, direct),
    onLost: (rank, reason) => service.onLost(rank, reason),
    onDrained: (rank) => service.onDrained(rank),
    ...(data.addonPath === undefined ? {} : { addonPath: data.addonPath }),
  });
  rejected = () => mesh.rejected;
  service.start(mesh);
  report({ type: "ready" });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  port.close();
}
