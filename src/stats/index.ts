export { MessageHistogram, histogramBins, kConnection, kConnectionTypes } from "./histogram.js";
export type { ConnectionIndex, ConnectionType, HistogramShare, HistogramSnapshot } from "./histogram.js";
export { describeHistogramSettings, formatHistogram } from "./format.js";
