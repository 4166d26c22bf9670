export { kDefaultConfig, readConfig } from "./env.js";
export type { ShoalConfig } from "./env.js";
