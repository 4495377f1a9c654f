import type { Tensor } from '@tapegrad/core';
import { checkParamsAndGrads, fixedHyperparameter, positive } from './checks.js';
import { InPlace, updateInPlace } from './inplace.js';
import type { Optimizer } from './optimizer.js';

/** Options of SGD: the learning rate. */
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
  declare readonly lr: number;
  /** θ ← θ − η·g is the same call with the same η every step: fit may replay it. */
  readonly replayable = true;

  constructor(options: SGDOptions) {
    fixedHyperparameter(this, 'lr', positive(this.name, 'learning rate', options?.lr));
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    params.forEach((p, i) => {
      // One backend call, θ ← θ − η·g written into θ: the numbers of sub(p, mul(g, η)) on
      // every backend (subScaled rounds as mul then sub do), no output tensor, no copy by
      // assign, no scratch. On a device the same call is enqueued on θ's device array.
      const k = new InPlace(p.dtype, p.shape);
      updateInPlace(this.name, p, (theta) => k.subScaled(theta, grads[i].storage, this.lr, theta));
    });
  }

  reset(): void {}
}

