/**
 * The error classes of shoal. Every error has a stable `code`, and its message says what was
 * expected, what came, and what to do.
 *
 * @module
 */

/**
 * The stable codes of {@link ShoalError} and its subclasses.
 *
 * @example
 * ```ts
 * try { await a.load(-1); } catch (error) {
 *   if (error instanceof ShoalError && error.code === "ERR_SHOAL_RANGE") console.log(error.message);
 * }
 * ```
 */
export type ShoalErrorCode =
  | "ERR_SHOAL"
  | "ERR_SHOAL_RANGE"
  | "ERR_SHOAL_TYPE"
  | "ERR_SHOAL_ENCODE"
  | "ERR_SHOAL_REGISTRY"
  | "ERR_SHOAL_REMOTE"
  | "ERR_SHOAL_PE_FAILURE"
  | "ERR_SHOAL_TRANSPORT"
  | "ERR_SHOAL_CONFIG"
  | "ERR_SHOAL_TIMEOUT"
  | "ERR_SHOAL_STATE"
  | "ERR_SHOAL_COLLECTIVE";

/**
 * The base class of every error shoal throws.
 *
 * @example
 * ```ts
 * try { await world.exec(99, greet, 0); }
 * catch (e) { if (e instanceof ShoalError) console.error(e.code, e.message); }
 * ```
 */
export class ShoalError extends Error {
  /** A stable code naming the kind of error, for example `ERR_SHOAL_RANGE`. */
  readonly code: ShoalErrorCode;

  constructor(message: string, code: ShoalErrorCode = "ERR_SHOAL", options?: ErrorOptions) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }
}

/**
 * A number out of its valid range: a PE number, an index, a size.
 *
 * @example
 * ```ts
 * world.exec(world.numPes, greet, 0); // throws ShoalRangeError: expected a PE in 0..3, got 4
 * ```
 */
export class ShoalRangeError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_RANGE");
  }
}

/**
 * A value of the wrong kind for the call it was given to.
 *
 * @example
 * ```ts
 * world.exec(0.5, greet, 0); // throws ShoalTypeError: expected an integer PE number, got 0.5
 * ```
 */
export class ShoalTypeError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_TYPE");
  }
}

/**
 * A value that cannot travel between PEs (a function, a symbol, a class instance), found before
 * anything was sent.
 *
 * @example
 * ```ts
 * world.exec(1, greet, () => 1); // throws EncodeError: cannot send a function (at arg)
 * ```
 */
export class EncodeError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_ENCODE");
  }
}

/**
 * A problem with the active-message registry: a duplicate name, a definition after `init()`, an
 * AM that was never registered, or PEs that registered different sets.
 *
 * @example
 * ```ts
 * defineAm("greet", f); defineAm("greet", g); // throws RegistryError: "greet" is defined twice
 * ```
 */
export class RegistryError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_REGISTRY");
  }
}

/**
 * An active message or activity that threw on the PE that ran it. It carries that PE, the AM's
 * name, and the remote error's name, message and stack (also in `remoteStack`).
 *
 * @example
 * ```ts
 * try { await world.exec(1, mayThrow, 0); }
 * catch (e) { if (e instanceof RemoteError) console.error(e.pe, e.am, e.remoteStack); }
 * ```
 */
export class RemoteError extends ShoalError {
  /** The PE on which the handler threw. */
  readonly pe: number;
  /** The name of the active message or activity that threw. */
  readonly am: string;
  /** The `name` of the error thrown on the remote PE (`TypeError`, `RangeError`, …). */
  readonly remoteName: string;
  /** The message of the error thrown on the remote PE. */
  readonly remoteMessage: string;
  /** The stack of the error on the remote PE, as text. */
  readonly remoteStack: string;

  constructor(pe: number, am: string, remoteName: string, remoteMessage: string, remoteStack: string) {
    super(`${remoteName} in active message "${am}" on PE ${pe}: ${remoteMessage}`, "ERR_SHOAL_REMOTE");
    this.pe = pe;
    this.am = am;
    this.remoteName = remoteName;
    this.remoteMessage = remoteMessage;
    this.remoteStack = remoteStack;
    this.stack = `${this.name}: ${this.message}\n    --- on PE ${pe} ---\n${remoteStack}`;
  }
}

/**
 * Another PE failed (threw at top level, or exited), so the job is ending; every pending handle on
 * every PE is rejected with this error.
 *
 * @example
 * ```ts
 * // on PE 0, while PE 2 throws at top level:
 * await world.barrier(); // rejects with PeFailureError: PE 2 failed: Error: boom
 * ```
 */
export class PeFailureError extends ShoalError {
  /** The PE that failed first. */
  readonly failedPe: number;

  constructor(failedPe: number, detail: string) {
    super(`PE ${failedPe} failed, so the job is ending: ${detail}`, "ERR_SHOAL_PE_FAILURE");
    this.failedPe = failedPe;
  }
}

/**
 * A transport could not move bytes: a frame larger than the transport can carry, a channel closed.
 *
 * @example
 * ```ts
 * // thrown by the runtime, never constructed by users
 * ```
 */
export class TransportError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_TRANSPORT");
  }
}

/**
 * A `SHOAL_*` variable or an option that has a value shoal cannot use.
 *
 * @example
 * ```ts
 * // SHOAL_SPIN_US=fast node app.js
 * // ConfigError: SHOAL_SPIN_US: expected an integer of at least 0, got "fast"; unset it to use the default 5000
 * ```
 */
export class ConfigError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_CONFIG");
  }
}

/**
 * A call made when shoal is not in a state to take it: `defineAm` after `init()`, a call on a
 * world that has shut down.
 *
 * @example
 * ```ts
 * const world = await init();
 * defineAm("late", f); // throws StateError: define active messages before init()
 * ```
 */
export class StateError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_STATE");
  }
}

/**
 * A collective call that cannot complete: a member passed input that does not fit the others'
 * (another length, a bad root, a wrong number of parts) or a team shape that differs. Every member
 * of the call gets it, with the same reason, instead of waiting forever.
 *
 * @example
 * ```ts
 * try { await world.allreduce(new Float64Array(world.pe + 1), "sum"); }
 * catch (e) { if (e instanceof CollectiveError) console.error(e.message); } // lengths differ
 * ```
 */
export class CollectiveError extends ShoalError {
  constructor(message: string) {
    super(message, "ERR_SHOAL_COLLECTIVE");
  }
}

/** Turns anything thrown into an `Error`, keeping an `Error` as it is. @internal */
export function toError(value: unknown): Error {
  if (value instanceof Error) return value;
  return new Error(typeof value === "string" ? value : `non-Error value thrown: ${describeValue(value)}`);
}

/** A short description of a value for error messages: its type and, if short, its text. @internal */
export function describeValue(value: unknown): string {
  if (value === null) return "null";
  switch (typeof value) {
    case "string":
      return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}…` : value);
    case "number":
    case "boolean":
    case "undefined":
      return String(value);
    case "bigint":
      return `${value}n`;
    case "function":
      return `a function${value.name ? ` (${value.name})` : ""}`;
    case "symbol":
      return `a symbol (${value.description ?? ""})`;
    default: {
      const proto: unknown = Object.getPrototypeOf(value);
      const ctor = proto !== null && typeof proto === "object" ? (proto as { constructor?: { name?: string } }).constructor : undefined;
      return `an object (${ctor?.name ?? "null prototype"})`;
    }
  }
}
