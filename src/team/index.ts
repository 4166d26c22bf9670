export { World } from "./world.js";
export type { AmArgs, WorldParts, WorldStats } from "./world.js";
