export { barrier } from "./barrier.js";
export { createCollectives } from "./algorithms.js";
export { mailboxSize } from "./mailbox.js";
