/**
 * Activity scopes: how `finish` knows that everything spawned inside it, on any PE, has completed.
 *
 * Each running activity has a scope that counts its children still running. A `finish` body is
 * the root scope. An AM sent from inside a scope is *tracked*: the scope's count goes up, the
 * destination runs the handler in a child scope, and when the handler has returned and its own
 * children have completed, the destination sends DONE back, carrying the first error of that
 * subtree; the count goes down. A scope completes when its body has returned and its count is
 * zero, so the root completes exactly when the whole tree has.
 *
 * The current scope follows async code through `AsyncLocalStorage`, which is created on first
 * use: programs that never call `finish` pay nothing for it.
 *
 * @module
 */
import { AsyncLocalStorage } from "node:async_hooks";

/** One activity's count of running children. @internal */
export class Scope {
  pending = 0;
  bodyDone = false;
  error: unknown = undefined;
  readonly #onComplete: (scope: Scope) => void;

  constructor(onComplete: (scope: Scope) => void) {
    this.#onComplete = onComplete;
  }

  /** A child was spawned. */
  spawned(): void {
    this.pending++;
  }

  /** A child (and its subtree) completed, with the first error of its subtree, if any. */
  childDone(error: unknown): void {
    this.pending--;
    this.fail(error);
    this.#check();
  }

  /** The body returned (or threw `error`). */
  bodyFinished(error: unknown): void {
    this.bodyDone = true;
    this.fail(error);
    this.#check();
  }

  /** Records `error` if it is the first. */
  fail(error: unknown): void {
    if (error !== undefined && this.error === undefined) this.error = error;
  }

  #check(): void {
    if (this.bodyDone && this.pending === 0) this.#onComplete(this);
  }
}

let storage: AsyncLocalStorage<Scope> | undefined;

/** The scope of the running activity, or undefined outside any `finish`. @internal */
export function currentScope(): Scope | undefined {
  return storage === undefined ? undefined : storage.getStore();
}

/** Runs `fn` with `scope` as the current scope. @internal */
export function runInScope<T>(scope: Scope, fn: () => T): T {
  storage ??= new AsyncLocalStorage<Scope>();
  return storage.run(scope, fn);
}

/**
 * Calls `fn(a, b)` outside any scope. Handlers of untracked messages run this way: the progress
 * loop may have been scheduled from inside a `finish`, and its scope must not leak into work that
 * `finish` did not spawn.
 * @internal
 */
export function runOutsideScope<A, B, R>(fn: (a: A, b: B) => R, a: A, b: B): R {
  return storage === undefined ? fn(a, b) : storage.exit(fn, a, b);
}
