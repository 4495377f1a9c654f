import {
  type Tensor, ShapeError, ValueError, add, clip, div, log, logSoftmax, mean, mul, softplus, square, sub, sum,
} from '@tapegrad/core';
import type { Activation } from './activations.js';

/**
 * Costs C = mean over the batch of per-example losses (BACKPROP.md), with targets and
 * predictions laid out as [units, examples]. All are compositions of core ops: the tape
 * supplies their gradients. Each returns a scalar tensor on the tape.
 */

export type LossName = 'bce' | 'cce' | 'mse';
/** Every loss name, for validation and command-line choices. */
export const LOSSES: readonly LossName[] = ['bce', 'cce', 'mse'];

function checkPair(op: string, yHat: Tensor, y: Tensor): void {
  if (yHat.rank !== 2 || y.rank !== 2 || yHat.shape[0] !== y.shape[0] || yHat.shape[1] !== y.shape[1]) {
    throw new ShapeError(op, `predictions [${yHat.shape.join(',')}] and targets [${y.shape.join(',')}] must both be [units, examples] and equal`);
  }
}

/** Keeps log's argument inside (0, 1]: a prediction of exactly 0 or 1 costs a large but finite amount. */
function epsilonOf(t: Tensor): number {
  return t.dtype === 'float64' ? 1e-12 : 1e-7;
}

/**
 * Mean over the batch's columns of per-column sums, as Σ(all)/M: one sum instead of a sum
 * per column and then their mean (two kernel calls fewer per step, forward and backward).
 * The gradient, dy/M for every element, is the same number either way.
 */
function meanOfColumnSums(perElement: Tensor): Tensor {
  const columns = perElement.shape[1];
  // an empty batch: mean's own error (no average over zero examples), not a silent NaN
  if (columns === 0) return mean(sum(perElement, 0));
  return div(sum(perElement), columns);
}

/**
 * Binary cross-entropy of seed 000 (eq. 15/24), summed over the output units and averaged
 * over the examples: C = −(1/M) Σₘ Σᵢ [yᵢ log ŷᵢ + (1−yᵢ) log(1−ŷᵢ)]. ŷ is clipped to
 * [ε, 1−ε], so ŷ = 0 or 1 gives a finite cost and finite gradients.
 */
export function binaryCrossEntropy(yHat: Tensor, y: Tensor): Tensor {
  checkPair('binaryCrossEntropy', yHat, y);
  const eps = epsilonOf(yHat);
  const p = clip(yHat, eps, 1 - eps);
  return meanOfColumnSums(add(mul(y, log(p)), mul(sub(1, y), log(sub(1, p))))).neg();
}

/**
 * The same cost from the pre-activations Z (ŷ = σ(Z)), in the form that never takes the log
 * of a rounded 0: per element softplus(z) − y·z. Its gradient is (σ(Z) − Y)/M, BP1's closed
 * form for sigmoid + BCE.
 */
export function binaryCrossEntropyFromLogits(z: Tensor, y: Tensor): Tensor {
  checkPair('binaryCrossEntropyFromLogits', z, y);
  return meanOfColumnSums(sub(softplus(z), mul(y, z)));
}

/** Categorical cross-entropy −(1/M) Σₘ Σᵢ yᵢ log ŷᵢ for probabilities ŷ (each column sums to 1). */
export function categoricalCrossEntropy(yHat: Tensor, y: Tensor): Tensor {
  checkPair('categoricalCrossEntropy', yHat, y);
  return meanOfColumnSums(mul(y, log(clip(yHat, epsilonOf(yHat), 1)))).neg();
}

/** The same from logits Z (ŷ = softmax over each column), through logSoftmax: stable for any Z. */
export function categoricalCrossEntropyFromLogits(z: Tensor, y: Tensor): Tensor {
  checkPair('categoricalCrossEntropyFromLogits', z, y);
  return meanOfColumnSums(mul(y, logSoftmax(z, 0))).neg();
}

/** Mean squared error with seed 001's ½: C = (1/M) Σₘ ½‖yᵐ − ŷᵐ‖². */
export function meanSquaredError(yHat: Tensor, y: Tensor): Tensor {
  checkPair('meanSquaredError', yHat, y);
  return mul(meanOfColumnSums(square(sub(y, yHat))), 0.5);
}

/** (λ/2) Σ‖W‖² over the given tensors: L2 weight decay to add to the cost (seed 001 TODO). */
export function l2Penalty(tensors: readonly Tensor[], lambda: number): Tensor {
  if (!(lambda >= 0)) throw new ValueError('l2Penalty', `lambda must be ≥ 0, got ${lambda}`);
  if (tensors.length === 0) throw new ValueError('l2Penalty', 'needs at least one tensor');
  return mul(tensors.map((t) => sum(square(t))).reduce((a, b) => add(a, b)), lambda / 2);
}

/**
 * The cost of a named loss for an output layer with activation f, given its Zᴸ and Aᴸ.
 * Where f and the loss pair up (sigmoid + bce, softmax + cce), the stable from-logits form
 * is used; otherwise the loss of the activations.
 */
export function cost(loss: LossName, output: { z: Tensor; a: Tensor; activation: Activation }, y: Tensor): Tensor {
  switch (loss) {
    case 'bce':
      return output.activation === 'sigmoid' ? binaryCrossEntropyFromLogits(output.z, y) : binaryCrossEntropy(output.a, y);
    case 'cce':
      return output.activation === 'softmax' ? categoricalCrossEntropyFromLogits(output.z, y) : categoricalCrossEntropy(output.a, y);
    case 'mse':
      return meanSquaredError(output.a, y);
    default:
      throw new ValueError('cost', `unknown loss '${String(loss)}': choose one of ${LOSSES.join(', ')}`);
  }
}
