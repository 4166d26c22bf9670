export { barrier } from "./barrier.js";
