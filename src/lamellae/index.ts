export { frameMessageCount, frameSource, frameSourceOf, isFrameByReference, kFrameByReference, kFrameHeaderBytes, writeFrameHeader } from "./frame.js";
export { arrivedWord, jobControlBytes, kAbort, kBarrierCount, kBarrierGeneration, registryWord } from "./shm/job.js";
export { Ring, kRecordHeaderBytes, kRingHeaderBytes, ringByteLength } from "./shm/ring.js";
export { ShmTransport, copyToShared, createRingBuffer, signalAbort } from "./shm/transport.js";
export type { AbortReason, FrameHandler, ShmEndpoint, TransportCounters } from "./shm/transport.js";
