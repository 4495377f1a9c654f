import {
  DeviceTensorError, type Tensor, ValueError, full, greater, keep, less, maximum, minimum, mul, noGrad, sign, sub, tidy, where, zerosLike,
} from '@tapegrad/core';
import { checkParamsAndGrads, positive } from './checks.js';
import type { Optimizer } from './optimizer.js';

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
 * Element-wise branching per coordinate, so on the CPU it runs as a loop over the values
 * (Δ and the previous gradient in float64); on a device, where the CPU cannot reach the
 * values, as the same rule in ops (`where` on the sign of the product), with Δ and the
 * previous gradient kept on the device in the parameter's dtype.
 */
export class RProp implements Optimizer {
  readonly name = 'RProp';
  readonly lr: number;
  readonly etaPlus: number;
  readonly etaMinus: number;
  readonly stepMin: number;
  readonly stepMax: number;
  #state = new WeakMap<Tensor, RPropState>();
  /** Δ and the previous gradient of parameters that live on a device, as tensors there. */
  #deviceState = new WeakMap<Tensor, { step: Tensor; previous: Tensor }>();

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
    noGrad(() => params.forEach((p, i) => {
      if (p.device !== 'cpu') {
        this.#stepOnDevice(p, grads[i]);
        return;
      }
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

  /** The CPU loop's rule as ops, for a parameter on a device; the step's temporaries go back to the device's pool. */
  #stepOnDevice(p: Tensor, g: Tensor): void {
    tidy(() => {
      let s = this.#deviceState.get(p);
      if (!s) {
        // kept: they must outlive this tidy
        s = { step: keep(full(p.shape, this.lr, { dtype: p.dtype })), previous: keep(zerosLike(p)) };
        this.#deviceState.set(p, s);
      }
      const product = mul(g, s.previous);
      const flipped = less(product, 0);
      const step = where(greater(product, 0), minimum(mul(s.step, this.etaPlus), this.stepMax), where(flipped, maximum(mul(s.step, this.etaMinus), this.stepMin), s.step));
      const gk = where(flipped, 0, g);
      s.step.assign(step);
      s.previous.assign(gk);
      p.assign(sub(p, mul(sign(gk), step)));
    });
  }

  /**
   * The current step sizes Δ of a parameter (a copy), or undefined before its first step.
   * For a parameter on a device, read them with `stepSizesAsync`.
   */
  stepSizes(param: Tensor): Float64Array | undefined {
    const onDevice = this.#deviceState.get(param);
    if (onDevice) throw new DeviceTensorError('RProp.stepSizes', `the step sizes of parameter [${param.shape.join(',')}] live on the '${param.device}' device; read them with \`await rprop.stepSizesAsync(param)\``);
    return this.#state.get(param)?.step.slice();
  }

  /** stepSizes on every backend: a device's step sizes are read back. */
  async stepSizesAsync(param: Tensor): Promise<Float64Array | undefined> {
    const onDevice = this.#deviceState.get(param);
    if (onDevice) return Float64Array.from(await onDevice.step.dataAsync());
    return this.stepSizes(param);
  }

  reset(): void {
    this.#state = new WeakMap();
    this.#deviceState = new WeakMap();
  }
}
