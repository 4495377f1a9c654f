import type { Tensor } from '@tapegrad/core';
import { checkParamsAndGrads, positive } from './checks.js';
import { InPlace, Scratch } from './inplace.js';
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

  #scratch = new Scratch();

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    params.forEach((p, i) => {
      // The kernels sub(p, mul(g, η)) runs, so the numbers are those of the ops on every
      // backend, but η·g goes into a scratch buffer reused across steps and the difference
      // straight into θ: no output tensor, no copy by assign, no allocation after step one.
      const k = new InPlace(p.dtype, p.shape);
      const scaled = this.#scratch.get(p.dtype, p.size, 0);
      k.scalarRight('mul', grads[i].data, this.lr, scaled);
      p.assignInPlace((theta) => k.binary('sub', theta, scaled, theta));
    });
  }

  reset(): void {}
}

