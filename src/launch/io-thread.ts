/**
 * The bootstrap of a process's IO worker thread (lamellae/io/service.ts): it connects this
 * process to the job's other processes (nng/mesh.ts), then carries frames until the launcher's
 * thread says the process's PEs have finished.
 *
 * Messages with the launcher's thread:
 * - to it: `{ type: "ready" }` once connected, `{ type: "error", message }` when the connections
 *   could not be made, `{ type: "failure", pe, reason }` when the job fails elsewhere, and
 *   `{ type: "closed", rejected }` after a close, with the number of connections refused because
 *   they could not prove the job's token;
 * - from it: `{ type: "abort", pe, reason }` (a PE of this process failed) and `{ type: "close" }`.
 *
 * @module
 */
import { parentPort, workerData, type MessagePort } from "node:worker_threads";

import { IoService, connectMesh } from "../lamellae/index.js";

/** What the launcher puts in the IO worker's `workerData`. @internal */
export interface IoWorkerData {
  readonly rank: number;
  readonly size: number;
  readonly root: string;
  readonly token: string;
  readonly listen: string | undefined;
  readonly connectTimeoutMs: number;
  readonly pesPerProcess: number;
  readonly control: SharedArrayBuffer;
  readonly rings: readonly SharedArrayBuffer[];
  readonly ring: SharedArrayBuffer;
  readonly fromPe: readonly MessagePort[];
  readonly toPe: readonly MessagePort[];
  readonly mtu: number;
  readonly spinUs: number;
  readonly addonPath: string | undefined;
  readonly closeDrainMs: number;
}

/** What the IO worker tells the launcher's thread. @internal */
export type IoWorkerReport =
  | { readonly type: "ready" }
  | { readonly type: "error"; readonly message: string }
  | { readonly type: "failure"; readonly pe: number; readonly reason: string }
  | { readonly type: "closed"; readonly rejected: number };

/** What the launcher's thread tells the IO worker. @internal */
export type IoWorkerCommand = { readonly type: "abort"; readonly pe: number; readonly reason: string } | { readonly type: "close" };

const data = workerData as IoWorkerData;
const port = parentPort!;
const report = (message: IoWorkerReport): void => port.postMessage(message);
let rejected = (): number => 0;

const service = new IoService({
  rank: data.rank,
  size: data.size,
  pesPerProcess: data.pesPerProcess,
  control: data.control,
  rings: data.rings,
  ring: data.ring,
  fromPe: data.fromPe,
  toPe: data.toPe,
  mtu: data.mtu,
  spinUs: data.spinUs,
  onFailure: (pe, reason) => report({ type: "failure", pe, reason }),
});

port.on("message", (command: IoWorkerCommand) => {
  if (command.type === "abort") {
    service.broadcastAbort(command.pe, command.reason);
  } else {
    void service.close(data.closeDrainMs).then(() => {
      report({ type: "closed", rejected: rejected() });
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
    onMessage: (rank, bytes) => service.onMessage(rank, bytes),
    onLost: (rank, reason) => service.onLost(rank, reason),
    ...(data.addonPath === undefined ? {} : { addonPath: data.addonPath }),
  });
  rejected = () => mesh.rejected;
  service.start(mesh);
  report({ type: "ready" });
} catch (error) {
  report({ type: "error", message: error instanceof Error ? error.message : String(error) });
  port.close();
}
