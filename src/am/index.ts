export { Engine } from "./engine.js";
export type { EngineCounters } from "./engine.js";
export { defineActivity, defineAm, entryOf, freezeRegistry, markServable, registry } from "./registry.js";
export type { Activity, Am, AmContext, AmEntry, AmHandler, Registry } from "./registry.js";
export { currentScope } from "./scope.js";
export { FrameReader, FrameWriter, handOverArray, releaseHandOver } from "./codec.js";
export type { LargeChannel } from "./codec.js";
export { MessageKind, kFlagReplyWanted, kMessageHeaderBytes } from "./protocol.js";
export type { ErrorInfo } from "./protocol.js";
