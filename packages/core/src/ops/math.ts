import { ValueError } from '../errors.js';
import { apply } from '../op.js';
import type { Tensor } from '../tensor.js';
import { add, div, mul, neg, sub } from './arithmetic.js';
import { sign } from './rounding.js';
import { sameShapeBinaryOp, unaryOp } from './elementwise.js';

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

// σ′ = σ(1 − σ), as one kernel call: sigmoidGrad(σ, dy) = dy·σ(1 − σ)
export const sigmoidOp = unaryOp('sigmoid', 'sigmoid', (dy, { output }) => [() => sigmoidGrad(output, dy)]);

// tanh′ = 1 − tanh²: tanhGrad(tanh, dy) = dy·(1 − tanh²)
export const tanhOp = unaryOp('tanh', 'tanh', (dy, { output }) => [() => tanhGrad(output, dy)]);

// log(1 + x)′ = 1/(1 + x)
export const log1pOp = unaryOp('log1p', 'log1p', (dy, { inputs: [x] }) => [() => div(dy, add(x, 1))]);

// (eˣ − 1)′ = eˣ = output + 1: no second exp
export const expm1Op = unaryOp('expm1', 'expm1', (dy, { output }) => [() => mul(dy, add(output, 1))]);

// erf′(x) = 2/√π·e^(−x²), in tape ops so erf″ = −2x·erf′ follows
export const erfOp = unaryOp('erf', 'erf', (dy, { inputs: [x] }) => [() => mul(dy, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))]);

// sin′ = cos and cos′ = −sin: each VJP calls the other op, so every order follows
export const sinOp = unaryOp('sin', 'sin', (dy, { inputs: [x] }) => [() => mul(dy, cos(x))]);
export const cosOp = unaryOp('cos', 'cos', (dy, { inputs: [x] }) => [() => mul(dy, neg(sin(x)))]);

// relu′(z) = 1 for z > 0 and 0 otherwise; at exactly 0 we choose 0, as seed 000 says code
// usually does and as PyTorch and TF do, so a dead unit stays dead rather than half-alive
export const reluOp = unaryOp('relu', 'relu', (dy, { inputs: [x] }) => [() => reluGrad(x, dy)]);

/*
 * The activations' VJPs as primitives (TF's SigmoidGrad, TanhGrad, ReluGrad): one kernel
 * call instead of two or three, bit-identical to the mul/sub formula they replace (see
 * BinaryKernel). Each is differentiable in both arguments, in tape ops, so gradients of
 * gradients (hvp, order-2 gradcheck) go through them:
 *   sigmoidGrad(y, dy) = dy·y(1 − y):  ∂/∂y = dy·(1 − 2y),  ∂/∂dy = y(1 − y)
 *   tanhGrad(y, dy)    = dy·(1 − y²):  ∂/∂y = −2·dy·y,      ∂/∂dy = 1 − y²
 *   reluGrad(x, dy)    = dy·[x > 0]:   ∂/∂x = 0 (a step),   ∂/∂dy = [x > 0]
 */
export const sigmoidGradOp = sameShapeBinaryOp('sigmoidGrad', 'sigmoidGrad', (g, { inputs: [y, dy] }) => [
  () => mul(mul(g, dy), sub(1, mul(y, 2))),
  () => sigmoidGrad(y, g),
]);

export const tanhGradOp = sameShapeBinaryOp('tanhGrad', 'tanhGrad', (g, { inputs: [y, dy] }) => [
  () => mul(mul(g, dy), mul(y, -2)),
  () => tanhGrad(y, g),
]);

// x's gradient is null: the step is piecewise constant, as step(x) was to the tape
export const reluGradOp = sameShapeBinaryOp('reluGrad', 'reluGrad', (g, { inputs: [x] }) => [null, () => reluGrad(x, g)]);

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
/**
 * max(x, 0), except that relu(NaN) = NaN as in PyTorch (a poisoned network shows instead of
 * going quietly to 0), and relu(−0) = +0.
 */
export const relu = (x: Tensor): Tensor => apply(reluOp, [x], undefined);
/** log(1 + x), accurate where x is tiny (log1p(1e-20) = 1e-20, where log(1 + x) gives 0). */
export const log1p = (x: Tensor): Tensor => apply(log1pOp, [x], undefined);
/** eˣ − 1, accurate where x is tiny (expm1(1e-20) = 1e-20, where exp(x) − 1 gives 0). */
export const expm1 = (x: Tensor): Tensor => apply(expm1Op, [x], undefined);
/**
 * The error function 2/√π·∫₀ˣ e^(−t²) dt, in float64 to ≤ 3 ulp on the js backend (its own
 * series and continued fraction: Math has no erf); erf(±∞) = ±1.
 */
export const erf = (x: Tensor): Tensor => apply(erfOp, [x], undefined);
/** sin x (radians). */
export const sin = (x: Tensor): Tensor => apply(sinOp, [x], undefined);
/** cos x (radians). */
export const cos = (x: Tensor): Tensor => apply(cosOp, [x], undefined);

/** dy·y·(1 − y) for y = sigmoid(x): sigmoid's VJP in one kernel call. y and dy share one shape. */
export const sigmoidGrad = (y: Tensor, dy: Tensor): Tensor => apply(sigmoidGradOp, [y, dy], undefined);
/** dy·(1 − y²) for y = tanh(x): tanh's VJP in one kernel call. y and dy share one shape. */
export const tanhGrad = (y: Tensor, dy: Tensor): Tensor => apply(tanhGradOp, [y, dy], undefined);
/** dy where x > 0, else 0 (dy·step(x)): relu's VJP in one kernel call. x and dy share one shape. */
export const reluGrad = (x: Tensor, dy: Tensor): Tensor => apply(reluGradOp, [x, dy], undefined);

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

/** 1/√x, as 1/sqrt(x) (PyTorch's rsqrt): rsqrt(0) = +∞, rsqrt(x < 0) = NaN. */
export function rsqrt(x: Tensor): Tensor {
  return div(1, sqrt(x));
}
