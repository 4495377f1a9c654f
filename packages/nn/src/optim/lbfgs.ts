import { Tape, type Tensor, ValueError, noGrad } from '@tapegrad/core';
import { checkParamsAndGrads, nonNegative, positive, positiveInteger } from './checks.js';
import type { Objective, Optimizer } from './optimizer.js';
import { refuseDevice } from './inplace.js';
import { assignValues, axpy, concatValues, dot, maxAbs, sameTensors, scaled } from './vector.js';

/** How LBFGS picks its step length along a direction. */
export type LineSearch = 'strongWolfe' | 'armijo' | 'none';
/** Every line search LBFGS offers. */
export const LINE_SEARCHES: readonly LineSearch[] = ['strongWolfe', 'armijo', 'none'];

/** Options of LBFGS: history size, line search, tolerances. */
export interface LBFGSOptions {
  /** Initial trial step along the quasi-Newton direction (1 is the Newton step). Default 1. */
  lr?: number;
  /** Curvature pairs (s, y) kept: memory is 2·historySize vectors of |θ|. Default 10. */
  historySize?: number;
  /**
   * How far to go along the direction. 'strongWolfe' (default) evaluates the cost and its
   * gradient at trial points; 'armijo' backtracks on the cost alone; 'none' takes the
   * fixed step lr and needs no objective.
   */
  lineSearch?: LineSearch;
  /** Stop (step does nothing) once max|∂C/∂θ| ≤ this. Default 1e-7. */
  toleranceGrad?: number;
  /** The line search gives up once its bracket is narrower than this in θ. Default 1e-9. */
  toleranceChange?: number;
  /** Cost (and gradient) evaluations per line search at most. Default 25. */
  maxLineSearchEvaluations?: number;
  /** Sufficient-decrease constant c₁ (Armijo). Default 1e-4. */
  c1?: number;
  /** Curvature constant c₂ of the strong Wolfe conditions, in (c₁, 1). Default 0.9. */
  c2?: number;
}

/** The cost, its gradient and its slope along the search direction, at θ + t·d. */
interface Trial {
  t: number;
  f: number;
  g: Float64Array;
  gtd: number;
}

/**
 * Limited-memory BFGS (Nocedal, 1980): a quasi-Newton method. Newton's step −H⁻¹g is
 * scale-free and converges in a handful of iterations near a minimum, but H costs |θ|² to
 * store and |θ|³ to invert. L-BFGS builds H⁻¹g instead from the last m steps
 * sₖ = θₖ₊₁ − θₖ and gradient changes yₖ = gₖ₊₁ − gₖ (curvature seen along the way), with
 * the two-loop recursion in O(m·|θ|):
 *
 *   q ← g;  for k newest → oldest: αₖ = ρₖ sₖᵀq,  q ← q − αₖ yₖ     (ρₖ = 1/yₖᵀsₖ)
 *   r ← γq  (γ = sᵀy/yᵀy of the newest pair: H₀ scaled to the observed curvature)
 *   for k oldest → newest: β = ρₖ yₖᵀr,  r ← r + sₖ(αₖ − β)
 *   d = −r,  θ ← θ + t·d
 *
 * The step t comes from a line search on the objective: strong Wolfe (sufficient decrease
 * and a flattened slope, which guarantees yᵀs > 0 and so a positive-definite H⁻¹), or
 * Armijo backtracking. Pairs with yᵀs ≤ 1e-10 are skipped for the same reason. One call
 * of `step` is one iteration; (s, y) pairs are formed from the θ and g passed on successive
 * calls, so the history stays right whoever computes the gradients. Deterministic,
 * full-batch problems only: mini-batch noise corrupts the curvature pairs.
 */
export class LBFGS implements Optimizer {
  readonly name = 'LBFGS';
  readonly lr: number;
  readonly historySize: number;
  readonly lineSearch: LineSearch;
  readonly toleranceGrad: number;
  readonly toleranceChange: number;
  readonly maxLineSearchEvaluations: number;
  readonly c1: number;
  readonly c2: number;

  #params: readonly Tensor[] | null = null;
  #previousX: Float64Array | null = null;
  #previousG: Float64Array | null = null;
  #s: Float64Array[] = [];
  #y: Float64Array[] = [];
  #rho: number[] = [];
  #evaluations = 0;

  constructor(options: LBFGSOptions = {}) {
    this.lr = positive(this.name, 'learning rate', options.lr ?? 1);
    this.historySize = positiveInteger(this.name, 'historySize', options.historySize ?? 10);
    this.lineSearch = options.lineSearch ?? 'strongWolfe';
    if (!LINE_SEARCHES.includes(this.lineSearch)) {
      throw new ValueError(this.name, `unknown lineSearch '${String(this.lineSearch)}': choose one of ${LINE_SEARCHES.join(', ')}`);
    }
    this.toleranceGrad = nonNegative(this.name, 'toleranceGrad', options.toleranceGrad ?? 1e-7);
    this.toleranceChange = nonNegative(this.name, 'toleranceChange', options.toleranceChange ?? 1e-9);
    this.maxLineSearchEvaluations = positiveInteger(this.name, 'maxLineSearchEvaluations', options.maxLineSearchEvaluations ?? 25);
    this.c1 = positive(this.name, 'c1', options.c1 ?? 1e-4);
    this.c2 = options.c2 ?? 0.9;
    if (!(this.c2 > this.c1 && this.c2 < 1)) throw new ValueError(this.name, `c2 must be in (c1, 1) = (${this.c1}, 1), got ${this.c2}`);
  }

  /** Objective evaluations made by line searches so far (the cost of L-BFGS beyond its iterations). */
  get evaluations(): number {
    return this.#evaluations;
  }

  step(params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective): void {
    checkParamsAndGrads(this.name, params, grads);
    refuseDevice(this.name, params, 'train on a CPU backend (js, wasm, native), or use SGD, Momentum, Adam or RProp, which update on the device');
    if (this.lineSearch !== 'none' && typeof objective !== 'function') {
      throw new ValueError(this.name, `lineSearch '${this.lineSearch}' evaluates the cost at trial points: pass step(params, grads, objective), or choose lineSearch: 'none'`);
    }
    if (!sameTensors(this.#params, params)) {
      this.reset();
      this.#params = [...params];
    }
    const x = concatValues(params);
    const g = concatValues(grads);
    this.#remember(x, g);
    if (maxAbs(g) <= this.toleranceGrad) return;

    let d = this.#direction(g);
    let gtd = dot(g, d);
    if (!(gtd < 0)) {
      // a stale history can point uphill (the cost changed under it): start again from −g
      this.#clearHistory();
      d = scaled(g, -1);
      gtd = dot(g, d);
    }
    // with no curvature seen yet, the length of −g says nothing about the distance to the
    // minimum: cap the first step at length 1 in the ℓ1 sense (as PyTorch does)
    let l1 = 0;
    for (const v of g) l1 += Math.abs(v);
    const t0 = this.#s.length === 0 ? this.lr * Math.min(1, 1 / l1) : this.lr;

    noGrad(() => {
      if (this.lineSearch === 'none') {
        assignValues(params, axpy(x, t0, d));
        return;
      }
      const f0 = objective!().item();
      this.#evaluations++;
      const t = this.lineSearch === 'armijo'
        ? this.#armijo(params, objective!, x, d, t0, f0, gtd)
        : this.#strongWolfe(params, objective!, x, d, t0, f0, g, gtd);
      assignValues(params, axpy(x, t, d));
      // the search found no decrease along d: its curvature model is useless, drop it
      if (t === 0) this.#clearHistory();
    });
  }

  reset(): void {
    this.#params = null;
    this.#previousX = null;
    this.#previousG = null;
    this.#clearHistory();
  }

  #clearHistory(): void {
    this.#s = [];
    this.#y = [];
    this.#rho = [];
  }

  /** Adds the pair (s, y) from the previous call's θ and g to this one's. */
  #remember(x: Float64Array, g: Float64Array): void {
    const px = this.#previousX, pg = this.#previousG;
    this.#previousX = x;
    this.#previousG = g;
    if (!px || !pg) return;
    const s = axpy(x, -1, px);
    const y = axpy(g, -1, pg);
    const ys = dot(y, s);
    if (ys <= 1e-10) return;
    if (this.#s.length === this.historySize) {
      this.#s.shift();
      this.#y.shift();
      this.#rho.shift();
    }
    this.#s.push(s);
    this.#y.push(y);
    this.#rho.push(1 / ys);
  }

  /** The two-loop recursion: −H⁻¹g from the stored pairs (−g when there are none). */
  #direction(g: Float64Array): Float64Array {
    const k = this.#s.length;
    const q = Float64Array.from(g);
    const alpha = new Array<number>(k);
    for (let i = k - 1; i >= 0; i--) {
      alpha[i] = this.#rho[i] * dot(this.#s[i], q);
      const y = this.#y[i];
      for (let j = 0; j < q.length; j++) q[j] -= alpha[i] * y[j];
    }
    const gamma = k > 0 ? dot(this.#s[k - 1], this.#y[k - 1]) / dot(this.#y[k - 1], this.#y[k - 1]) : 1;
    const r = scaled(q, gamma);
    for (let i = 0; i < k; i++) {
      const beta = this.#rho[i] * dot(this.#y[i], r);
      const s = this.#s[i];
      for (let j = 0; j < r.length; j++) r[j] += s[j] * (alpha[i] - beta);
    }
    return scaled(r, -1);
  }

  /** The cost and gradient at θ = x + t·d, by assigning the trial values and recording the objective. */
  #evaluate(params: readonly Tensor[], objective: Objective, x: Float64Array, d: Float64Array, t: number): Trial {
    assignValues(params, axpy(x, t, d));
    const tape = new Tape();
    const y = tape.record(objective);
    const g = concatValues(tape.gradient(y, params));
    this.#evaluations++;
    return { t, f: y.item(), g, gtd: dot(g, d) };
  }

  /** Halves t until the Armijo condition f(x + t·d) ≤ f(x) + c₁·t·gᵀd holds. */
  #armijo(params: readonly Tensor[], objective: Objective, x: Float64Array, d: Float64Array, t0: number, f0: number, gtd0: number): number {
    let t = t0;
    for (let i = 0; i < this.maxLineSearchEvaluations; i++) {
      assignValues(params, axpy(x, t, d));
      const f = noGrad(() => objective().item());
      this.#evaluations++;
      if (f <= f0 + this.c1 * t * gtd0) return t;
      t /= 2;
    }
    return 0; // no decrease found: stay put rather than step uphill
  }

  /**
   * A step satisfying the strong Wolfe conditions, f(t) ≤ f(0) + c₁·t·f′(0) and
   * |f′(t)| ≤ c₂·|f′(0)|: bracket a minimiser by extrapolating, then zoom in with safeguarded
   * cubic interpolation (Nocedal & Wright, Algorithms 3.5–3.6, in the form of minFunc and
   * PyTorch's LBFGS). Returns the best acceptable t found.
   */
  #strongWolfe(
    params: readonly Tensor[], objective: Objective, x: Float64Array, d: Float64Array,
    t0: number, f0: number, g0: Float64Array, gtd0: number,
  ): number {
    const { c1, c2, maxLineSearchEvaluations: maxEvaluations } = this;
    const dNorm = maxAbs(d);
    const evaluate = (t: number) => this.#evaluate(params, objective, x, d, t);
    const start: Trial = { t: 0, f: f0, g: g0, gtd: gtd0 };

    let previous = start;
    let current = evaluate(t0);
    let evaluations = 1;
    let bracket: Trial[] | null = null;
    let done = false;

    // 1. extrapolate until the step overshoots (cost up or slope non-negative) or is acceptable
    while (evaluations < maxEvaluations) {
      if (current.f > f0 + c1 * current.t * gtd0 || (evaluations > 1 && current.f >= previous.f)) {
        bracket = [previous, current];
        break;
      }
      if (Math.abs(current.gtd) <= -c2 * gtd0) {
        bracket = [current];
        done = true;
        break;
      }
      if (current.gtd >= 0) {
        bracket = [previous, current];
        break;
      }
      const lo = current.t + 0.01 * (current.t - previous.t);
      const hi = current.t * 10;
      const t = cubicMinimum(previous, current, lo, hi);
      previous = current;
      current = evaluate(t);
      evaluations++;
    }
    if (bracket === null) bracket = [start, current];

    // 2. zoom: shrink [low, high] around a point that satisfies both conditions
    let insufficientProgress = false;
    while (!done && bracket.length === 2 && evaluations < maxEvaluations) {
      let [low, high]: Trial[] = bracket[0].f <= bracket[1].f ? [bracket[0], bracket[1]] : [bracket[1], bracket[0]];
      if (Math.abs(high.t - low.t) * dNorm < this.toleranceChange) break;
      const left = Math.min(low.t, high.t), right = Math.max(low.t, high.t);
      let t = cubicMinimum(bracket[0], bracket[1], left, right);
      // interpolation can creep towards an end of the bracket and stall; push it inwards
      const margin = 0.1 * (right - left);
      if (Math.min(right - t, t - left) < margin) {
        if (insufficientProgress || t >= right || t <= left) {
          t = Math.abs(t - right) < Math.abs(t - left) ? right - margin : left + margin;
          insufficientProgress = false;
        } else {
          insufficientProgress = true;
        }
      } else {
        insufficientProgress = false;
      }
      const trial = evaluate(t);
      evaluations++;
      if (trial.f > f0 + c1 * t * gtd0 || trial.f >= low.f) {
        high = trial;
      } else {
        if (Math.abs(trial.gtd) <= -c2 * gtd0) done = true;
        else if (trial.gtd * (high.t - low.t) >= 0) high = low;
        low = trial;
      }
      bracket = [low, high];
      if (done) break;
    }
    const best = bracket.length === 1 || bracket[0].f <= bracket[1].f ? bracket[0] : bracket[1];
    // never step uphill: a failed search leaves θ where it was
    return best.f <= f0 ? best.t : 0;
  }
}

/**
 * The minimiser in [lo, hi] of the cubic through two points with their values and slopes,
 * or the midpoint when the cubic has no minimum there.
 */
function cubicMinimum(a: Trial, b: Trial, lo: number, hi: number): number {
  const d1 = a.gtd + b.gtd - (3 * (a.f - b.f)) / (a.t - b.t);
  const d2Squared = d1 * d1 - a.gtd * b.gtd;
  if (d2Squared >= 0) {
    const d2 = Math.sqrt(d2Squared);
    const t = a.t <= b.t
      ? b.t - (b.t - a.t) * ((b.gtd + d2 - d1) / (b.gtd - a.gtd + 2 * d2))
      : a.t - (a.t - b.t) * ((a.gtd + d2 - d1) / (a.gtd - b.gtd + 2 * d2));
    if (Number.isFinite(t)) return Math.min(Math.max(t, lo), hi);
  }
  return (lo + hi) / 2;
}
