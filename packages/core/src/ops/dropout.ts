import { getBackend } from '../backend/index.js';
import { placedTensor } from '../creation.js';
import { ValueError } from '../errors.js';
import { assertTensor } from '../op.js';
import { type Rng, createRng } from '../random.js';
import { stagingBuffer } from '../storage.js';
import type { Tensor } from '../tensor.js';
import { mul } from './arithmetic.js';

/** Options of dropout: where the mask comes from. */
export interface DropoutOptions {
  /** Seeds the mask: the same seed gives the same mask, on every backend. */
  seed?: number;
  /** Or draw the mask from this generator (a training loop's stream: each call a new mask). */
  rng?: Rng;
}

/**
 * Inverted dropout: each element of x is zeroed with probability p and the survivors are
 * scaled by 1/(1 − p), so the expectation is x's. The mask is drawn in core, one uniform u per
 * element in row-major order from mulberry32 (element kept where u ≥ p), never by a
 * backend: the same seed gives the same mask on js, wasm and native. The result is
 * x·mask with the mask a constant, so the gradient is mask·dy (the same elements dropped).
 *
 * p = 0 returns x itself; p = 1 returns x·0 (zeros, NaN where x is NaN or ±∞), as PyTorch's
 * dropout(p=1); p outside [0, 1] is a ValueError. A seed or an rng is required: tapegrad
 * never draws unseeded randomness. There is no training flag: call it only when training.
 */
export function dropout(x: Tensor, p: number, options: DropoutOptions): Tensor {
  assertTensor('dropout', x);
  if (typeof p !== 'number' || !(p >= 0 && p <= 1)) throw new ValueError('dropout', `p must be a probability in [0, 1], got ${String(p)}`);
  const rng = options?.rng ?? (options?.seed !== undefined ? createRng(options.seed) : undefined);
  if (!rng) throw new ValueError('dropout', 'needs a seed or an rng: tapegrad never draws unseeded randomness');
  if (p === 0) return x;
  if (p === 1) return mul(x, 0);
  const scale = 1 / (1 - p);
  // drawn on the CPU (the same mask on every backend), placed on the device if there is one
  const mask = stagingBuffer(getBackend(), x.dtype, x.size);
  for (let i = 0; i < mask.length; i++) mask[i] = rng.next() >= p ? scale : 0;
  return mul(x, placedTensor(mask, x.shape, x.dtype));
}
