/**
 * The distributed FFT, a layer above `array/` (the complex vector or matrix is a block-distributed
 * f64 `DistArray`) and the collectives (each transpose is one `team.alltoallv`), built from the
 * FFT kernels of `kernels/fft.ts` (local FFTs over fft.js, twiddle factors, strided copies). It
 * knows nothing of transports: every byte it moves goes through a team's collective call.
 *
 * - `fft.ts`: the public calls (`fft`, `ifft`, `fft2d`, `ifft2d`), their checks and errors, and
 *   the gathered transform of arrays too small to cut.
 * - `plan.ts`: a plan per (team, size) on each PE: the reused send buffers and scratch rows, the
 *   exchanges, and the passes between them.
 *
 * @module
 */
export { fft, fft2d, ifft, ifft2d } from "./fft.js";
export type { FftOptions } from "./fft.js";
