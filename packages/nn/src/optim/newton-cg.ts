import { type Tensor, ValueError, hvp, noGrad } from '@tapegrad/core';
import { checkParamsAndGrads, nonNegative, positive, positiveInteger } from './checks.js';
import type { Objective, Optimizer } from './optimizer.js';
import { refuseDevice } from './inplace.js';
import { assignValues, axpy, concatValues, dot, maxAbs, sameTensors, scaled, splitValues } from './vector.js';

/** Options of NewtonCG: learning rate, conjugate-gradient iterations, damping, tolerances, trust region. */
export interface NewtonCGOptions {
  /** Fraction of the trust-region step to take. Default 1 (the whole step). */
  lr?: number;
  /** Conjugate-gradient iterations (Hessian-vector products) per step at most. Default 10. */
  cgIterations?: number;
  /** λ added to the Hessian's diagonal. Default 0: the trust region already bounds the step where curvature is ~0. */
  damping?: number;
  /** CG stops once ‖residual‖ ≤ cgTolerance·‖g‖. Default 1e-10 (solve as well as cgIterations allow). */
  cgTolerance?: number;
  /** Stop (step does nothing) once max|∂C/∂θ| ≤ this. Default 1e-7, as L-BFGS. */
  toleranceGrad?: number;
  /**
   * The first trust-region radius, in θ (Euclidean length). Default: the first step's own
   * length (the CG solution with no bound), so a well-modelled first step is taken whole.
   */
  initialRadius?: number;
  /** The radius never grows beyond this. Default 1000. */
  maxRadius?: number;
  /** Radius reductions tried within one step before it gives up and leaves θ unchanged. Default 30. */
  maxShrinks?: number;
}

/** How the Steihaug CG loop ended: inside the region, on its boundary, or where curvature turned non-positive. */
type CGExit = 'converged' | 'iterations' | 'boundary' | 'negativeCurvature';

interface TrustRegionStep {
  p: Float64Array;
  /** m(p) − m(0) = gᵀp + ½pᵀBp, negative for a useful step. */
  modelChange: number;
  exit: CGExit;
}

/**
 * Truncated (Hessian-free) Newton in a trust region, the Steihaug–Toint method (Nocedal &
 * Wright, Algorithms 4.1 and 7.2). Newton's step minimises the quadratic model
 * m(p) = C + gᵀp + ½pᵀHp; it needs only products H·v, which core's `hvp` gives by
 * reverse-over-reverse differentiation for about the cost of two gradients, so conjugate
 * gradients solve (H + λI)p = −g without forming H. On a quadratic, k CG iterations minimise
 * the cost over a k-dimensional Krylov subspace, so with k ≥ |θ| one step lands on the minimum.
 *
 * But the model is only trusted within a radius Δ of θ, and away from a minimum it may be
 * wrong (a net's Hessian is indefinite, or nearly singular so that the Newton step is huge):
 *
 *   CG from p = 0:  r = −g, d = r;  for each iteration:
 *     dᵀBd ≤ 0 (negative curvature)  →  p ← p + τd on the boundary ‖p + τd‖ = Δ, stop
 *     α = rᵀr / dᵀBd;  ‖p + αd‖ ≥ Δ   →  p ← p + τd on the boundary, stop
 *     p ← p + αd,  r ← r − αBd;  ‖r‖ ≤ cgTolerance·‖g‖  →  stop
 *   ρ = (C(θ) − C(θ + p)) / (m(0) − m(p)), the actual decrease over the predicted one
 *   ρ < ¼  →  Δ ← ¼‖p‖ (and if ρ ≤ 10⁻⁴ the step is refused: θ stays, CG runs again in the smaller region)
 *   ρ > ¾ and p on the boundary  →  Δ ← min(2Δ, maxRadius)
 *
 * So one `step` never increases the cost: it takes a step whose decrease the model
 * predicted at least in part, or none. Each CG iterate decreases m, so even a truncated
 * solve is a descent step, and along a direction of negative curvature it goes to the
 * boundary, downhill, instead of towards the saddle or maximum that Newton's step would seek.
 * Δ is kept between calls (for the same parameter tensors; `reset` forgets it).
 * Deterministic, full-batch problems only: the ratio test compares two costs.
 */
export class NewtonCG implements Optimizer {
  readonly name = 'NewtonCG';
  readonly lr: number;
  readonly cgIterations: number;
  readonly damping: number;
  readonly cgTolerance: number;
  readonly toleranceGrad: number;
  readonly initialRadius: number | undefined;
  readonly maxRadius: number;
  readonly maxShrinks: number;
  #hessianVectorProducts = 0;
  #evaluations = 0;
  #params: readonly Tensor[] | null = null;
  #radius: number | null = null;

  constructor(options: NewtonCGOptions = {}) {
    this.lr = positive(this.name, 'learning rate', options.lr ?? 1);
    this.cgIterations = positiveInteger(this.name, 'cgIterations', options.cgIterations ?? 10);
    this.damping = nonNegative(this.name, 'damping', options.damping ?? 0);
    this.cgTolerance = nonNegative(this.name, 'cgTolerance', options.cgTolerance ?? 1e-10);
    this.toleranceGrad = nonNegative(this.name, 'toleranceGrad', options.toleranceGrad ?? 1e-7);
    this.maxRadius = positive(this.name, 'maxRadius', options.maxRadius ?? 1000);
    this.initialRadius = options.initialRadius === undefined ? undefined : positive(this.name, 'initialRadius', options.initialRadius);
    if (this.initialRadius !== undefined && this.initialRadius > this.maxRadius) {
      throw new ValueError(this.name, `initialRadius (${this.initialRadius}) must be ≤ maxRadius (${this.maxRadius})`);
    }
    this.maxShrinks = positiveInteger(this.name, 'maxShrinks', options.maxShrinks ?? 30);
  }

  /** Hessian-vector products computed so far: each costs about two gradients. */
  get hessianVectorProducts(): number {
    return this.#hessianVectorProducts;
  }

  /** Cost evaluations made by ratio tests so far (one at θ and one per trial step). */
  get evaluations(): number {
    return this.#evaluations;
  }

  /** The current trust-region radius Δ, or undefined before the first step. */
  get radius(): number | undefined {
    return this.#radius ?? undefined;
  }

  step(params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective): void {
    checkParamsAndGrads(this.name, params, grads);
    refuseDevice(this.name, params, 'train on a CPU backend (js, wasm, native), or use SGD, Momentum, Adam or RProp, which update on the device');
    if (typeof objective !== 'function') {
      throw new ValueError(this.name, 'needs the objective to compute Hessian-vector products: call step(params, grads, objective)');
    }
    if (!sameTensors(this.#params, params)) {
      this.reset();
      this.#params = [...params];
    }
    const g = concatValues(grads);
    if (maxAbs(g) <= this.toleranceGrad) return;
    const x = concatValues(params);
    // B·v at θ: every product is taken before any trial value is assigned
    const curvature = (v: Float64Array): Float64Array => {
      this.#hessianVectorProducts++;
      const hv = concatValues(hvp(() => objective(), params, splitValues(v, params)));
      return this.damping === 0 ? hv : axpy(hv, this.damping, v);
    };
    const f0 = this.#cost(objective);
    // decreases below the cost's rounding make ρ noise: then the model is trusted
    const unitRoundoff = params.some((t) => t.dtype === 'float32') ? 2 ** -23 : Number.EPSILON;
    const roundoff = 64 * unitRoundoff * Math.max(1, Math.abs(f0));
    let radius = this.#radius ?? this.initialRadius ?? Infinity;

    for (let attempt = 0; attempt <= this.maxShrinks; attempt++) {
      const { p: full, modelChange: fullChange } = steihaug(g, curvature, radius, this.cgIterations, this.cgTolerance);
      const fullNorm = norm(full);
      if (!(fullNorm > 0) || !Number.isFinite(fullNorm)) break;
      if (radius === Infinity) {
        // with no radius yet, the first step's own length sets the scale
        radius = Math.min(fullNorm, this.maxRadius);
        // longer than maxRadius: solve again within it
        if (fullNorm > radius) continue;
      }
      const p = this.lr === 1 ? full : scaled(full, this.lr);
      const pNorm = norm(p);
      // m(lr·p) − m(0) = lr·gᵀp + ½lr²·pᵀBp, from the full step's change and gᵀp
      const gp = dot(g, full);
      const predicted = -(this.lr === 1 ? fullChange : this.lr * gp + this.lr * this.lr * (fullChange - gp));
      // a model that predicts no decrease (only rounding can make it so): nothing to gain
      if (!(predicted > 0) && !(Math.abs(predicted) <= roundoff)) break;
      noGrad(() => assignValues(params, axpy(x, 1, p)));
      const actual = f0 - this.#cost(objective);
      const rho = Math.abs(actual) <= roundoff && Math.abs(predicted) <= roundoff ? 1 : actual / predicted;
      if (rho < 0.25 || Number.isNaN(rho)) radius = 0.25 * pNorm;
      else if (rho > 0.75 && pNorm >= 0.99 * radius) radius = Math.min(2 * radius, this.maxRadius);
      if (rho > 1e-4) {
        this.#radius = radius;
        return;
      }
      noGrad(() => assignValues(params, x));
    }
    // no acceptable step in maxShrinks reductions: θ is unchanged; keep the (small) radius
    this.#radius = radius === Infinity ? null : radius;
  }

  /** Forgets the trust-region radius. */
  reset(): void {
    this.#params = null;
    this.#radius = null;
  }

  #cost(objective: Objective): number {
    this.#evaluations++;
    return noGrad(() => objective().item());
  }
}

function norm(v: Float64Array): number {
  return Math.sqrt(dot(v, v));
}

/**
 * Steihaug's truncated CG for min m(p) = gᵀp + ½pᵀBp subject to ‖p‖ ≤ radius. Every
 * iterate lowers m and lengthens p, so stopping at the boundary (or at the iteration limit)
 * keeps the best point of the path inside the region.
 */
function steihaug(
  g: Float64Array, curvature: (v: Float64Array) => Float64Array, radius: number, iterations: number, tolerance: number,
): TrustRegionStep {
  const gNorm = norm(g);
  let p: Float64Array = new Float64Array(g.length);
  let r: Float64Array = scaled(g, -1); // r = −g − Bp
  let d: Float64Array = Float64Array.from(r);
  let rr = dot(r, r);
  // m(p) − m(0) = gᵀp + ½pᵀBp = ½(gᵀp − rᵀp) since Bp = −g − r
  const change = (): number => 0.5 * (dot(g, p) - dot(r, p));
  for (let i = 0; i < iterations; i++) {
    const Bd = curvature(d);
    const dBd = dot(d, Bd);
    if (!(dBd > 0)) {
      // non-positive curvature along d: m decreases without bound that way, go to the edge;
      // with no edge yet (the first step), take the Cauchy-like step −g capped at length 1
      if (!Number.isFinite(radius)) {
        if (i > 0) return { p, modelChange: change(), exit: 'negativeCurvature' };
        // d = −g here, so p = c·d and pᵀBp = c²·dᵀBd
        const c = Math.min(1, 1 / gNorm);
        p = scaled(d, c);
        return { p, modelChange: dot(g, p) + 0.5 * c * c * dBd, exit: 'negativeCurvature' };
      }
      const tau = toBoundary(p, d, radius);
      p = axpy(p, tau, d);
      r = axpy(r, -tau, Bd);
      return { p, modelChange: change(), exit: 'negativeCurvature' };
    }
    const alpha = rr / dBd;
    const next = axpy(p, alpha, d);
    if (norm(next) >= radius) {
      const tau = toBoundary(p, d, radius);
      p = axpy(p, tau, d);
      r = axpy(r, -tau, Bd);
      return { p, modelChange: change(), exit: 'boundary' };
    }
    p = next;
    r = axpy(r, -alpha, Bd);
    const rrNext = dot(r, r);
    if (Math.sqrt(rrNext) <= tolerance * gNorm) return { p, modelChange: change(), exit: 'converged' };
    d = axpy(r, rrNext / rr, d);
    rr = rrNext;
  }
  return { p, modelChange: change(), exit: 'iterations' };
}

/** τ ≥ 0 with ‖p + τd‖ = radius (p is inside, so the positive root exists). */
function toBoundary(p: Float64Array, d: Float64Array, radius: number): number {
  const dd = dot(d, d), pd = dot(p, d), pp = dot(p, p);
  return (-pd + Math.sqrt(pd * pd + dd * (radius * radius - pp))) / dd;
}
