import { ValueError } from '../errors.js';
import { assertTensor } from '../op.js';
import type { Tensor } from '../tensor.js';
import { add, mul } from './arithmetic.js';
import { greater } from './compare.js';
import { erf, expm1, pow, relu, sigmoid, tanh } from './math.js';
import { minimum, where } from './where.js';

/**
 * The activations of transformers and modern CNNs, as composites of primitives: their
 * gradients (and gradients of gradients) come from the primitives' VJPs, so there is no
 * derivative to get wrong here. Each follows PyTorch's formula, in PyTorch's order of
 * operations.
 */

const SQRT1_2 = Math.SQRT1_2;
/** √(2/π), PyTorch's kBeta of the tanh approximation. */
const SQRT_2_OVER_PI = Math.sqrt(2 / Math.PI);

/** Options of gelu: exact or tanh approximation. */
export interface GeluOptions {
  /**
   * 'none' (the default): the exact x·Φ(x) = ½x(1 + erf(x/√2)); 'tanh': Hendrycks and
   * Gimpel's ½x(1 + tanh(√(2/π)(x + 0.044715x³))), as PyTorch's approximate='tanh' (GPT-2's).
   */
  approximate?: 'none' | 'tanh';
}

/**
 * GELU: x·Φ(x), Φ the standard normal CDF. Exact (erf) by default, as PyTorch's; pass
 * `{ approximate: 'tanh' }` for the tanh form, within 5·10⁻⁴ of it (a model trained with one
 * should be run with the same one).
 */
export function gelu(x: Tensor, options: GeluOptions = {}): Tensor {
  assertTensor('gelu', x);
  const approximate = options.approximate ?? 'none';
  if (approximate === 'none') return mul(mul(x, 0.5), add(erf(mul(x, SQRT1_2)), 1));
  if (approximate === 'tanh') {
    const inner = mul(add(x, mul(pow(x, 3), 0.044715)), SQRT_2_OVER_PI);
    return mul(mul(x, 0.5), add(tanh(inner), 1));
  }
  throw new ValueError('gelu', `approximate must be 'none' or 'tanh', got ${String(approximate)}`);
}

/** SiLU (swish): x·σ(x). */
export function silu(x: Tensor): Tensor {
  assertTensor('silu', x);
  return mul(x, sigmoid(x));
}

/**
 * ELU: x for x > 0, α(eˣ − 1) for x ≤ 0 (α = 1 by default), as PyTorch's; elu′(0) = α (the
 * left side's slope, as PyTorch). Written max(x, 0) + α·expm1(min(x, 0)), not as a where(): a
 * where would also take expm1 of large positive x, whose +∞ times the zero gradient of the
 * unpicked side is NaN.
 */
export function elu(x: Tensor, alpha = 1): Tensor {
  assertTensor('elu', x);
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) throw new ValueError('elu', `alpha must be a finite number, got ${String(alpha)}`);
  return add(relu(x), mul(expm1(minimum(x, 0)), alpha));
}

/**
 * Leaky ReLU: x for x > 0, slope·x otherwise (slope 0.01 by default, as PyTorch's
 * negative_slope); its derivative at 0 is the slope, as PyTorch's.
 */
export function leakyRelu(x: Tensor, slope = 0.01): Tensor {
  assertTensor('leakyRelu', x);
  if (typeof slope !== 'number' || !Number.isFinite(slope)) throw new ValueError('leakyRelu', `slope must be a finite number, got ${String(slope)}`);
  return where(greater(x, 0), x, mul(x, slope));
}
