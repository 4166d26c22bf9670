export { kDefaultConfig, readConfig, readLauncherEnv } from "./env.js";
export type { HistogramConfig, LauncherEnv, ShoalConfig } from "./env.js";
