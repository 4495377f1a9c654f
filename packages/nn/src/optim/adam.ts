import { type Tensor, add, div, mul, noGrad, sqrt, square, sub, zerosLike } from '@tapegrad/core';
import { checkParamsAndGrads, decayRate, positive } from './checks.js';
import type { Optimizer } from './optimizer.js';

export interface AdamOptions {
  /** Step size η. Default 1e-3. */
  lr?: number;
  /** Decay of the first-moment (mean) estimate. Default 0.9. */
  beta1?: number;
  /** Decay of the second-moment (uncentred variance) estimate. Default 0.999. */
  beta2?: number;
  /** Keeps the division finite where a gradient has been ~0 throughout. Default 1e-8. */
  eps?: number;
}

interface Moments {
  m: Tensor;
  v: Tensor;
  /** Steps taken for this parameter: bias correction depends on it. */
  t: number;
}

/**
 * Adam (Kingma & Ba, 2015): momentum plus a per-coordinate step size. Dividing by the
 * root-mean-square of recent gradients makes every coordinate move about η per step
 * whatever its gradient's scale, so one learning rate serves weights and biases, layers
 * near the input and near the output, and a default (1e-3) is usually good enough.
 *
 *   m ← β₁m + (1−β₁)g,   v ← β₂v + (1−β₂)g²,
 *   m̂ = m/(1−β₁ᵗ),      v̂ = v/(1−β₂ᵗ),
 *   θ ← θ − η·m̂/(√v̂ + ε).
 *
 * m and v start at 0 and so underestimate the moments early on; the 1−βᵗ factors undo
 * that bias exactly, which makes the first step η·g/(|g| + ε) ≈ η·sign(g).
 */
export class Adam implements Optimizer {
  readonly name = 'Adam';
  readonly lr: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  #moments = new WeakMap<Tensor, Moments>();

  constructor(options: AdamOptions = {}) {
    this.lr = positive(this.name, 'learning rate', options.lr ?? 1e-3);
    this.beta1 = decayRate(this.name, 'beta1', options.beta1 ?? 0.9);
    this.beta2 = decayRate(this.name, 'beta2', options.beta2 ?? 0.999);
    this.eps = positive(this.name, 'eps', options.eps ?? 1e-8);
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    const { lr, beta1, beta2, eps } = this;
    noGrad(() => params.forEach((p, i) => {
      const g = grads[i];
      const s = this.#moments.get(p) ?? { m: zerosLike(p), v: zerosLike(p), t: 0 };
      s.t += 1;
      s.m = add(mul(s.m, beta1), mul(g, 1 - beta1));
      s.v = add(mul(s.v, beta2), mul(square(g), 1 - beta2));
      this.#moments.set(p, s);
      const mHat = div(s.m, 1 - beta1 ** s.t);
      const vHat = div(s.v, 1 - beta2 ** s.t);
      p.assign(sub(p, mul(div(mHat, add(sqrt(vHat), eps)), lr)));
    }));
  }

  reset(): void {
    this.#moments = new WeakMap();
  }
}
