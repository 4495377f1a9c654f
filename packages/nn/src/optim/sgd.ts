import { type Tensor, type TypedArray, noGrad } from '@tapegrad/core';
import { checkParamsAndGrads, positive } from './checks.js';
import type { Optimizer } from './optimizer.js';

export interface SGDOptions {
  /** Learning rate η: no default, because no value suits every cost's scale. */
  lr: number;
}

/**
 * Plain gradient descent, θ ← θ − η·∇C: the baseline of seed 001 that every other
 * optimiser is measured against, and the one whose behaviour is easiest to reason about
 * (it is stateless; `reset` does nothing). Stochastic when the caller's gradients come
 * from a mini-batch.
 */
export class SGD implements Optimizer {
  readonly name = 'SGD';
  readonly lr: number;

  constructor(options: SGDOptions) {
    this.lr = positive(this.name, 'learning rate', options?.lr);
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    noGrad(() => params.forEach((p, i) => p.assignInPlace((theta) => subtractScaled(theta, grads[i].data, this.lr))));
  }

  reset(): void {}
}

/**
 * θ ← θ − η·g in one pass over the storage: the same numbers as sub(θ, mul(g, η)) on every
 * backend. For float32 the ops round each step to float32 (η lifted to a float32 scalar,
 * the product rounded, then the difference rounded by the store); Math.fround reproduces
 * that exactly, since a double holds a float32 product exactly and rounding a double
 * difference of float32s to float32 is the correctly rounded float32 difference.
 */
function subtractScaled(theta: TypedArray, g: TypedArray, lr: number): void {
  if (theta instanceof Float32Array) {
    const eta = Math.fround(lr);
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i] - Math.fround(g[i] * eta);
  } else {
    for (let i = 0; i < theta.length; i++) theta[i] = theta[i] - g[i] * lr;
  }
}
