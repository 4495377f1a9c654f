import { type Tensor, getBackend } from '@tapegrad/core';
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
    const backend = getBackend();
    params.forEach((p, i) => {
      // The kernels sub(p, mul(g, η)) runs, so the numbers are those of the ops on every
      // backend (η as the ops lift it: a scalar of p's dtype), but the difference is
      // written straight into θ: no output tensor, no copy by assign, one buffer less.
      const eta = p.dtype === 'float64' ? new Float64Array(1) : new Float32Array(1);
      eta[0] = this.lr;
      const scaled = p.dtype === 'float64' ? new Float64Array(p.size) : new Float32Array(p.size);
      backend.binary('mul', grads[i].data, grads[i].shape, eta, [], scaled, p.shape);
      p.assignInPlace((theta) => backend.binary('sub', theta, p.shape, scaled, p.shape, theta, p.shape));
    });
  }

  reset(): void {}
}

