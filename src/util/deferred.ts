/**
 * A promise with its `resolve` and `reject` exposed, without allocating a closure per use
 * beyond the executor (Node 20 has no `Promise.withResolvers`).
 */
export class Deferred<T> {
  readonly promise: Promise<T>;
  resolve!: (value: T) => void;
  reject!: (reason: unknown) => void;

  constructor() {
    this.promise = new Promise<T>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }
}
