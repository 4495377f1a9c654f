import { type Tensor, ValueError, noGrad } from '@tapegrad/core';
import { checkParamsAndGrads, positive } from './checks.js';
import type { Optimizer } from './optimizer.js';
import { refuseDevice } from './inplace.js';

/** Options of RProp: step sizes and their growth and shrink factors. */
export interface RPropOptions {
  /** Every coordinate's initial step size Δ₀. Default 0.01. */
  lr?: number;
  /** Growth of Δ while the gradient keeps its sign, > 1. Default 1.2. */
  etaPlus?: number;
  /** Shrinkage of Δ when the gradient's sign flips, in (0, 1). Default 0.5. */
  etaMinus?: number;
  /** Floor of Δ. Default 1e-6. */
  stepMin?: number;
  /** Ceiling of Δ. Default 50. */
  stepMax?: number;
}

interface RPropState {
  /** Δ per coordinate. */
  step: Float64Array;
  /** The gradient of the last step, zeroed where its sign flipped. */
  previous: Float64Array;
}

/**
 * Resilient backpropagation (Riedmiller & Braun, 1993; seed 001 TODO), as PyTorch's Rprop.
 * Only the sign of each partial derivative is used: the magnitude of a full-batch gradient
 * says little about how far the minimum is, and in deep nets it varies by orders of
 * magnitude between layers. Each coordinate instead learns its own step size Δ:
 *
 *   gₜ·gₜ₋₁ > 0:  Δ ← min(η⁺Δ, Δmax)          still going downhill: speed up
 *   gₜ·gₜ₋₁ < 0:  Δ ← max(η⁻Δ, Δmin), gₜ ← 0   jumped over a minimum: slow down, and do
 *                                              not move, so the next step sees product 0
 *   otherwise:    Δ unchanged
 *   θ ← θ − sign(gₜ)·Δ
 *
 * Meant for full-batch gradients: mini-batch noise flips signs at random and shrinks Δ.
 * Element-wise branching per coordinate, so it runs as a loop over the values rather than
 * as tensor ops.
 */
export class RProp implements Optimizer {
  readonly name = 'RProp';
  readonly lr: number;
  readonly etaPlus: number;
  readonly etaMinus: number;
  readonly stepMin: number;
  readonly stepMax: number;
  #state = new WeakMap<Tensor, RPropState>();

  constructor(options: RPropOptions = {}) {
    this.lr = positive(this.name, 'learning rate (initial step size)', options.lr ?? 0.01);
    this.etaPlus = options.etaPlus ?? 1.2;
    this.etaMinus = options.etaMinus ?? 0.5;
    if (!(this.etaPlus > 1) || !Number.isFinite(this.etaPlus)) throw new ValueError(this.name, `etaPlus must be > 1, got ${this.etaPlus}`);
    if (!(this.etaMinus > 0 && this.etaMinus < 1)) throw new ValueError(this.name, `etaMinus must be in (0, 1), got ${this.etaMinus}`);
    this.stepMin = positive(this.name, 'stepMin', options.stepMin ?? 1e-6);
    this.stepMax = positive(this.name, 'stepMax', options.stepMax ?? 50);
    if (this.stepMin > this.stepMax) throw new ValueError(this.name, `stepMin (${this.stepMin}) must be ≤ stepMax (${this.stepMax})`);
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    refuseDevice(this.name, params, 'train on a CPU backend (js, wasm, native), or use SGD, Momentum or Adam, which update on the device');
    noGrad(() => params.forEach((p, i) => {
      const g = grads[i].data;
      let s = this.#state.get(p);
      if (!s) {
        s = { step: new Float64Array(p.size).fill(this.lr), previous: new Float64Array(p.size) };
        this.#state.set(p, s);
      }
      const { step, previous } = s;
      const next = Float64Array.from(p.data);
      for (let k = 0; k < next.length; k++) {
        const product = g[k] * previous[k];
        let gk = g[k];
        if (product > 0) step[k] = Math.min(step[k] * this.etaPlus, this.stepMax);
        else if (product < 0) {
          step[k] = Math.max(step[k] * this.etaMinus, this.stepMin);
          gk = 0;
        }
        next[k] -= Math.sign(gk) * step[k];
        previous[k] = gk;
      }
      p.assign(next);
    }));
  }

  /** The current step sizes Δ of a parameter (a copy), or undefined before its first step. */
  stepSizes(param: Tensor): Float64Array | undefined {
    return this.#state.get(param)?.step.slice();
  }

  reset(): void {
    this.#state = new WeakMap();
  }
}
