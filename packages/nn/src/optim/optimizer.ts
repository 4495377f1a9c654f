import type { Tensor } from '@tapegrad/core';

/**
 * The cost at the parameters' current values, computed from them with tape ops. Optimisers
 * that need more than one gradient per step call it: L-BFGS for its line search (after
 * assigning trial values), Newton-CG for Hessian-vector products (core's `hvp`, which
 * differentiates with respect to the parameter tensors themselves).
 */
export type Objective = () => Tensor;

/**
 * One interface for every optimiser: `step(params, grads)` updates the parameters in place
 * (with `assign`, inside `noGrad`), given ∂C/∂θ for each. First-order methods need nothing
 * else; second-order and line-search methods also take the objective.
 */
export interface Optimizer {
  readonly name: string;
  /** One update of `params` in place from `grads` (∂C/∂θ, same order); `objective` recomputes C where the method needs it. */
  step(params: readonly Tensor[], grads: readonly Tensor[], objective?: Objective): void;
  /** Forgets accumulated state (moments, histories). */
  reset(): void;
  /**
   * True when every step makes the same backend calls with the same numbers (the
   * hyperparameters are fixed), reads no value on the CPU and calls no objective: `fit` may
   * then record its training step once and replay it (FitOptions.replay). SGD, Momentum and
   * Nesterov say so; Adam's bias correction changes every step, RProp, L-BFGS and Newton-CG
   * read values. Leave it out in an optimiser of your own unless all of that holds.
   */
  readonly replayable?: boolean;
}
