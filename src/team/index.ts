export { Team } from "./team.js";
export type { AmArgs, CollectiveOps, ReductionOp, StridedShape, TeamMembers, TeamParts, WorldStats } from "./team.js";
export { Topology } from "./topology.js";
export type { PeLocation, ProcessLocation } from "./topology.js";
export type { Algorithm, CollectivePlan, LevelPlan, LinkKind, PlannedOp } from "./plan.js";
