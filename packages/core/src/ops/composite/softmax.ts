import type { Tensor } from '../../tensor.js';
import { assertTensor } from '../../op.js';
import { normalizeAxis } from '../../shape.js';
import { add, div, sub } from '../arithmetic.js';
import { squeeze } from '../layout.js';
import { exp, log } from '../math.js';
import { max, sum } from '../reduce.js';
import { stopGradient } from './stop-gradient.js';

/**
 * Softmax family, composed from primitives, so their gradients come from the tape.
 * Subtracting the max first keeps exp's argument ≤ 0: logits of ±1000 stay finite. The
 * shift is a constant (stopGradient): softmax does not depend on it, so differentiating
 * through the max would only cost time and send gradient into ties.
 */

/** log Σ exp(x) along an axis, stable for large |x|. */
export function logSumExp(x: Tensor, axis = -1, keepDims = false): Tensor {
  assertTensor('logSumExp', x);
  const a = normalizeAxis('logSumExp', axis, x.rank);
  const shift = stopGradient(max(x, a, true));
  const lse = add(log(sum(exp(sub(x, shift)), a, true)), shift);
  return keepDims ? lse : squeeze(lse, a);
}

/** exp(x) / Σ exp(x) along an axis (default the last; use 0 for examples-as-columns logits). */
export function softmax(x: Tensor, axis = -1): Tensor {
  assertTensor('softmax', x);
  const a = normalizeAxis('softmax', axis, x.rank);
  const shifted = sub(x, stopGradient(max(x, a, true)));
  const e = exp(shifted);
  return div(e, sum(e, a, true));
}

/** x − logSumExp(x) along an axis: log-probabilities without ever forming a 0 to take the log of. */
export function logSoftmax(x: Tensor, axis = -1): Tensor {
  assertTensor('logSoftmax', x);
  const a = normalizeAxis('logSoftmax', axis, x.rank);
  const shifted = sub(x, stopGradient(max(x, a, true)));
  return sub(shifted, log(sum(exp(shifted), a, true)));
}
