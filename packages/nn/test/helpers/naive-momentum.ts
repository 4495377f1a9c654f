import { type Tensor, add, mul, sub, zerosLike } from '@tapegrad/core';
import type { Optimizer } from '@tapegrad/nn';

/** The nn README's "write your own optimiser": momentum with ops and assign, no keep(). */
export class NaiveMomentum implements Optimizer {
  readonly name = 'NaiveMomentum';
  #velocity = new Map<Tensor, Tensor>();
  constructor(readonly lr: number, readonly momentum = 0.9) {}
  step(params: readonly Tensor[], grads: readonly Tensor[]): void {
    params.forEach((p, i) => {
      const v = add(mul(this.#velocity.get(p) ?? zerosLike(p), this.momentum), grads[i]);
      this.#velocity.set(p, v);
      p.assign(sub(p, mul(v, this.lr)));
    });
  }
  reset(): void {
    this.#velocity.clear();
  }
}
