import { type Tensor, mul, noGrad, sub } from '@tapegrad/core';
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
    noGrad(() => params.forEach((p, i) => p.assign(sub(p, mul(grads[i], this.lr)))));
  }

  reset(): void {}
}
