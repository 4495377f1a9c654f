import { type Tensor, add, mul, noGrad, sub } from '@tapegrad/core';
import { checkParamsAndGrads, decayRate, positive } from './checks.js';
import type { Optimizer } from './optimizer.js';

export interface MomentumOptions {
  lr: number;
  /** μ in [0, 1): how much of the previous velocity survives a step. Default 0.9. */
  momentum?: number;
  /** Look ahead along the velocity (Nesterov's accelerated gradient). Default false. */
  nesterov?: boolean;
}

/**
 * Gradient descent with a velocity. In a long narrow valley plain SGD zig-zags across the
 * walls; averaging successive gradients cancels the zig-zag and accumulates speed along the
 * floor, up to 1/(1−μ) times the plain step.
 *
 * Heavy ball:  v ← μ·v + g,  θ ← θ − η·v.
 * Nesterov:    v ← μ·v + g,  θ ← θ − η·(g + μ·v), the heavy-ball step taken from the point
 * the velocity is about to carry θ to, which damps overshoot (PyTorch's formulation).
 * v starts at 0, so the first step of either equals η·g (η·(1+μ)·g for Nesterov).
 */
export class Momentum implements Optimizer {
  readonly name: 'Momentum' | 'Nesterov';
  readonly lr: number;
  readonly momentum: number;
  readonly nesterov: boolean;
  #velocity = new WeakMap<Tensor, Tensor>();

  constructor(options: MomentumOptions) {
    this.nesterov = options?.nesterov ?? false;
    this.name = this.nesterov ? 'Nesterov' : 'Momentum';
    this.lr = positive(this.name, 'learning rate', options?.lr);
    this.momentum = decayRate(this.name, 'momentum', options?.momentum ?? 0.9);
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    noGrad(() => params.forEach((p, i) => {
      const g = grads[i];
      const previous = this.#velocity.get(p);
      // detach: the velocity must not alias a gradient tensor the caller may reuse
      const v = previous ? add(mul(previous, this.momentum), g) : g.detach();
      this.#velocity.set(p, v);
      const direction = this.nesterov ? add(g, mul(v, this.momentum)) : v;
      p.assign(sub(p, mul(direction, this.lr)));
    }));
  }

  reset(): void {
    this.#velocity = new WeakMap();
  }
}
