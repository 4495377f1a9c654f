import { apply } from '../../op.js';
import type { Tensor } from '../../tensor.js';
import { mul, neg } from '../arithmetic.js';
import { unaryOp } from '../elementwise.js';
import { sigmoid } from '../math.js';

/*
 * softplus is a primitive (one 'softplus' kernel call), not a composite: it sits in every
 * binary cross-entropy from logits, where logSumExp over stack([0, x]) cost nine kernel
 * calls forward. It stays in this file, beside logSigmoid, because the public API exports
 * both from here.
 */

// softplus′ = σ, written in tape ops so it differentiates again (σ′ = σ(1 − σ)); σ(0) = ½
// exactly, where the kinked stable form max(x, 0) + log1p(e^−|x|) would give two one-sided
// derivatives. The kernel uses that form only for the value, which is smooth.
export const softplusOp = unaryOp('softplus', 'softplus', (dy, { inputs: [x] }) => [() => mul(dy, sigmoid(x))]);

/**
 * softplus(x) = log(1 + eˣ), computed as max(x, 0) + log1p(e^−|x|): finite for any finite x
 * (x = ±1000 included), accurate where it is tiny (x ≪ 0), smooth everywhere, with
 * derivative σ(x).
 */
export function softplus(x: Tensor): Tensor {
  return apply(softplusOp, [x], undefined);
}

/** log σ(x) = −softplus(−x), finite for any x: the stable road to binary cross-entropy. */
export function logSigmoid(x: Tensor): Tensor {
  return neg(softplus(neg(x)));
}
