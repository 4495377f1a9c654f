import { ValueError } from '../errors.js';
import { apply } from '../op.js';
import type { Tensor } from '../tensor.js';
import { div, mul, sub } from './arithmetic.js';
import { sign, step } from './compare.js';
import { unaryOp } from './elementwise.js';

/**
 * Element-wise functions of one tensor. Where the derivative is cheapest in terms of the
 * output (exp, sigmoid, tanh, sqrt), the VJP reuses the output instead of recomputing.
 */

// (eˣ)′ = eˣ, the output itself
export const expOp = unaryOp('exp', 'exp', (dy, { output }) => [() => mul(dy, output)]);

// (ln x)′ = 1/x
export const logOp = unaryOp('log', 'log', (dy, { inputs: [x] }) => [() => div(dy, x)]);

// (√x)′ = 1/(2√x)
export const sqrtOp = unaryOp('sqrt', 'sqrt', (dy, { output }) => [() => div(dy, mul(output, 2))]);

// |x|′ = sign(x), and 0 at 0: the subgradient in the middle of [−1, 1]
export const absOp = unaryOp('abs', 'abs', (dy, { inputs: [x] }) => [() => mul(dy, sign(x))]);

// σ′ = σ(1 − σ)
export const sigmoidOp = unaryOp('sigmoid', 'sigmoid', (dy, { output }) => [() => mul(dy, mul(output, sub(1, output)))]);

// tanh′ = 1 − tanh²
export const tanhOp = unaryOp('tanh', 'tanh', (dy, { output }) => [() => mul(dy, sub(1, mul(output, output)))]);

// relu′(z) = 1 for z > 0 and 0 otherwise; at exactly 0 we choose 0, as seed 000 says code
// usually does and as PyTorch and TF do, so a dead unit stays dead rather than half-alive
export const reluOp = unaryOp('relu', 'relu', (dy, { inputs: [x] }) => [() => mul(dy, step(x))]);

// (xᵖ)′ = p·xᵖ⁻¹, itself a pow so the second derivative follows
export const powOp = unaryOp<{ exponent: number }>('pow', 'powScalar', (dy, { inputs: [x], attrs: { exponent } }) => [
  () => (exponent === 0 ? mul(dy, 0) : mul(dy, mul(pow(x, exponent - 1), exponent))),
], (attrs) => attrs.exponent);

/** eˣ. */
export const exp = (x: Tensor): Tensor => apply(expOp, [x], undefined);
/** Natural logarithm; log(0) = −∞ and log(x < 0) = NaN, as IEEE says. */
export const log = (x: Tensor): Tensor => apply(logOp, [x], undefined);
/** √x. */
export const sqrt = (x: Tensor): Tensor => apply(sqrtOp, [x], undefined);
/** |x|. */
export const abs = (x: Tensor): Tensor => apply(absOp, [x], undefined);
/** 1 / (1 + e⁻ˣ), computed without overflow for large |x|. */
export const sigmoid = (x: Tensor): Tensor => apply(sigmoidOp, [x], undefined);
/** Hyperbolic tangent. */
export const tanh = (x: Tensor): Tensor => apply(tanhOp, [x], undefined);
/** max(x, 0). */
export const relu = (x: Tensor): Tensor => apply(reluOp, [x], undefined);

/** xᵖ for a scalar exponent p (for non-integer p, x must be positive). */
export function pow(x: Tensor, exponent: number): Tensor {
  if (typeof exponent !== 'number' || Number.isNaN(exponent)) throw new ValueError('pow', `the exponent must be a number, got ${String(exponent)}`);
  return apply(powOp, [x], { exponent });
}

/** x², as x·x: the tape's fan-out gives the 2x for free. */
export function square(x: Tensor): Tensor {
  return mul(x, x);
}

/** 1/x. */
export function reciprocal(x: Tensor): Tensor {
  return div(1, x);
}
