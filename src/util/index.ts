export { fnv1a, alignUp, isPowerOfTwo } from "./bits.js";
export { Deferred } from "./deferred.js";
