/**
 * dft: the distributed FFT (`fft` of a block-distributed f64 array of 2^log2n interleaved complex
 * numbers, 2^22 by default), timed from a barrier to the end of the call (which ends in a barrier)
 * on PE 0, and reported as GFLOP/s = 5 n log2 n / t, the usual figure for an FFT of n points.
 *
 * Baseline, in the same run, alternating with it (which goes first alternates too): fft.js's
 * `transform` of the same input on one thread (PE 0, while the other PEs wait), into a preallocated
 * output, with its tables built before the clock starts. Target (BENCHMARKS.md): ≥ 1.5× the
 * baseline on 2 PEs for 2^22 points.
 *
 * For comparison, Lamellar's naive DFT proxy (lamellar-runtime `examples/kernels/dft_proxy.rs`, its
 * "optimized array" version), at a small size because it is O(N²): a real signal of N = numPes ×
 * `--naive-per-pe` (1000, Lamellar's default) f64, block-distributed; each PE reads the signal in
 * chunks of 1000 (one `get` each, as `onesided_iter().chunks(1000)` does) and adds each chunk's
 * part of its own spectrum bins: `spectrum[k] += Σ_i x_i·θ(cos θ + θ sin θ)`, θ = −2π i k / N. This
 * is Lamellar's formula, a proxy with a DFT's cost (a sine and a cosine per term), not a Fourier
 * transform. Its baseline is the same loop on one thread over the whole signal; its figure is in
 * the same unit (5 N log2 N / t), to put the O(N²) algorithm beside the FFT.
 *
 *   npx shoal bench dft [--pes 2] [--log2n 22] [--reps 5] [--naive-per-pe 1000] [--seed 1] [--json]
 *
 * Check, every repetition: the distributed FFT's result equals fft.js's within 1e-9 of the largest
 * magnitude of the spectrum, and the distributed proxy's spectrum the serial one's within 1e-9 of
 * its largest value; the benchmark exits non-zero when either does not (never for being slow).
 */
import FFT from "fft.js";
import { fft, init } from "shoal";

import { alternate, generator, integerOption, printRows, secondsSince, summarize, type Row } from "./harness.js";

const world = await init();
const log2n = integerOption("log2n", 22);
const reps = integerOption("reps", 5);
const naivePerPe = integerOption("naive-per-pe", 1000);
const seed = integerOption("seed", 1);
const { pe, numPes } = world;
const n = 2 ** log2n;
const flops = 5 * n * log2n;
const kTolerance = 1e-9;
/** The chunk of the signal the naive proxy reads at a time (Lamellar's `buf_amt`). */
const kChunk = 1000;

// ------------------------------------------------------------------------------------------ FFT

/** The seeded input, interleaved complex numbers in [−1, 1): every PE draws the same sequence. */
function inputOf(): Float64Array {
  const next = generator(seed);
  const values = new Float64Array(2 * n);
  for (let i = 0; i < values.length; i++) values[i] = next() / 2 ** 31 - 1;
  return values;
}

const signal = await world.array("f64", 2 * n);
const first = signal.local.length === 0 ? 0 : signal.globalIndex(pe, 0);
/** This PE's part of the input, to restore before each repetition (the transform is in place). */
let whole: Float64Array | undefined = inputOf();
const mine = whole.slice(first, first + signal.local.length);
if (pe !== 0) whole = undefined;

/** PE 0's baseline: fft.js's tables, and the output, made before any clock starts. */
const baselineFft = pe === 0 ? new FFT(n) : undefined;
const baselineOut = pe === 0 ? new Float64Array(2 * n) : undefined;
const result = pe === 0 ? new Float64Array(2 * n) : undefined;

/** Seconds of fft.js on one thread, over the whole input. */
function baselineSeconds(): number {
  const start = process.hrtime.bigint();
  baselineFft!.transform(baselineOut!, whole!);
  return secondsSince(start);
}

/** The largest |z| of an interleaved complex array. */
function largest(values: Float64Array): number {
  let max = 0;
  for (let k = 0; k < values.length; k += 2) max = Math.max(max, Math.hypot(values[k]!, values[k + 1]!));
  return max;
}

/** PE 0: the reference spectrum (fft.js, once, untimed) and its largest magnitude. */
const reference = pe === 0 ? new Float64Array(2 * n) : undefined;
if (pe === 0) baselineFft!.transform(reference!, whole!);
const referenceScale = pe === 0 ? largest(reference!) : 0;

/** PE 0: throws unless the distributed result equals the reference within the tolerance. */
async function checkFft(): Promise<void> {
  await signal.get(0, 2 * n, result!);
  let error = 0;
  for (let k = 0; k < result!.length; k += 2) error = Math.max(error, Math.hypot(result![k]! - reference![k]!, result![k + 1]! - reference![k + 1]!));
  if (!(error <= kTolerance * referenceScale)) {
    throw new Error(`dft: the distributed FFT differs from fft.js by ${error} (largest magnitude ${referenceScale}; allowed ${kTolerance} of it)`);
  }
}

/** Seconds of the distributed FFT on every PE (PE 0's clock), from a barrier to its end. */
async function fftSeconds(): Promise<number> {
  signal.local.set(mine);
  await world.barrier();
  const start = process.hrtime.bigint();
  await fft(signal);
  const seconds = secondsSince(start);
  // The others wait until PE 0 has read the result, before the next repetition restores the input.
  if (pe === 0) await checkFft();
  await world.barrier();
  return seconds;
}

const fftSamples: number[] = [];
const baselineSamples: number[] = [];
for (let rep = -1; rep < reps; rep++) {
  const [seconds, base] = await alternate(world, rep, fftSeconds, baselineSeconds);
  if (pe === 0 && rep >= 0) {
    fftSamples.push(flops / seconds / 1e9);
    baselineSamples.push(flops / base! / 1e9);
  }
}
signal.local.set(mine);

// --------------------------------------------------------------------------- Lamellar's proxy

const naiveN = numPes * naivePerPe;
const naiveFlops = 5 * naiveN * Math.log2(naiveN);
const naiveSignal = await world.array("f64", naiveN);
const spectrum = await world.array("f64", naiveN);
{
  const next = generator(seed + 1);
  const values = Float64Array.from({ length: naiveN }, () => next() / 2 ** 32);
  const start = naiveSignal.local.length === 0 ? 0 : naiveSignal.globalIndex(pe, 0);
  naiveSignal.local.set(values.subarray(start, start + naiveSignal.local.length));
}
await world.barrier();

/**
 * Adds to `out[k - kStart]`, for the bins k in kStart..kStart+out.length, the terms of the samples
 * `chunk[i - iStart]` (Lamellar's proxy formula). Kept alone so that it stays optimised.
 */
function proxyTerms(chunk: Float64Array, iStart: number, out: Float64Array, kStart: number, total: number): void {
  for (let kk = 0; kk < out.length; kk++) {
    const k = kStart + kk;
    let sum = 0;
    for (let ii = 0; ii < chunk.length; ii++) {
      const angle = (-2 * Math.PI * (iStart + ii) * k) / total;
      const twiddle = angle * (Math.cos(angle) + angle * Math.sin(angle));
      sum += twiddle * chunk[ii]!;
    }
    out[kk] = out[kk]! + sum;
  }
}

const chunkBuffer = new Float64Array(kChunk);

/** Seconds of the distributed proxy on every PE (PE 0's clock): every PE its own bins, the signal read in chunks. */
async function proxySeconds(): Promise<number> {
  spectrum.local.fill(0);
  await world.barrier();
  const start = process.hrtime.bigint();
  const kStart = spectrum.local.length === 0 ? 0 : spectrum.globalIndex(pe, 0);
  for (let at = 0; at < naiveN; at += kChunk) {
    const count = Math.min(kChunk, naiveN - at);
    const chunk = await naiveSignal.get(at, count, chunkBuffer);
    proxyTerms(count === kChunk ? chunk : chunk.subarray(0, count), at, spectrum.local, kStart, naiveN);
  }
  await world.barrier();
  return secondsSince(start);
}

const serialSignal = pe === 0 ? new Float64Array(naiveN) : undefined;
const serialSpectrum = pe === 0 ? new Float64Array(naiveN) : undefined;

/** Seconds of the same loop on one thread over the whole signal (PE 0). */
async function serialProxySeconds(): Promise<number> {
  await naiveSignal.get(0, naiveN, serialSignal!);
  serialSpectrum!.fill(0);
  const start = process.hrtime.bigint();
  proxyTerms(serialSignal!, 0, serialSpectrum!, 0, naiveN);
  return secondsSince(start);
}

/** PE 0: throws unless the distributed spectrum equals the serial one within the tolerance. */
async function checkProxy(): Promise<void> {
  const got = await spectrum.get(0, naiveN);
  let error = 0;
  let scale = 0;
  for (let k = 0; k < naiveN; k++) {
    error = Math.max(error, Math.abs(got[k]! - serialSpectrum![k]!));
    scale = Math.max(scale, Math.abs(serialSpectrum![k]!));
  }
  if (!(error <= kTolerance * scale)) throw new Error(`dft: the distributed proxy's spectrum differs from the serial one by ${error} (largest value ${scale})`);
}

const proxySamples: number[] = [];
const serialSamples: number[] = [];
for (let rep = -1; rep < reps; rep++) {
  const [seconds, base] = await alternate(world, rep, proxySeconds, serialProxySeconds);
  if (pe === 0) {
    await checkProxy();
    if (rep >= 0) {
      proxySamples.push(naiveFlops / seconds / 1e9);
      serialSamples.push(naiveFlops / base! / 1e9);
    }
  }
  await world.barrier();
}

if (pe === 0) {
  const f = summarize(fftSamples);
  const b = summarize(baselineSamples);
  const p = summarize(proxySamples);
  const s = summarize(serialSamples);
  const fftCheck = `every repetition's distributed FFT equalled fft.js's result within ${kTolerance} of the largest magnitude`;
  const proxyCheck = `every repetition's distributed proxy spectrum equalled the serial one within ${kTolerance} of its largest value`;
  const rows: Row[] = [
    {
      benchmark: "dft", what: `shoal fft, 2^${log2n} complex f64, ${numPes} PE${numPes === 1 ? "" : "s"} (four-step, 3 alltoallv transposes)`, unit: "GFLOP/s", ...f,
      ratio: f.median / b.median, ratioOf: "shoal / baseline", target: "≥ 1.5× on 2 PEs at 2^22", check: fftCheck,
    },
    { benchmark: "dft", what: `baseline: fft.js transform, 1 thread, the same 2^${log2n} points`, unit: "GFLOP/s", ...b, check: fftCheck },
    {
      benchmark: "dft", what: `Lamellar's naive O(N²) DFT proxy, N = ${naiveN} real f64, ${numPes} PE${numPes === 1 ? "" : "s"} (5 N log2 N / t)`, unit: "GFLOP/s", ...p,
      ratio: p.median / s.median, ratioOf: "shoal / serial", check: proxyCheck,
    },
    { benchmark: "dft", what: `baseline: the proxy's loop, 1 thread, N = ${naiveN}`, unit: "GFLOP/s", ...s, check: proxyCheck },
  ];
  printRows(rows);
}
await world.barrier();
