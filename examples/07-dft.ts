/**
 * 07: the distributed FFT, end to end.
 * 1. A signal of 2^16 complex numbers (two tones and seeded noise) in a block-distributed f64 array,
 *    interleaved (re, im, re, im, …); every PE fills its own part.
 * 2. `fft(signal)` transforms it in place, on every PE (three `alltoallv` transposes); each PE looks
 *    for peaks in its own part of the spectrum, and PE 0 gathers them: the two tones.
 * 3. PE 0 checks a few bins against the direct sum X[k] = Σ_j x[j]·e^(−2πi jk/n).
 * 4. Low-pass: each PE zeroes the bins above a cutoff in its part, and `ifft` brings back the
 *    signal without the higher tone.
 * 5. `fft2d` of a 256 × 256 image of one plane wave, rows spread over the PEs: one peak.
 * The PE count must be a power of two (1, 2, 4, 8, …).
 *
 *   npx shoal run -n 4 examples/07-dft.ts
 *   npx shoal run -n 4 --procs 2 examples/07-dft.ts
 */
import { fft, fft2d, ifft, init } from "shoal";

const world = await init();
const n = 2 ** 16;
const [low, high] = [50, 1200]; // the tones' frequencies, in cycles over the signal

/** Seeded noise in [−0.1, 0.1): a function of the index alone, so each PE makes its own. */
const noise = (j: number): number => ((Math.imul(j + 1, 0x9e3779b1) >>> 0) / 2 ** 32 - 0.5) / 5;
const lowTone = (j: number): number => Math.cos((2 * Math.PI * low * j) / n);
const sample = (j: number): number => lowTone(j) + 0.5 * Math.sin((2 * Math.PI * high * j) / n) + noise(j);

// 1. The signal: complex number j is local[2k], local[2k + 1] on the PE that holds it.
const signal = await world.array("f64", 2 * n);
const first = signal.globalIndex(world.pe, 0) / 2; // this PE's first complex number
const count = signal.local.length / 2;
for (let k = 0; k < count; k++) {
  signal.local[2 * k] = sample(first + k);
  signal.local[2 * k + 1] = 0;
}
const original = signal.local.slice();

// 2. The spectrum, in place; each PE's part is bins first … first + count − 1.
await fft(signal);
const peaks: [number, number][] = [];
for (let k = 0; k < count; k++) {
  const bin = first + k;
  const magnitude = Math.hypot(signal.local[2 * k]!, signal.local[2 * k + 1]!);
  if (bin < n / 2 && magnitude > n / 8) peaks.push([bin, Math.round(magnitude)]);
}
const found = (await world.gather(peaks, 0))?.flat();
if (world.pe === 0) {
  console.log(`fft of ${n} points on ${world.numPes} PEs: peaks at bins ${found!.map(([bin, magnitude]) => `${bin} (|X| ${magnitude})`).join(", ")}`);
  if (found!.map(([bin]) => bin).join() !== `${low},${high}`) throw new Error(`dft: expected peaks at ${low} and ${high}`);

  // 3. A few bins against the direct sum (one-sided reads of the whole signal and spectrum).
  const spectrum = await signal.get(0, 2 * n);
  let worst = 0;
  for (const k of [0, low, high, 12345]) {
    let [re, im] = [0, 0];
    for (let j = 0; j < n; j++) {
      const angle = (-2 * Math.PI * ((j * k) % n)) / n;
      re += sample(j) * Math.cos(angle);
      im += sample(j) * Math.sin(angle);
    }
    worst = Math.max(worst, Math.hypot(spectrum[2 * k]! - re, spectrum[2 * k + 1]! - im) / (n / 2));
  }
  console.log(`bins 0, ${low}, ${high}, 12345 match the direct DFT within ${worst.toExponential(1)} of the largest peak`);
  if (!(worst < 1e-9)) throw new Error("dft: the FFT differs from the direct DFT");
}
await world.barrier();

// 4. Low-pass: zero the bins of frequencies above 500 (bins 501 … n − 501), then back.
const cutoff = 500;
for (let k = 0; k < count; k++) {
  const bin = first + k;
  if (bin > cutoff && bin < n - cutoff) signal.local[2 * k] = signal.local[2 * k + 1] = 0;
}
await ifft(signal);
/** The largest distance, over every PE, between the low tone and the real parts of `values` (this PE's part). */
const distanceToLowTone = async (values: Float64Array): Promise<number> => {
  let worst = 0;
  for (let k = 0; k < count; k++) worst = Math.max(worst, Math.abs(values[2 * k]! - lowTone(first + k)));
  return world.allreduce(worst, "max");
};
const [before, after] = [await distanceToLowTone(original), await distanceToLowTone(signal.local)];
if (world.pe === 0) console.log(`low-pass filter and ifft: the signal is within ${after.toFixed(3)} of the ${low}-cycle tone (before: ${before.toFixed(3)})`);
if (!(after < 0.1)) throw new Error("dft: the filter left the high tone");

// 5. A 2-D transform: a plane wave of 3 cycles down and 5 across a 256 × 256 image.
const side = 256;
const image = await world.array("f64", 2 * side * side);
const rows = image.localView([side / world.numPes, side, 2]); // this PE's rows, as complex numbers
const firstRow = image.globalIndex(world.pe, 0) / (2 * side);
for (let r = 0; r < rows.shape[0]!; r++) {
  for (let c = 0; c < side; c++) {
    const angle = (2 * Math.PI * (3 * (firstRow + r) + 5 * c)) / side;
    rows.set(r, c, 0, Math.cos(angle));
    rows.set(r, c, 1, Math.sin(angle));
  }
}
await fft2d(image, [side, side]);
let brightest: [number, number, number] = [0, 0, 0];
for (let r = 0; r < rows.shape[0]!; r++) {
  for (let c = 0; c < side; c++) {
    const magnitude = Math.hypot(rows.get(r, c, 0), rows.get(r, c, 1));
    if (magnitude > brightest[2]) brightest = [firstRow + r, c, magnitude];
  }
}
const all = await world.gather(brightest, 0);
if (world.pe === 0) {
  const [u, v, magnitude] = all!.reduce((a, b) => (b[2] > a[2] ? b : a));
  console.log(`fft2d of a ${side} × ${side} plane wave: one peak, at (${u}, ${v}), |X| ${Math.round(magnitude)} = ${side}²`);
  if (u !== 3 || v !== 5 || Math.abs(magnitude - side * side) > 1e-6) throw new Error("dft: expected the 2-D peak at (3, 5)");
}
await world.barrier();
