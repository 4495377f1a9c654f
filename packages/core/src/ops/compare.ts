import { apply } from '../op.js';
import type { Tensor } from '../tensor.js';
import { binaryOp, unaryOp } from './elementwise.js';
import { type TensorLike, liftPair } from './lift.js';

/**
 * Comparisons and step functions. They return 1 or 0 in the inputs' dtype and have no VJP:
 * their outputs are piecewise constant, so the tape treats them as constants. VJPs of
 * max and where use them as masks. (sign, also piecewise constant, passes back a zero
 * gradient instead: see rounding.ts.)
 */

const greaterOp = binaryOp('greater', 'greater');
const greaterEqualOp = binaryOp('greaterEqual', 'greaterEqual');
const lessOp = binaryOp('less', 'less');
const lessEqualOp = binaryOp('lessEqual', 'lessEqual');
const equalOp = binaryOp('equal', 'equal');
const stepOp = unaryOp('step', 'step');
const isNaNOp = unaryOp('isNaN', 'isNaN');
const isFiniteOp = unaryOp('isFinite', 'isFinite');

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
/** Heaviside step with step(0) = 0: 1 where x > 0, else 0. */
export const step = (x: Tensor): Tensor => apply(stepOp, [x], undefined);
/** 1 where x is NaN, else 0, in x's dtype (a mask: no gradient). */
export const isNaN = (x: Tensor): Tensor => apply(isNaNOp, [x], undefined);
/** 1 where x is finite (not ±∞, not NaN), else 0, in x's dtype (a mask: no gradient). */
export const isFinite = (x: Tensor): Tensor => apply(isFiniteOp, [x], undefined);
