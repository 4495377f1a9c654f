import { type Tensor, keep, zerosLike } from '@tapegrad/core';
import { checkParamsAndGrads, decayRate, fixedHyperparameter, positive } from './checks.js';
import { InPlace, Scratch, copyInto, updateInPlace } from './inplace.js';
import type { Optimizer } from './optimizer.js';

/** Options of Momentum: learning rate, momentum, Nesterov. */
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
  declare readonly lr: number;
  declare readonly momentum: number;
  declare readonly nesterov: boolean;
  /** The same calls with the same η and μ every step (the velocity is created on the first, which fit never replays). */
  readonly replayable = true;
  #velocity = new WeakMap<Tensor, Tensor>();
  #scratch = new Scratch();

  constructor(options: MomentumOptions) {
    fixedHyperparameter(this, 'nesterov', options?.nesterov ?? false);
    this.name = this.nesterov ? 'Nesterov' : 'Momentum';
    fixedHyperparameter(this, 'lr', positive(this.name, 'learning rate', options?.lr));
    fixedHyperparameter(this, 'momentum', decayRate(this.name, 'momentum', options?.momentum ?? 0.9));
  }

  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    checkParamsAndGrads(this.name, params, grads);
    const { lr, momentum } = this;
    params.forEach((p, i) => {
      const g = grads[i].storage;
      const k = new InPlace(p.dtype, p.shape);
      // The kernels of v ← add(mul(v, μ), g), then sub(θ, mul(direction, η)) as one subScaled
      // call, so the numbers are those of the ops; but v is the optimiser's own buffer,
      // overwritten where it lies, θ is written in place as SGD writes it, and Nesterov's
      // direction lives in a scratch shared by all parameters.
      let velocity = this.#velocity.get(p);
      if (velocity) {
        updateInPlace(this.name, velocity, (v) => {
          k.scalarRight('mul', v, momentum, v);
          k.binary('add', v, g, v);
        });
      } else {
        // a copy: the velocity must not alias a gradient buffer the caller may reuse
        // kept: a step may run inside tidy(), and the velocity must outlive it
        const fresh = keep(zerosLike(p));
        updateInPlace(this.name, fresh, (v) => copyInto(g, v));
        velocity = fresh;
        this.#velocity.set(p, velocity);
      }
      const v = velocity.storage;
      if (this.nesterov) {
        // g + μ·v, in the order add(g, mul(v, μ)) takes its operands, then θ − η·(g + μ·v)
        const direction = this.#scratch.get(p.dtype, p.size, 0);
        k.scalarRight('mul', v, momentum, direction);
        k.binary('add', g, direction, direction);
        updateInPlace(this.name, p, (theta) => k.subScaled(theta, direction, lr, theta));
      } else {
        updateInPlace(this.name, p, (theta) => k.subScaled(theta, v, lr, theta));
      }
    });
  }

  reset(): void {
    this.#velocity = new WeakMap();
    this.#scratch.clear();
  }
}
