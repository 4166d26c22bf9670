export { fnv1a, alignUp, isPowerOfTwo } from "./bits.js";
