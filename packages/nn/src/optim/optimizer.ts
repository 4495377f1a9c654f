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
   * hyperparameters are fixed) or with numbers `prepareReplay` writes, reads no value on the
   * CPU and calls no objective: `fit` may then record its training step once and replay it
   * (FitOptions.replay). SGD, Momentum, Nesterov and Adam say so; RProp, L-BFGS and Newton-CG
   * read values. Leave it out in an optimiser of your own unless all of that holds.
   */
  readonly replayable?: boolean;
  /**
   * For a replayable optimiser whose numbers change from step to step (Adam's bias
   * correction): the JavaScript of a step without its kernel calls — with `advance`, move the
   * step count on; then write the step's numbers into the arrays its kernels read (kept from
   * step to step). fit calls it before each replayed step.
   */
  prepareReplay?(params: readonly Tensor[], advance: boolean): void;
}
