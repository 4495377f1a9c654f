import type { BinaryKernel, UnaryKernel } from '../backend/index.js';
import { allocate } from '../dtype.js';
import { apply, defineOp, type OpDef } from '../op.js';
import { broadcastShapes, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { type TensorLike, liftPair } from './lift.js';

/**
 * Comparisons and step functions. They return 1 or 0 in the inputs' dtype and have no VJP:
 * their outputs are piecewise constant, so the tape treats them as constants. VJPs of
 * relu, abs, max and where use them as masks.
 */

function comparison(name: string, kernel: BinaryKernel): OpDef<undefined> {
  return defineOp({
    name,
    shape: ([a, b]) => broadcastShapes(name, a, b),
    forward(backend, [a, b], [aShape, bShape], outShape, dtype) {
      const out = allocate(dtype, sizeOf(outShape));
      backend.binary(kernel, a, aShape, b, bShape, out, outShape);
      return out;
    },
  });
}

function stepLike(name: string, kernel: UnaryKernel): OpDef<undefined> {
  return defineOp({
    name,
    shape: ([x]) => x,
    forward(backend, [x], _shapes, _outShape, dtype) {
      const out = allocate(dtype, x.length);
      backend.unary(kernel, x, out, 0);
      return out;
    },
  });
}

const greaterOp = comparison('greater', 'greater');
const greaterEqualOp = comparison('greaterEqual', 'greaterEqual');
const lessOp = comparison('less', 'less');
const lessEqualOp = comparison('lessEqual', 'lessEqual');
const equalOp = comparison('equal', 'equal');
const signOp = stepLike('sign', 'sign');
const stepOp = stepLike('step', 'step');

/** 1 where a > b, else 0. */
export const greater = (a: TensorLike, b: TensorLike): Tensor => apply(greaterOp, liftPair('greater', a, b), undefined);
/** 1 where a ≥ b, else 0. */
export const greaterEqual = (a: TensorLike, b: TensorLike): Tensor => apply(greaterEqualOp, liftPair('greaterEqual', a, b), undefined);
/** 1 where a < b, else 0. */
export const less = (a: TensorLike, b: TensorLike): Tensor => apply(lessOp, liftPair('less', a, b), undefined);
/** 1 where a ≤ b, else 0. */
export const lessEqual = (a: TensorLike, b: TensorLike): Tensor => apply(lessEqualOp, liftPair('lessEqual', a, b), undefined);
/** 1 where a = b, else 0. */
export const equal = (a: TensorLike, b: TensorLike): Tensor => apply(equalOp, liftPair('equal', a, b), undefined);
/** −1, 0 or 1. */
export const sign = (x: Tensor): Tensor => apply(signOp, [x], undefined);
/** Heaviside step with step(0) = 0: 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => apply(stepOp, [x], undefined);
