/**
 * 01: hello. Every PE sends a greeting to every PE (including itself) with an active message,
 * and prints the replies it got, in PE order.
 *
 *   npx shoal run -n 4 examples/01-hello.ts
 */
import { defineAm, init } from "shoal";

const greet = defineAm("greet", (ctx, from: number) => `PE ${ctx.pe} greets PE ${from}`);

const world = await init();
const replies = await world.execAll(greet, world.pe);
console.log(`PE ${world.pe} of ${world.numPes} got: ${replies.join("; ")}`);
await world.barrier();
