import type { Tensor } from '../../tensor.js';
import { assertTensor } from '../../op.js';
import { normalizeAxes, normalizeAxis } from '../../shape.js';
import { add, div, sub } from '../arithmetic.js';
import { squeeze } from '../layout.js';
import { less } from '../compare.js';
import { abs, exp, log } from '../math.js';
import { where } from '../where.js';
import { max, sum } from '../reduce.js';
import { stopGradient } from './stop-gradient.js';

/**
 * Softmax family, composed from primitives, so their gradients come from the tape.
 * Subtracting the max first keeps exp's argument ≤ 0: logits of ±1000 stay finite. The
 * shift is a constant (stopGradient): softmax does not depend on it, so differentiating
 * through the max would only cost time and send gradient into ties.
 */

/**
 * log Σ exp(x) over one axis or several (default the last axis, unlike `sum`), stable for
 * large |x|. A slice that is all −∞ gives −∞ and one holding +∞ gives +∞ (never the NaN of
 * ∞ − ∞): the shift is the slice's max only where that max is finite, 0 elsewhere.
 */
export function logSumExp(x: Tensor, axes: number | readonly number[] = -1, keepDims = false): Tensor {
  assertTensor('logSumExp', x);
  const list = normalizeAxes('logSumExp', axes, x.rank);
  if (list.length === 0) return x;
  const m = max(x, list, true);
  const shift = stopGradient(where(less(abs(m), Infinity), m, 0));
  const lse = add(log(sum(exp(sub(x, shift)), list, true)), shift);
  return keepDims ? lse : squeeze(lse, list);
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
