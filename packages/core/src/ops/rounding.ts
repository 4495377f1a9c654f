import { zerosLike } from '../creation.js';
import { type VjpContext, type VjpResult, apply } from '../op.js';
import type { Tensor } from '../tensor.js';
import { unaryOp } from './elementwise.js';

/**
 * Piecewise-constant functions of one tensor. Their derivative is 0 wherever it exists, and
 * that is the gradient they pass back (PyTorch's choice), not "no gradient": a loss that
 * reaches a parameter only through floor(x) gives the parameter a zero `.grad`, and
 * backward() does not complain that nothing requires gradients. Comparisons (compare.ts),
 * being masks, stay constants.
 */

// 0 everywhere: the steps are flat; at a step itself the derivative does not exist and 0 is
// the choice every framework makes. A constant, so higher orders are 0 too.
const zeroGradient = (_dy: Tensor, { inputs: [x] }: VjpContext<undefined>): VjpResult => [() => zerosLike(x)];

export const floorOp = unaryOp('floor', 'floor', zeroGradient);
export const ceilOp = unaryOp('ceil', 'ceil', zeroGradient);
export const roundOp = unaryOp('round', 'round', zeroGradient);
export const signOp = unaryOp('sign', 'sign', zeroGradient);

/** The largest integer ≤ x (floor(−0.5) = −1); gradient 0. */
export const floor = (x: Tensor): Tensor => apply(floorOp, [x], undefined);
/** The smallest integer ≥ x (ceil(−0.5) = −0); gradient 0. */
export const ceil = (x: Tensor): Tensor => apply(ceilOp, [x], undefined);
/**
 * The nearest integer, halves to the even one, as PyTorch's round and NumPy's: round(0.5) = 0,
 * round(1.5) = 2, round(2.5) = 2, round(−0.5) = −0. (JavaScript's Math.round rounds halves
 * up: 0.5 → 1, −0.5 → −0, 2.5 → 3.) Gradient 0.
 */
export const round = (x: Tensor): Tensor => apply(roundOp, [x], undefined);
/** −1, 0 or 1 (sign(±0) = 0 and sign(NaN) = 0, as PyTorch's CPU kernel); gradient 0. */
export const sign = (x: Tensor): Tensor => apply(signOp, [x], undefined);
