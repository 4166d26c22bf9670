/**
 * Loading shoal's native NNG addon (`native/nng/shoal_nng.c`, built by node-gyp into
 * `build/Release/shoal_nng.node`), and the contract between it and {@link NngSocket}.
 *
 * The addon hands received messages and pipe events to JavaScript in batches: one call per batch
 * with `items`, a `Uint32Array` of 5-word items, and `buffers`, the batch's `ArrayBuffer`s.
 *
 * ```
 * word  0: kind   1: pipe   2..4: by kind
 * kMessage       x: index in buffers (0: the packed buffer), y: byte offset, z: byte length
 * kConnected     x: 1 if dialed here, 0 if accepted; y: the dial request (0 if accepted)
 * kDisconnected  x: the NNG error that closed the pipe (0: closed by this side)
 * kDrained       the pipe's send queue is empty again
 * kDialFailed    pipe 0; x: the dial request, y: the NNG error
 * ```
 * The same table is at the top of the C file.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { readConfig } from "../../config/index.js";
import { TransportError } from "../../errors.js";

/** Item kinds of a batch from the addon (see the table above). @internal */
export const kNngItem = {
  message: 1,
  connected: 2,
  disconnected: 3,
  drained: 4,
  dialFailed: 5,
  /** A direct message (see direct.ts) that no PE's sink took: a message, for the IO worker. */
  direct: 6,
} as const;

/** Words per item of a batch. @internal */
export const kNngItemWords = 5;

/** The NNG error codes the TypeScript side acts on (libnng's `nng.h`). @internal */
export const kNngError = {
  ETIMEDOUT: 5,
  ECONNREFUSED: 6,
  ECLOSED: 7,
  EADDRINUSE: 10,
  ENOENT: 12,
  EMSGSIZE: 17,
  ECONNRESET: 19,
  ECONNSHUT: 31,
} as const;

/** The NNG error names, by code, for messages. */
const kNngErrorNames: Record<number, string> = {
  1: "NNG_EINTR", 2: "NNG_ENOMEM", 3: "NNG_EINVAL", 4: "NNG_EBUSY", 5: "NNG_ETIMEDOUT", 6: "NNG_ECONNREFUSED",
  7: "NNG_ECLOSED", 8: "NNG_EAGAIN", 9: "NNG_ENOTSUP", 10: "NNG_EADDRINUSE", 11: "NNG_ESTATE", 12: "NNG_ENOENT",
  13: "NNG_EPROTO", 14: "NNG_EUNREACHABLE", 15: "NNG_EADDRINVAL", 16: "NNG_EPERM", 17: "NNG_EMSGSIZE",
  18: "NNG_ECONNABORTED", 19: "NNG_ECONNRESET", 20: "NNG_ECANCELED", 21: "NNG_ENOFILES", 22: "NNG_ENOSPC",
  23: "NNG_EEXIST", 31: "NNG_ECONNSHUT",
};

/** The native socket (`Socket` of the addon); {@link NngSocket} is its only user. @internal */
export interface NativeNngSocket {
  /** Returns the bound TCP port (0 for other transports), or minus an NNG error. */
  listen(url: string): number;
  /** Starts a dial; the result comes as a `kConnected` or `kDialFailed` item. Returns 0 or minus an NNG error. */
  dial(url: string, request: number, timeoutMs: number): number;
  /** Queues a copy of `bytes`; returns the bytes now queued on the pipe, or minus an NNG error. */
  send(pipe: number, bytes: ArrayBufferView | ArrayBuffer): number;
  /** Asks for a `kDrained` item once the pipe's queue is empty; false when it is empty already. */
  flush(pipe: number): boolean;
  /** Closes one pipe (a `kDisconnected` item with reason 0 follows); false if it was not open. */
  closePipe(pipe: number): boolean;
  /** Closes everything now; idempotent. */
  close(): void;
  /** Whether the socket keeps the event loop alive. */
  ref(on: boolean): void;
  /** Delivers what has arrived now, through the batch callback; returns the number of items. */
  poll(): number;
  /** Makes this the process's socket for direct sends to process `rank` on `pipe` (0: none); false if another socket is. */
  share(rank: number, pipe: number): boolean;
  /** The IO worker has handed on the first `count` records (modulo 2^32) of local PE `localPe`. */
  handed(localPe: number, count: number): void;
  /** Queues `frame[0..frameLength)` behind the 16-byte `entry` as a direct message; the bytes now queued, or minus an NNG error. */
  sendDirect(pipe: number, entry: Uint8Array, frame: Uint8Array, frameLength: number): number;
}

/** A PE's sink for direct messages (`Sink` of the addon); {@link DirectLink} is its only user. @internal */
export interface NativeSink {
  /** Copies the next frame into `into`; returns its length, or -1 when none waits. */
  take(into: Uint8Array): number;
  /** Stops taking frames; idempotent. */
  close(): void;
}

/** The addon's exports. @internal */
export interface NngBinding {
  readonly Socket: new (
    onBatch: (items: Uint32Array, buffers: ArrayBuffer[]) => void,
    maxMessageBytes: number,
    sendBufferBytes: number,
    receiveBufferBytes: number,
  ) => NativeNngSocket;
  /** A sink for PE `pe`; `words` ([ASLEEP, PENDING]) on a SharedArrayBuffer; `onFrames` is called when frames arrive while it is committed to sleep. */
  readonly Sink: new (pe: number, words: Int32Array, onFrames: () => void) => NativeSink;
  /**
   * Sends a frame as a direct message on the process's shared socket: 0 when sent, 1 when it must
   * take the IO worker's lane instead (also when the connection has `limit` bytes queued), or
   * minus an NNG error.
   */
  directSend(localPe: number, rank: number, posted: number, entry: Uint8Array, frame: Uint8Array, frameLength: number, limit: number): number;
  /** NNG's text for an error code. */
  errorText(code: number): string;
  /** libnng's version, for example `1.5.2`. */
  version(): string;
}

/** `Connection refused (NNG_ECONNREFUSED)`: NNG's text and the code's name. @internal */
export function describeNngError(binding: NngBinding, code: number): string {
  return `${binding.errorText(code)} (${kNngErrorNames[code] ?? `NNG error ${code}`})`;
}

const kFix = "install libnng and build the addon: sudo bash scripts/install-system-deps.sh, then npm rebuild (or node scripts/build-native.mjs)";

/** The package's root: the first folder above this file with a package.json (works from src/ and dist/src/). */
function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const manifest = join(dir, "package.json");
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, "utf8")) as { name?: string }).name === "shoal") return dir;
    dir = dirname(dir);
  }
  return resolve(dirname(fileURLToPath(import.meta.url)), "../../..");
}

let cached: { path: string; result: NngBinding | TransportError } | undefined;

/**
 * Loads the NNG addon: from `path` if given, else from `SHOAL_NNG_ADDON`, else the package's
 * `build/Release/shoal_nng.node`. Returns the binding, or a {@link TransportError} that says why
 * the NNG transport is unavailable (not built, libnng missing, a broken file) and how to fix it;
 * it never throws. The result is cached per path.
 *
 * @example
 * ```ts
 * const nng = loadNng();
 * if (nng instanceof TransportError) throw nng; // "the NNG transport is unavailable: …"
 * console.log(nng.version()); // "1.5.2"
 * ```
 * @internal
 */
export function loadNng(path?: string): NngBinding | TransportError {
  const file = resolve(path ?? readConfig().nngAddon ?? join(packageRoot(), "build", "Release", "shoal_nng.node"));
  if (cached?.path === file) return cached.result;
  let result: NngBinding | TransportError;
  if (!existsSync(file)) {
    result = new TransportError(`the NNG transport is unavailable: its addon is not built (${file} does not exist; the build is skipped when libnng is missing). To fix it, ${kFix}`);
  } else {
    try {
      result = createRequire(import.meta.url)(file) as NngBinding;
      if (typeof result.Socket !== "function") throw new Error("it does not export Socket: is it shoal's NNG addon?");
    } catch (error) {
      const text = error instanceof Error ? error.message.split("\n")[0]! : String(error);
      const missingLibrary = /libnng\.so/.test(text);
      result = new TransportError(
        `the NNG transport is unavailable: ${missingLibrary ? "libnng is not installed" : "its addon could not be loaded"} (${file}: ${text}). To fix it, ${kFix}`,
      );
    }
  }
  cached = { path: file, result };
  return result;
}
