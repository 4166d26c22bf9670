export { kDefaultConfig, readConfig, readLauncherEnv } from "./env.js";
export type { LauncherEnv, ShoalConfig } from "./env.js";
