/**
 * The world: the team of every PE, with the distributed arrays on top. `init()` returns it.
 *
 * @module
 */
import { DistArray, type ArrayOptions, type Dtype } from "./array/index.js";
import { Team } from "./team/index.js";

/**
 * Every PE of the job, seen from one of them: active messages, APGAS, barriers (see {@link Team}),
 * and distributed arrays. Every PE gets its own `World` from {@link init}.
 *
 * @example
 * ```ts
 * import { defineAm, init } from "shoal";
 * const greet = defineAm("greet", (ctx, from: number) => `PE ${ctx.pe} greets PE ${from}`);
 * const world = await init();
 * console.log(await world.exec((world.pe + 1) % world.numPes, greet, world.pe));
 * await world.barrier();
 * ```
 */
export class World extends Team {
  /**
   * Collective: every PE must call it, with the same arguments, in the same order as its other
   * array creations. Creates a {@link DistArray} of `length` elements of `dtype`, zeroed, spread
   * over every PE by `options.dist` (`"block"`, the default, or `"cyclic"`).
   *
   * @example
   * ```ts
   * const table = await world.array("u32", 1 << 20, { dist: "cyclic" });
   * const big = await world.array("i64", 1000); // elements are bigints
   * ```
   */
  array<D extends Dtype>(dtype: D, length: number, options?: ArrayOptions): Promise<DistArray<D>> {
    return DistArray.create(this, dtype, length, options);
  }
}
