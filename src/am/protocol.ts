/**
 * The active-message protocol: the messages inside a frame. Every message starts with the same
 * 8-byte header, then (for some kinds) one value in the codec's format (codec.ts).
 *
 * ```
 * offset  size  field
 *      0     1  u8  kind (below)
 *      1     1  u8  flags (below)
 *      2     2  u16 AM id (requests and failures; 0 otherwise)
 *      4     4  u32 request id, or a count for ACK
 *      8     …  value, for REQUEST (the argument), REPLY (the result), FAILURE and DONE with
 *               kFlagError (the error: { name, message, stack, pe, am })
 * ```
 *
 * | kind | sent by | meaning |
 * |---|---|---|
 * | REQUEST | caller | run AM `id` with the argument; flags say whether a reply is wanted and whether it is tracked by a `finish` |
 * | REPLY | callee | the result of request `requestId` |
 * | FAILURE | callee | request `requestId` threw (or its result could not be encoded) |
 * | DONE | callee | tracked request `requestId` and everything it spawned have completed |
 * | ACK | callee | `count` untracked fire-and-forget requests from this frame's destination have completed |
 *
 * @module
 */

/** Message kinds. */
export const MessageKind = {
  Request: 1,
  Reply: 2,
  Failure: 3,
  Done: 4,
  Ack: 5,
} as const;
/** A message kind. */
export type MessageKind = (typeof MessageKind)[keyof typeof MessageKind];

/** REQUEST: the caller waits for a REPLY or FAILURE. */
export const kFlagReplyWanted = 1;
/** REQUEST: the request belongs to a `finish`; the callee sends DONE when it and its children complete. */
export const kFlagTracked = 2;
/** FAILURE: the failed request was fire-and-forget (no one waits for a reply). */
export const kFlagForSend = 4;
/** DONE: a value follows, the first error of the completed activity tree. */
export const kFlagError = 8;
/**
 * REQUEST: a message of shoal's own protocols (the collectives) that the callee does not
 * acknowledge: the protocol's next message says it arrived, and no ACK crosses the network.
 */
export const kFlagNoAck = 16;

/** Bytes of a message header. */
export const kMessageHeaderBytes = 8;

/** How an error travels. */
export interface ErrorInfo {
  name: string;
  message: string;
  stack: string;
  /** The PE where it was thrown. */
  pe: number;
  /** The AM or activity that threw. */
  am: string;
}
