/**
 * The bootstrap of a PE worker thread: it takes its job from `workerData`, exposes the control
 * plane to the launcher through comlink, and on `run()` imports the user's program (TypeScript
 * through tsx), then closes the world (wait for this PE's messages, final barrier).
 *
 * @module
 */
import { parentPort, workerData } from "node:worker_threads";
import { pathToFileURL } from "node:url";

import * as Comlink from "comlink";
import nodeEndpoint from "comlink/dist/esm/node-adapter.mjs";

import { signalAbort } from "../lamellae/index.js";
import { currentWorld, init, setPeContext, type PeContext } from "../init.js";
import type { WorldStats } from "../team/index.js";

/** What the launcher puts in `workerData`. @internal */
export interface PeWorkerData extends PeContext {
  readonly program: string;
  readonly args: readonly string[];
}

/** The control plane of one PE, called by the launcher over comlink. @internal */
export interface PeControl {
  run(): Promise<void>;
  stats(): Promise<WorldStats | undefined>;
  shutdown(): void;
}

const data = workerData as PeWorkerData;
setPeContext(data);

const isTypeScript = /\.[mc]?tsx?$/.test(data.program);

function markFailed(): void {
  signalAbort(data.endpoint.control, data.endpoint.rings, data.endpoint.pe);
}

const control: PeControl = {
  async run(): Promise<void> {
    process.argv = [process.argv[0]!, data.program, ...data.args];
    try {
      if (isTypeScript) {
        const { register } = await import("tsx/esm/api");
        register();
      }
      await import(pathToFileURL(data.program).href);
      const world = await init();
      await world.close();
      // A worker's stdout reaches the process through its parent thread: let what the program
      // printed be handed over before the launcher ends this thread.
      await new Promise<void>((resolve) => process.stdout.write("", () => resolve()));
      await new Promise<void>((resolve) => process.stderr.write("", () => resolve()));
    } catch (error) {
      markFailed();
      throw error;
    }
  },
  async stats(): Promise<WorldStats | undefined> {
    const world = currentWorld();
    return world === undefined ? undefined : (await world).stats();
  },
  shutdown(): void {
    setImmediate(() => parentPort!.close());
  },
};

Comlink.expose(control, nodeEndpoint(parentPort!));
