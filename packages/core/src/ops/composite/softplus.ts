import type { Tensor } from '../../tensor.js';
import { neg } from '../arithmetic.js';
import { stack } from '../layout.js';
import { zerosLike } from '../../creation.js';
import { logSumExp } from './softmax.js';

/**
 * softplus(x) = log(1 + eˣ), written as logSumExp over the pair (0, x): finite for any x
 * (x = ±1000 included) and smooth everywhere. The textbook stable form
 * max(x, 0) + log(1 + e^(−|x|)) has kinks at 0 whose subgradients would not add up to
 * σ(0) = ½ there.
 */
export function softplus(x: Tensor): Tensor {
  return logSumExp(stack([zerosLike(x), x], 0), 0);
}

/** log σ(x) = −softplus(−x), finite for any x: the stable road to binary cross-entropy. */
export function logSigmoid(x: Tensor): Tensor {
  return neg(softplus(neg(x)));
}
