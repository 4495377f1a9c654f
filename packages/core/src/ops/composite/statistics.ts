import { ValueError, fmt } from '../../errors.js';
import { assertTensor } from '../../op.js';
import { normalizeAxes } from '../../shape.js';
import type { Tensor } from '../../tensor.js';
import { add, div, mul, sub } from '../arithmetic.js';
import { concat, reshape, slice, transpose } from '../layout.js';
import { sqrt, square } from '../math.js';
import { mean, sum } from '../reduce.js';

/**
 * Reductions composed from primitives, so their gradients (of any order) come from the
 * tape: prod, variance and std.
 */

/**
 * Product over the axes (all by default); 1 over an empty axis, as in NumPy. Computed as
 * a tree of pairwise products (log₂ n rounds of `mul`, O(n) work), never through log or
 * division, so the gradient Π_{j≠i} x_j is exact where x holds zeros, one or several, and
 * so is the second derivative.
 */
export function prod(x: Tensor, axes?: number | readonly number[], keepDims = false): Tensor {
  assertTensor('prod', x);
  const list = normalizeAxes('prod', axes, x.rank).sort((a, b) => a - b);
  if (list.length === 0) return x;
  const kept = x.shape.map((d, i) => (list.includes(i) ? 1 : d));
  const outShape = keepDims ? kept : x.shape.filter((_, i) => !list.includes(i));
  const n = list.reduce((p, a) => p * x.shape[a], 1);
  // an empty product is 1; 0·Σx + 1 keeps x in the graph, with a zero gradient
  if (n === 0) return add(mul(sum(x, list, keepDims), 0), 1);
  // the reduced axes last, then [rows, n]: each row's product is one output element
  const rest = x.shape.map((_, i) => i).filter((i) => !list.includes(i));
  let rows = reshape(transpose(x, [...rest, ...list]), [-1, n]);
  const m = rows.shape[0];
  for (let len = n; len > 1; len = Math.ceil(len / 2)) {
    const half = Math.floor(len / 2);
    const pairs = reshape(slice(rows, [0, 0], [m, 2 * half]), [m, half, 2]);
    const products = reshape(mul(slice(pairs, [0, 0, 0], [m, half, 1]), slice(pairs, [0, 0, 1], [m, half, 1])), [m, half]);
    // an odd length carries its last element into the next round
    rows = len % 2 === 0 ? products : concat([products, slice(rows, [0, len - 1], [m, 1])], 1);
  }
  return reshape(rows, outShape);
}

/** Options of variance and std: the correction (ddof) and keepDims. */
export interface VarianceOptions {
  /**
   * Subtracted from the count in the divisor: 1 (default) is the unbiased sample variance,
   * as `torch.var`; 0 the population variance, as `numpy.var`'s default `ddof = 0`.
   */
  correction?: number;
  keepDims?: boolean;
}

/**
 * Variance over the axes (all by default): Σ (x − mean)² / (n − correction), with
 * correction = 1 by default as PyTorch's `torch.var` (NumPy's default is 0: pass
 * `{ correction: 0 }`). Named `variance` because `var` is a reserved word in JavaScript.
 * n − correction ≤ 0 is a ValueError, not the NaN or ∞ PyTorch returns.
 */
export function variance(x: Tensor, axes?: number | readonly number[], options: VarianceOptions = {}): Tensor {
  return varianceOf('variance', x, axes, options);
}

/**
 * √variance, same axes and options (correction = 1 by default, as `torch.std`). Where every
 * value of a slice is equal the gradient is not finite (√ at 0), as in PyTorch.
 */
export function std(x: Tensor, axes?: number | readonly number[], options: VarianceOptions = {}): Tensor {
  return sqrt(varianceOf('std', x, axes, options));
}

function varianceOf(op: string, x: Tensor, axes: number | readonly number[] | undefined, options: VarianceOptions): Tensor {
  assertTensor(op, x);
  const { correction = 1, keepDims = false } = options;
  if (!Number.isFinite(correction) || correction < 0) throw new ValueError(op, `correction must be a finite number ≥ 0, got ${correction}`);
  const list = normalizeAxes(op, axes, x.rank);
  const n = list.reduce((p, a) => p * x.shape[a], 1);
  if (n - correction <= 0) {
    throw new ValueError(op, `${n} element${n === 1 ? '' : 's'} over axes [${list.join(',')}] of ${fmt(x.shape)} leave no degrees of freedom with correction ${correction}`);
  }
  const centred = sub(x, mean(x, list, true));
  return div(sum(square(centred), list, keepDims), n - correction);
}
