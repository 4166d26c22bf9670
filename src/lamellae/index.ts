export { frameMessageCount, frameSource, frameSourceOf, isFrameByReference, kFrameByReference, kFrameHeaderBytes, writeFrameHeader } from "./frame.js";
export { arrivedWord, jobControlBytes, kAbort, kBarrierCount, kBarrierGeneration, registryWord } from "./shm/job.js";
export { Ring, kRecordHeaderBytes, kRingHeaderBytes, ringByteLength } from "./shm/ring.js";
export { ShmTransport, copyToShared, createRingBuffer, signalAbort } from "./shm/transport.js";
export type { AbortReason, FrameHandler, ShmEndpoint, TransportCounters } from "./shm/transport.js";
export { loadNng } from "./nng/binding.js";
export type { NngBinding } from "./nng/binding.js";
export { NngSocket, kDefaultNngSocketOptions } from "./nng/socket.js";
export type { NngDialOptions, NngPipeEvent, NngSocketOptions } from "./nng/socket.js";
