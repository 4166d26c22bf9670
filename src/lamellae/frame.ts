/**
 * The frame: what one transport record carries from one PE to another. A frame aggregates many
 * small messages to one destination; the transport moves frames as bytes and reads only this
 * header.
 *
 * ```
 * offset  size  field
 *      0     2  u16 source PE
 *      2     2  u16 flags: bit 0 = BY_REFERENCE (the frame's bytes travel on the side channel;
 *                          the record holds only this header); bit 1 = SERVABLE (every message
 *                          is a request that the destination's IO worker may answer itself)
 *      4     4  u32 number of messages in the frame
 *      8     …  messages (their layout is the active-message protocol's, see am/protocol.ts)
 * ```
 * All fields are little-endian. The header is 8 bytes so messages start 8-byte aligned.
 *
 * @module
 */

/** Bytes of the frame header. */
export const kFrameHeaderBytes = 8;
/** Frame flag: the frame itself travels on the side channel (it was too large for a ring record). */
export const kFrameByReference = 1;
/** Frame flag: every message is a request the destination's IO worker may serve (a socket never hands it to the PE's direct-lane sink). */
export const kFrameServable = 2;

/** Writes a frame header at the start of `bytes`. */
export function writeFrameHeader(view: DataView, sourcePe: number, flags: number, messages: number): void {
  view.setUint16(0, sourcePe, true);
  view.setUint16(2, flags, true);
  view.setUint32(4, messages, true);
}

/** The source PE of the frame in `view`. */
export function frameSource(view: DataView): number {
  return view.getUint16(0, true);
}

/** The source PE of the frame starting at `bytes[0]` (no DataView needed). */
export function frameSourceOf(bytes: Uint8Array): number {
  return bytes[0]! | (bytes[1]! << 8);
}

/** Whether the frame starting at `bytes[0]` travels by reference (its header says BY_REFERENCE). */
export function isFrameByReference(bytes: Uint8Array): boolean {
  return (bytes[2]! & kFrameByReference) !== 0;
}

/** The number of messages of the frame in `view`. */
export function frameMessageCount(view: DataView): number {
  return view.getUint32(4, true);
}
