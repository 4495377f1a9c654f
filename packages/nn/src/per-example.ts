import { Tape, type Tensor, ValueError, expandDims, matmul, matmulT, mul, noGrad, reshape, slice, stack, sum, transpose, unfold } from '@tapegrad/core';
import { Conv2d } from './layers/conv.js';
import { Dense } from './layers/dense.js';
import { type LossName, cost } from './losses.js';
import type { Module, NamedParameters } from './module.js';
import { Sequential } from './sequential.js';

/**
 * The batch-mean cost of a model's output: a loss name (nn's `cost`, paired with the last
 * layer's activation, so that layer must be a Dense) or a function of the model's output and the targets. Either way
 * it must be the **mean over the examples** (columns) of a per-example loss, as nn's losses
 * are: a per-example gradient is then M times that example's share of the batch gradient.
 */
export type PerExampleLoss = LossName | ((output: Tensor, y: Tensor) => Tensor);

/** Options of perExampleGradients: the method (vectorised, loop or auto). */
export interface PerExampleOptions {
  /** 'auto' (default): the vectorised path when every layer is Dense, Conv2d or has no parameters, else the loop. */
  method?: 'auto' | 'vectorised' | 'loop';
}

/**
 * Every parameter's gradient for each example, with a leading example axis: for a parameter
 * of shape [o, i] and M examples, a tensor of shape [M, o, i] whose slice m is ∂Lₘ/∂θ, the
 * gradient of example m's own loss. Their mean over the examples is the batch gradient (what
 * fit uses); their spread is what per-example clipping (DP-SGD), influence and gradient-noise
 * measurements need. Examples are the columns of a rank-2 tensor ([features, M], Dense's
 * layout) and the first axis of any other ([M, C, H, W], Conv2d's).
 *
 * For a Sequential of Dense layers there is no loop over examples: one backward pass gives
 * every layer's Δˡ = ∂C/∂Zˡ (one column per example), and since Zˡ = WˡAˡ⁻¹ + bˡ the batch
 * gradient ∂C/∂Wˡ = ΔˡAˡ⁻¹ᵀ is a sum of per-column outer products; kept apart instead of
 * summed they are the per-example gradients: M·Δˡ[:, m]·Aˡ⁻¹[:, m]ᵀ, and M·Δˡ[:, m] for bˡ.
 * A Conv2d layer is the same product once its input is unfolded (im2col): its output is
 * Yₙ = K·unfold(xₙ) + b for each image n, so with δₙ = ∂C/∂Yₙ as [O, L] (L output positions)
 * the batch gradient Σₙ δₙ·unfold(xₙ)ᵀ is a sum over images, and kept apart it is one batched
 * matmul [M, O, L]·[M, L, C·kH·kW]; the bias gets δₙ summed over positions. Layers without
 * parameters (pooling, Flatten, activations) only pass Δ through, which the backward pass
 * did. Anything else (a layer with other parameters, grouped convolutions, a model that is
 * not a Sequential) falls back to one backward pass per example.
 */
export function perExampleGradients(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor, options: PerExampleOptions = {}): NamedParameters {
  if (x.rank < 2 || y.rank < 2 || examplesIn(x) !== examplesIn(y)) {
    throw new ValueError('perExampleGradients', `x and y must hold the same number of examples (columns of a rank-2 tensor, else the first axis), got [${x.shape.join(',')}] and [${y.shape.join(',')}]`);
  }
  const method = options.method ?? 'auto';
  const vectorisable = model instanceof Sequential && model.layers.every(hasPerExampleRule);
  if (method === 'vectorised' && !vectorisable) {
    throw new ValueError('perExampleGradients', "method 'vectorised' needs a Sequential of Dense, Conv2d (groups 1) and parameterless layers; use 'loop' (or 'auto')");
  }
  return method === 'loop' || !vectorisable ? loopGradients(model, loss, x, y) : vectorisedGradients(model as Sequential, loss, x, y);
}

/** Examples are columns of a rank-2 tensor (Dense's layout) and the first axis otherwise (images). */
function examplesIn(t: Tensor): number {
  return t.rank === 2 ? t.shape[1] : t.shape[0];
}

/** Example m alone, in the same layout (one column, or a first axis of 1). */
function exampleOf(t: Tensor, m: number): Tensor {
  return t.rank === 2 ? slice(t, [0, m], [t.shape[0], 1]) : slice(t, [m, ...t.shape.slice(1).map(() => 0)], [1, ...t.shape.slice(1)]);
}

function hasPerExampleRule(layer: Module): boolean {
  if (layer instanceof Dense) return true;
  if (layer instanceof Conv2d) return layer.groups === 1;
  return Object.keys(layer.parameters()).length === 0;
}

/**
 * The batch cost from the model's output. A loss name pairs with the last layer's activation,
 * so that layer must be a Dense (its Zˡ and Aˡ are what `cost` needs).
 */
function costOf(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor, seen?: (layer: number, input: Tensor, output: Tensor) => void): Tensor {
  const layers = model instanceof Sequential ? model.layers : [model];
  if (typeof loss !== 'function' && !(layers[layers.length - 1] instanceof Dense)) {
    throw new ValueError('perExampleGradients', `a loss name ('${loss}') needs a Sequential whose last layer is Dense (to pair it with the output activation); pass a function (output, y) => cost instead`);
  }
  let a = x;
  for (let l = 0; l < layers.length; l++) {
    const layer = layers[l];
    const last = l === layers.length - 1;
    if (layer instanceof Dense) {
      const t = layer.trace(a);
      seen?.(l, a, t.z);
      if (last && typeof loss !== 'function') return cost(loss, { ...t, activation: layer.activation }, y);
      a = t.a;
    } else {
      const out = layer.forward(a);
      seen?.(l, a, out);
      a = out;
    }
  }
  return (loss as (output: Tensor, y: Tensor) => Tensor)(a, y);
}

function vectorisedGradients(model: Sequential, loss: PerExampleLoss, x: Tensor, y: Tensor): NamedParameters {
  const examples = examplesIn(x);
  // each layer with parameters: its input and its output before any activation (Zˡ)
  const inputs: Tensor[] = [];
  const outputs: Tensor[] = [];
  const tape = new Tape();
  const C = tape.record(() => costOf(model, loss, x, y, (_, input, output) => {
    inputs.push(input);
    outputs.push(output);
  }));
  if (C.size !== 1) throw new ValueError('perExampleGradients', `the loss must be a scalar (the batch mean), got shape [${C.shape.join(',')}]`);
  const withParameters = model.layers.map((layer, l) => l).filter((l) => Object.keys(model.layers[l].parameters()).length > 0);
  const deltas = tape.gradient(C, withParameters.map((l) => outputs[l]));
  return noGrad(() => {
    const out: NamedParameters = {};
    withParameters.forEach((l, k) => {
      const layer = model.layers[l];
      const name = model.names[l];
      const input = inputs[l];
      if (layer instanceof Dense) {
        // the batched matmul [M, o, 1]·[M, 1, i] is the M outer products Δ[:, m]·A[:, m]ᵀ: the
        // same single product per entry as a broadcast mul, through the kernel every backend
        // runs natively (6× the broadcast mul at 64 × 64 × 784 on the native backend)
        const deltaByExample = expandDims(mul(transpose(deltas[k]), examples), 2);
        out[`${name}.W`] = matmul(deltaByExample, expandDims(transpose(input), 1));
        out[`${name}.b`] = deltaByExample;
      } else {
        // Conv2d (groups 1): δ as [M, O, L] times the unfolded input [M, C·kH·kW, L], transposed
        const conv = layer as Conv2d;
        const [kH, kW] = conv.kernelSize;
        const delta = mul(reshape(deltas[k], [examples, conv.outChannels, -1]), examples);
        const columns = unfold(input, { kernelSize: [kH, kW], stride: conv.stride, padding: conv.padding, dilation: conv.dilation });
        out[`${name}.W`] = reshape(matmulT(delta, columns, false, true), [examples, ...conv.W.shape]);
        if (conv.b) out[`${name}.b`] = sum(delta, 2);
      }
    });
    return out;
  });
}

/** One backward pass per example: the reference, and the fallback. */
function loopGradients(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor): NamedParameters {
  const named = model.parameters();
  const names = Object.keys(named);
  const params = names.map((n) => named[n]);
  const perExample: Tensor[][] = names.map(() => []);
  for (let m = 0; m < examplesIn(x); m++) {
    const tape = new Tape();
    const C = tape.record(() => costOf(model, loss, exampleOf(x, m), exampleOf(y, m)));
    tape.gradient(C, params).forEach((g, k) => perExample[k].push(g));
  }
  const out: NamedParameters = {};
  names.forEach((n, k) => {
    out[n] = noGrad(() => stack(perExample[k], 0));
  });
  return out;
}
