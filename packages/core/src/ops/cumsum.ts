import { outputStorage } from '../storage.js';
import { type OpDef, apply, assertTensor, defineOp } from '../op.js';
import { aroundAxis, normalizeAxis, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';

/** Running sums along one axis: inclusive or exclusive, from the start or from the end. */

interface CumsumAttrs {
  axis: number;
  reverse: boolean;
  exclusive: boolean;
}

export const cumsumOp: OpDef<CumsumAttrs> = defineOp<CumsumAttrs>({
  name: 'cumsum',
  shape: ([x]) => x,
  forward(backend, [x], [shape], outShape, dtype, { axis, reverse, exclusive }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false); // cumsum writes every element
    backend.cumsum(x, ...aroundAxis(shape, axis), reverse, exclusive, out);
    return out;
  },
  // x_j feeds every y_k with k ≥ j (k > j if exclusive): the transpose of a running sum is
  // the same running sum taken from the other end
  vjp: (dy, { attrs }) => [() => apply(cumsumOp, [dy], { ...attrs, reverse: !attrs.reverse })],
});

/** Options of cumsum: reverse and exclusive sums. */
export interface CumsumOptions {
  /** Sum from the end of the axis: y_k = Σ_{j ≥ k} x_j. Default false. */
  reverse?: boolean;
  /** Leave each element out of its own sum: y_k = Σ_{j < k} x_j (y_0 = 0). Default false. */
  exclusive?: boolean;
}

/**
 * Cumulative sum along `axis` (negative counts from the end), PyTorch's `cumsum(x, dim)`;
 * `reverse` and `exclusive` as in TF's `tf.math.cumsum`. Same shape as x. Sums run in double
 * precision and are rounded once per element, so float32 results do not drift along the axis.
 */
export function cumsum(x: Tensor, axis: number, options: CumsumOptions = {}): Tensor {
  assertTensor('cumsum', x);
  const a = normalizeAxis('cumsum', axis, x.rank);
  return apply(cumsumOp, [x], { axis: a, reverse: options.reverse ?? false, exclusive: options.exclusive ?? false });
}
