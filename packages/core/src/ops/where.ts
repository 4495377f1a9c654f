import { allocate } from '../dtype.js';
import { ValueError } from '../errors.js';
import { apply, defineOp } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { greaterEqual, lessEqual } from './compare.js';
import { unbroadcast } from './layout.js';
import { type TensorLike, lift } from './lift.js';

/**
 * where(cond, a, b) picks a where cond ≠ 0, else b, all three broadcast together. The
 * gradient flows to whichever side was picked; cond is a mask and gets none.
 * maximum, minimum and clip are built from it.
 */
export const whereOp = defineOp({
  name: 'where',
  shape: ([c, a, b]) => broadcastShapes('where', broadcastShapes('where', c, a), b),
  forward(backend, [c, a, b], [cShape, aShape, bShape], outShape, dtype) {
    const out = allocate(dtype, sizeOf(outShape));
    backend.where(c, cShape, a, aShape, b, bShape, out, outShape);
    return out;
  },
  vjp: (dy, { inputs: [cond, a, b] }) => [
    null,
    () => unbroadcast(where(cond, dy, 0), a.shape),
    () => unbroadcast(where(cond, 0, dy), b.shape),
  ],
});

/** Element-wise choice: a where cond ≠ 0, else b (numbers take the dtype of a tensor operand). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b instanceof Tensor ? b : cond;
  const ta = lift('where', a, like);
  const tb = lift('where', b, like);
  return apply(whereOp, [lift('where', cond, like), ta, tb], undefined);
}

// ties send the whole gradient to a, so the sum of both gradients is still dy
/** Element-wise larger of a and b, broadcasting. */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b;
  const ta = lift('maximum', a, like), tb = lift('maximum', b, like);
  return where(greaterEqual(ta, tb), ta, tb);
}

/** Element-wise smaller of a and b, broadcasting. */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  const like = a instanceof Tensor ? a : b;
  const ta = lift('minimum', a, like), tb = lift('minimum', b, like);
  return where(lessEqual(ta, tb), ta, tb);
}

/** Clamps x into [lo, hi]; the gradient is 1 inside and 0 where clamped. */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new ValueError('clip', `needs lo ≤ hi, got lo=${lo}, hi=${hi}`);
  return minimum(maximum(x, lo), hi);
}
