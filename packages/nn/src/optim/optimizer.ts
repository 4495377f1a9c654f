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
}
