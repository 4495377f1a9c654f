import { outputStorage } from '../storage.js';
import { ValueError } from '../errors.js';
import { type VjpResult, apply, defineOp } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import { Tensor } from '../tensor.js';
import { greaterEqual, lessEqual } from './compare.js';
import { binaryOp } from './elementwise.js';
import { unbroadcast } from './layout.js';
import { type TensorLike, lift, liftPair } from './lift.js';

/**
 * where(cond, a, b) picks a where cond ≠ 0, else b, all three broadcast together. The
 * gradient flows to whichever side was picked; cond is a mask and gets none.
 * maximum and minimum route their gradients through it; clip is built from them.
 */
export const whereOp = defineOp({
  name: 'where',
  shape: ([c, a, b]) => broadcastShapes('where', broadcastShapes('where', c, a), b),
  forward(backend, [c, a, b], [cShape, aShape, bShape], outShape, dtype) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), true);
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

/*
 * maximum and minimum are primitives (one kernel each), not where(greaterEqual(a, b), a, b):
 * a comparison with NaN is false, so that composition returned b where a was NaN and hid
 * it. The kernels give NaN where either side is NaN (PyTorch's rule) and a on ties. The
 * gradient goes where the value came from: to a where a ≥ b (ties included, so the two
 * gradients still sum to dy), else to b; the mask is computed once for both sides.
 */
function selectGradients(a: Tensor, b: Tensor, dy: Tensor, picksA: () => Tensor): VjpResult {
  let mask: Tensor | undefined;
  const pick = () => (mask ??= picksA());
  return [
    () => unbroadcast(where(pick(), dy, 0), a.shape),
    () => unbroadcast(where(pick(), 0, dy), b.shape),
  ];
}

export const maximumOp = binaryOp('maximum', 'maximum', (dy, { inputs: [a, b] }) => selectGradients(a, b, dy, () => greaterEqual(a, b)));
export const minimumOp = binaryOp('minimum', 'minimum', (dy, { inputs: [a, b] }) => selectGradients(a, b, dy, () => lessEqual(a, b)));

/** Element-wise larger of a and b, broadcasting; NaN where either is NaN (as PyTorch). */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return apply(maximumOp, liftPair('maximum', a, b), undefined);
}

/** Element-wise smaller of a and b, broadcasting; NaN where either is NaN (as PyTorch). */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return apply(minimumOp, liftPair('minimum', a, b), undefined);
}

/**
 * Clamps x into [lo, hi]; the gradient is 1 inside (bounds included) and 0 where clamped.
 * clip(NaN) = NaN, as PyTorch's clamp.
 */
export function clip(x: Tensor, lo: number, hi: number): Tensor {
  if (!(lo <= hi)) throw new ValueError('clip', `needs lo ≤ hi, got lo=${lo}, hi=${hi}`);
  return minimum(maximum(x, lo), hi);
}
