import { anomalyDetection, noteRecordSite } from './anomaly.js';
import { DTypeError, GradientError, ValueError } from './errors.js';
import { type OpDef, assertTensor, commonDType, defineOp, record } from './op.js';
import { noGrad } from './recording.js';
import { Tensor } from './tensor.js';

/** What customGrad needs: a name, the forward computation and its vector-Jacobian product. */
export interface CustomGradSpec<Args extends Tensor[]> {
  /** Names the op in errors and graph printing. */
  name: string;
  /** The value, computed with any tensor ops; nothing inside is recorded. */
  forward: (...inputs: Args) => Tensor;
  /**
   * The vector-Jacobian product: given ∂L/∂output, return ∂L/∂input for every input (null
   * for an input with no gradient). Write it in tensor ops and it differentiates again.
   */
  vjp: (dy: Tensor, ctx: { inputs: Args; output: Tensor }) => ReadonlyArray<Tensor | null>;
}

/**
 * Defines an op with a gradient of your own: for numerical stability (a fused
 * sigmoid-cross-entropy), speed, or a straight-through estimator. Check it with
 * `@tapegrad/core/testing`'s gradcheck or checkOpGradients.
 *
 * ```ts
 * const softplus = customGrad({
 *   name: 'softplus',
 *   forward: (x) => log(add(1, exp(x))),
 *   vjp: (dy, { inputs: [x] }) => [mul(dy, sigmoid(x))],
 * });
 * ```
 */
export function customGrad<Args extends Tensor[]>(spec: CustomGradSpec<Args>): (...inputs: Args) => Tensor {
  const def: OpDef<undefined> = defineOp({
    name: spec.name,
    shape: () => {
      throw new GradientError(spec.name, 'a custom op has no shape rule of its own');
    },
    forward: () => {
      throw new GradientError(spec.name, 'a custom op runs through customGrad, not apply');
    },
    vjp(dy, ctx) {
      const grads = spec.vjp(dy, { inputs: ctx.inputs as Args, output: ctx.output });
      if (!Array.isArray(grads) || grads.length !== ctx.inputs.length) {
        throw new GradientError(spec.name, `vjp must return an array of ${ctx.inputs.length} gradients (one per input), got ${Array.isArray(grads) ? grads.length : typeof grads}`);
      }
      return grads.map((g, i) => {
        if (g === null) return null;
        const input = ctx.inputs[i];
        if (!(g instanceof Tensor)) throw new GradientError(spec.name, `vjp's gradient ${i} is ${typeof g}, not a Tensor or null`);
        // a float64 gradient for a float32 input would leak float64 into the rest of the backward pass
        if (g.dtype !== input.dtype) throw new DTypeError(spec.name, `vjp returned a ${g.dtype} gradient for input ${i}, which is ${input.dtype}; cast it with cast(g, dtype)`);
        return () => g;
      });
    },
  });
  return (...inputs: Args) => {
    inputs.forEach((t, i) => assertTensor(spec.name, t, i));
    if (inputs.length > 0) commonDType(spec.name, inputs);
    const output = noGrad(() => spec.forward(...inputs));
    if (!(output instanceof Tensor)) throw new ValueError(spec.name, `forward must return a Tensor, got ${typeof output}`);
    // a fresh leaf, so the op's own node is the only thing the tape sees
    const result = output.node || output.requiresGrad || inputs.includes(output) ? output.detach() : output;
    record(def, inputs, result, undefined);
    if (anomalyDetection && result.node) noteRecordSite(result.node);
    return result;
  };
}
