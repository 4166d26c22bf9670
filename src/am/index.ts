export { Engine } from "./engine.js";
export type { EngineCounters } from "./engine.js";
export { defineActivity, defineAm, entryOf, freezeRegistry, registry } from "./registry.js";
export type { Activity, Am, AmContext, AmEntry, AmHandler, Registry } from "./registry.js";
export { currentScope } from "./scope.js";
