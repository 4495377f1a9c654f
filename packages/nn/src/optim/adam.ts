import { type Tensor, keep, zerosLike } from '@tapegrad/core';
import { checkParamsAndGrads, decayRate, fixedHyperparameter, positive } from './checks.js';
import { InPlace, Scratch, updateInPlace } from './inplace.js';
import type { Optimizer } from './optimizer.js';

/** Options of Adam: learning rate, β₁, β₂, ε. */
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
  /**
   * 1 − β₁ᵗ and 1 − β₂ᵗ in the parameter's dtype, one array each kept for all steps, which
   * the kernels read: rounded as scalarRight rounds a number, and rewritten by prepareReplay
   * before a replayed step.
   */
  corrections: [Float32Array | Float64Array, Float32Array | Float64Array];
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
  /** The same calls every step; the bias corrections are written by prepareReplay. */
  readonly replayable = true;
  declare readonly lr: number;
  declare readonly beta1: number;
  declare readonly beta2: number;
  declare readonly eps: number;
  #moments = new WeakMap<Tensor, Moments>();
  #scratch = new Scratch();

  constructor(options: AdamOptions = {}) {
    fixedHyperparameter(this, 'lr', positive(this.name, 'learning rate', options.lr ?? 1e-3));
    fixedHyperparameter(this, 'beta1', decayRate(this.name, 'beta1', options.beta1 ?? 0.9));
    fixedHyperparameter(this, 'beta2', decayRate(this.name, 'beta2', options.beta2 ?? 0.999));
    fixedHyperparameter(this, 'eps', positive(this.name, 'eps', options.eps ?? 1e-8));
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    const { lr, beta1, beta2, eps } = this;
    params.forEach((p, i) => {
      const g = grads[i].storage;
      const k = new InPlace(p.dtype, p.shape);
      const s = this.#moments.get(p) ?? this.#fresh(p);
      this.#moments.set(p, s);
      s.t += 1;
      this.#writeCorrections(s);
      // The kernels of the formula as ops (m ← add(mul(m, β₁), mul(g, 1−β₁)), …, then
      // sub(θ, mul(div(m̂, add(sqrt(v̂), ε)), η))), operand for operand, so the numbers are
      // those of the ops; m and v are overwritten where they lie (starting from zeros as the
      // ops did, so even the signs of zeros agree), θ is written in place as SGD writes it,
      // and the intermediates live in two scratch buffers shared by all parameters.
      const a = this.#scratch.get(p.dtype, p.size, 0);
      const b = this.#scratch.get(p.dtype, p.size, 1);
      updateInPlace(this.name, s.m, (m) => {
        k.scalarRight('mul', g, 1 - beta1, a);
        k.scalarRight('mul', m, beta1, m);
        k.binary('add', m, a, m);
      });
      updateInPlace(this.name, s.v, (v) => {
        k.binary('mul', g, g, a); // square(g) is mul(g, g)
        k.scalarRight('mul', a, 1 - beta2, a);
        k.scalarRight('mul', v, beta2, v);
        k.binary('add', v, a, v);
      });
      k.scalarArrayRight('div', s.m.storage, s.corrections[0], a); // m̂ = m / (1 − β₁ᵗ)
      k.scalarArrayRight('div', s.v.storage, s.corrections[1], b); // v̂ = v / (1 − β₂ᵗ)
      k.unary('sqrt', b, b);
      k.scalarRight('add', b, eps, b);
      k.binary('div', a, b, a);
      updateInPlace(this.name, p, (theta) => k.subScaled(theta, a, lr, theta)); // sub(θ, mul(·, η)) in one call
    });
  }

  /** A replayed step's JavaScript: the step count moved on (advance) and the bias corrections written. */
  prepareReplay(params: readonly Tensor[], advance: boolean): void {
    for (const p of params) {
      const s = this.#moments.get(p);
      if (s === undefined) continue; // fit never replays a first step
      if (advance) s.t += 1;
      this.#writeCorrections(s);
    }
  }

  #fresh(p: Tensor): Moments {
    const scalar = () => (p.dtype === 'float64' ? new Float64Array(1) : new Float32Array(1));
    // kept: a step may run inside tidy(), and the moments must outlive it
    return { m: keep(zerosLike(p)), v: keep(zerosLike(p)), t: 0, corrections: [scalar(), scalar()] };
  }

  #writeCorrections(s: Moments): void {
    s.corrections[0][0] = 1 - this.beta1 ** s.t;
    s.corrections[1][0] = 1 - this.beta2 ** s.t;
  }

  reset(): void {
    this.#moments = new WeakMap();
    this.#scratch.clear();
  }
}
