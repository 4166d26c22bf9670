export { Team } from "./team.js";
export type { AmArgs, TeamParts, WorldStats } from "./team.js";
