import { Tape, type Tensor, ValueError, mul, noGrad, slice, stack, transpose, expandDims } from '@tapegrad/core';
import { Dense } from './layers/dense.js';
import { type LossName, cost } from './losses.js';
import type { Module, NamedParameters } from './module.js';
import { Sequential } from './sequential.js';

/**
 * The batch-mean cost of a model's output: a loss name (nn's `cost`, paired with the last
 * Dense layer's activation) or a function of the model's output and the targets. Either way
 * it must be the **mean over the examples** (columns) of a per-example loss, as nn's losses
 * are: a per-example gradient is then M times that example's share of the batch gradient.
 */
export type PerExampleLoss = LossName | ((output: Tensor, y: Tensor) => Tensor);

/** Options of perExampleGradients: the method (vectorised, loop or auto). */
export interface PerExampleOptions {
  /** 'auto' (default): the vectorised path when every layer is Dense, else the loop. */
  method?: 'auto' | 'vectorised' | 'loop';
}

/**
 * Every parameter's gradient for each example, with a leading example axis: for a parameter
 * of shape [o, i] and M examples (columns of x), a tensor of shape [M, o, i] whose slice m is
 * ∂Lₘ/∂θ, the gradient of example m's own loss. Their mean over the examples is the batch
 * gradient (what fit uses); their spread is what per-example clipping (DP-SGD), influence
 * and gradient-noise measurements need.
 *
 * For a Sequential of Dense layers there is no loop over examples: one backward pass gives
 * every layer's Δˡ = ∂C/∂Zˡ (one column per example), and since Zˡ = WˡAˡ⁻¹ + bˡ the batch
 * gradient ∂C/∂Wˡ = ΔˡAˡ⁻¹ᵀ is a sum of per-column outer products; kept apart instead of
 * summed they are the per-example gradients: M·Δˡ[:, m]·Aˡ⁻¹[:, m]ᵀ, and M·Δˡ[:, m] for bˡ.
 * Anything else (a layer without Zˡ/Aˡ, e.g. a future Conv layer) falls back to one backward
 * pass per example — the seam where a convolution's own per-example rule will go.
 */
export function perExampleGradients(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor, options: PerExampleOptions = {}): NamedParameters {
  if (x.rank !== 2 || y.rank !== 2 || x.shape[1] !== y.shape[1]) {
    throw new ValueError('perExampleGradients', `x and y must be [features, examples] with the same number of columns, got [${x.shape.join(',')}] and [${y.shape.join(',')}]`);
  }
  const method = options.method ?? 'auto';
  const dense = model instanceof Sequential && model.layers.every((layer) => layer instanceof Dense);
  if (method === 'vectorised' && !dense) throw new ValueError('perExampleGradients', "method 'vectorised' needs a Sequential of Dense layers; use 'loop' (or 'auto')");
  return method === 'loop' || !dense ? loopGradients(model, loss, x, y) : denseGradients(model as Sequential, loss, x, y);
}

function batchCost(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor): Tensor {
  if (typeof loss === 'function') return loss(model.forward(x), y);
  if (model instanceof Sequential && model.layers.every((layer) => layer instanceof Dense)) {
    const trace = model.trace(x);
    return cost(loss, { ...trace.layers[trace.layers.length - 1], activation: (model.layers[model.layers.length - 1] as Dense).activation }, y);
  }
  throw new ValueError('perExampleGradients', `a loss name ('${loss}') needs a Sequential of Dense layers (to pair it with the output activation); pass a function (output, y) => cost instead`);
}

function denseGradients(model: Sequential, loss: PerExampleLoss, x: Tensor, y: Tensor): NamedParameters {
  const layers = model.layers as readonly Dense[];
  const examples = x.shape[1];
  const tape = new Tape();
  const trace = tape.record(() => model.trace(x));
  const C = tape.record(() => (typeof loss === 'function'
    ? loss(trace.output, y)
    : cost(loss, { ...trace.layers[trace.layers.length - 1], activation: layers[layers.length - 1].activation }, y)));
  if (C.size !== 1) throw new ValueError('perExampleGradients', `the loss must be a scalar (the batch mean), got shape [${C.shape.join(',')}]`);
  const deltas = tape.gradient(C, trace.layers.map((l) => l.z));
  return noGrad(() => {
    const out: NamedParameters = {};
    layers.forEach((_, l) => {
      const input = l === 0 ? x : trace.layers[l - 1].a;
      // [M, o, 1] · [M, 1, i] broadcasts to the M outer products Δ[:, m]·A[:, m]ᵀ
      const deltaByExample = expandDims(mul(transpose(deltas[l]), examples), 2);
      out[`${l}.W`] = mul(deltaByExample, expandDims(transpose(input), 1));
      out[`${l}.b`] = deltaByExample;
    });
    return out;
  });
}

/** One backward pass per example (a single column each): the reference, and the fallback. */
function loopGradients(model: Module, loss: PerExampleLoss, x: Tensor, y: Tensor): NamedParameters {
  const named = model.parameters();
  const names = Object.keys(named);
  const params = names.map((n) => named[n]);
  const perExample: Tensor[][] = names.map(() => []);
  for (let m = 0; m < x.shape[1]; m++) {
    const xm = slice(x, [0, m], [x.shape[0], 1]);
    const ym = slice(y, [0, m], [y.shape[0], 1]);
    const tape = new Tape();
    const C = tape.record(() => batchCost(model, loss, xm, ym));
    tape.gradient(C, params).forEach((g, k) => perExample[k].push(g));
  }
  const out: NamedParameters = {};
  names.forEach((n, k) => {
    out[n] = noGrad(() => stack(perExample[k], 0));
  });
  return out;
}
