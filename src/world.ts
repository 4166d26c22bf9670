/**
 * The world: the team of every PE, with the distributed arrays on top. `init()` returns it.
 *
 * @module
 */
import { DistArray, type ArrayOptions, type Dtype } from "./array/index.js";
import { ShoalRangeError, ShoalTypeError, describeValue } from "./errors.js";
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
   * over every PE by `options.dist` (`"block"`, the default, or `"cyclic"`). With
   * `options.team`, over that team's members instead, by rank: only they call it, and the array's
   * element operations, reductions, scans and `barrier`s run on that team.
   *
   * @example
   * ```ts
   * const table = await world.array("u32", 1 << 20, { dist: "cyclic" });
   * const big = await world.array("i64", 1000); // elements are bigints
   * const half = (await world.split(world.pe % 2))!;
   * const mine = await world.array("f64", 100, { team: half }); // on the half this PE is in
   * ```
   */
  array<D extends Dtype>(dtype: D, length: number, options?: ArrayOptions): Promise<DistArray<D>> {
    const team = options?.team ?? this;
    if (!(team instanceof Team)) throw new ShoalTypeError(`world.array: expected options.team to be a team (from world.split, splitByNode, splitByModule or team), got ${describeValue(team)}`);
    if (team.rankOf(this.pe) < 0 && team !== this) throw new ShoalRangeError(`world.array: PE ${this.pe} is not a member of ${describeValue(team)}; only a team's members create its arrays`);
    return DistArray.create(team, dtype, length, options);
  }
}
