import { type Tensor, ValueError, hvp, noGrad } from '@tapegrad/core';
import { checkParamsAndGrads, nonNegative, positive, positiveInteger } from './checks.js';
import type { Objective, Optimizer } from './optimizer.js';
import { assignValues, axpy, concatValues, dot, scaled, splitValues } from './vector.js';

export interface NewtonCGOptions {
  /** Fraction of the Newton step to take. Default 1. */
  lr?: number;
  /** Conjugate-gradient iterations (Hessian-vector products) per step at most. Default 10. */
  cgIterations?: number;
  /** λ added to the Hessian's diagonal: bounds the step where curvature is ~0. Default 1e-4. */
  damping?: number;
  /** CG stops once ‖residual‖ ≤ cgTolerance·‖g‖. Default 1e-10. */
  cgTolerance?: number;
}

/**
 * Truncated (Hessian-free) Newton: the Newton step without the Hessian. Solving
 * (H + λI)·p = −g by conjugate gradients needs only products H·v, which core's `hvp` gives
 * by reverse-over-reverse differentiation of the objective for about the cost of two
 * gradients. On a quadratic, k CG iterations minimise the cost over a k-dimensional
 * Krylov subspace, so with k ≥ |θ| one step lands on the minimum (up to the damping);
 * elsewhere it converges quadratically near a minimum where gradient descent crawls.
 *
 *   CG on (H + λI)p = −g from p = 0:  r = −g, d = r;
 *     α = rᵀr / dᵀ(H + λI)d,  p ← p + αd,  r ← r − α(H + λI)d,  d ← r + (r'ᵀr'/rᵀr)·d
 *   θ ← θ + lr·p
 *
 * Where H + λI has non-positive curvature along d (a saddle or a maximum), Newton's step
 * would head the wrong way: CG stops there and keeps the p built so far, which is a descent
 * direction, or takes −g if it is the very first direction.
 */
export class NewtonCG implements Optimizer {
  readonly name = 'NewtonCG';
  readonly lr: number;
  readonly cgIterations: number;
  readonly damping: number;
  readonly cgTolerance: number;
  #hessianVectorProducts = 0;

  constructor(options: NewtonCGOptions = {}) {
    this.lr = positive(this.name, 'learning rate', options.lr ?? 1);
    this.cgIterations = positiveInteger(this.name, 'cgIterations', options.cgIterations ?? 10);
    this.damping = nonNegative(this.name, 'damping', options.damping ?? 1e-4);
    this.cgTolerance = nonNegative(this.name, 'cgTolerance', options.cgTolerance ?? 1e-10);
  }

  /** Hessian-vector products computed so far: each costs about two gradients. */
  get hessianVectorProducts(): number {
    return this.#hessianVectorProducts;
  }

  step(params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective): void {
    checkParamsAndGrads(this.name, params, grads);
    if (typeof objective !== 'function') {
      throw new ValueError(this.name, 'needs the objective to compute Hessian-vector products: call step(params, grads, objective)');
    }
    const g = concatValues(grads);
    const gNorm = Math.sqrt(dot(g, g));
    if (gNorm === 0) return;
    const curvature = (v: Float64Array): Float64Array => {
      this.#hessianVectorProducts++;
      const hv = concatValues(hvp(() => objective(), params, splitValues(v, params)));
      return axpy(hv, this.damping, v);
    };

    let p: Float64Array = new Float64Array(g.length);
    let r: Float64Array = scaled(g, -1);
    let d: Float64Array = Float64Array.from(r);
    let rr = dot(r, r);
    for (let i = 0; i < this.cgIterations; i++) {
      const Ad = curvature(d);
      const dAd = dot(d, Ad);
      if (!(dAd > 0)) {
        if (i === 0) p = scaled(g, -1);
        break;
      }
      const alpha = rr / dAd;
      p = axpy(p, alpha, d);
      r = axpy(r, -alpha, Ad);
      const rrNext = dot(r, r);
      if (Math.sqrt(rrNext) <= this.cgTolerance * gNorm) break;
      d = axpy(r, rrNext / rr, d);
      rr = rrNext;
    }
    const x = concatValues(params);
    noGrad(() => assignValues(params, axpy(x, this.lr, p)));
  }

  /** Newton-CG keeps no state between steps. */
  reset(): void {}
}
