import { type DType, type Rng, type Tensor, ValueError, createRng } from '@tapegrad/core';
import { type Activation, checkActivation } from './activations.js';
import { type Initializer } from './init.js';
import { Dense } from './layers/dense.js';
import { type ForwardTrace, type LayerTrace, type Module, type NamedParameters, setTrainingMode } from './module.js';

/** A layer whose forward pass can report its Zˡ and Aˡ. */
export interface TraceableLayer extends Module {
  trace(a: Tensor): LayerTrace;
}

function isTraceable(m: Module): m is TraceableLayer {
  return typeof (m as Partial<TraceableLayer>).trace === 'function';
}

/** Layers applied in order; parameters are named `<index>.<name>`, e.g. `0.W`, `1.b`. */
export class Sequential implements Module {
  readonly layers: readonly Module[];

  constructor(layers: readonly Module[]) {
    if (layers.length === 0) throw new ValueError('Sequential', 'needs at least one layer');
    this.layers = [...layers];
  }

  /** True in training mode (the default), false after `eval()`. */
  training = true;

  /** Training mode (default true) for this model and every layer in it. */
  train(mode = true): this {
    this.training = mode;
    for (const layer of this.layers) setTrainingMode(layer, mode);
    return this;
  }

  /** Evaluation mode for this model and every layer in it: Dropout passes through, BatchNorm uses its running statistics. */
  eval(): this {
    return this.train(false);
  }

  parameters(): NamedParameters {
    const out: NamedParameters = {};
    this.layers.forEach((layer, i) => {
      for (const [name, p] of Object.entries(layer.parameters())) out[`${i}.${name}`] = p;
    });
    return out;
  }

  /** The layers' buffers (BatchNorm's running statistics), named `<index>.<name>` as parameters are. */
  buffers(): NamedParameters {
    const out: NamedParameters = {};
    this.layers.forEach((layer, i) => {
      if (typeof layer.buffers !== 'function') return;
      for (const [name, b] of Object.entries(layer.buffers())) out[`${i}.${name}`] = b;
    });
    return out;
  }

  forward(x: Tensor): Tensor {
    let a = x;
    for (const layer of this.layers) a = layer.forward(a);
    return a;
  }

  /** The forward pass with every layer's Zˡ and Aˡ kept (all layers must be traceable, e.g. Dense). */
  trace(x: Tensor): ForwardTrace {
    const layers: LayerTrace[] = [];
    let a = x;
    this.layers.forEach((layer, i) => {
      if (!isTraceable(layer)) throw new ValueError('Sequential.trace', `layer ${i} has no trace(); only layers that expose Zˡ and Aˡ (e.g. Dense) can be traced`);
      const t = layer.trace(a);
      layers.push(t);
      a = t.a;
    });
    return { output: a, layers };
  }

  /** The Dense layers, when the model is a plain MLP (what manualBackprop needs). */
  denseLayers(): Dense[] {
    return this.layers.map((layer, i) => {
      if (!(layer instanceof Dense)) throw new ValueError('Sequential', `layer ${i} is not Dense`);
      return layer;
    });
  }
}

export function sequential(...layers: Module[]): Sequential {
  return new Sequential(layers);
}

export interface MlpOptions {
  /** Activation of every hidden layer, or one per hidden layer. Default 'relu'. */
  hidden?: Activation | readonly Activation[];
  /** Activation of the output layer. Default 'identity'. */
  output?: Activation;
  /** Weight initialiser. Default: 'heNormal' for relu layers, 'xavierUniform' otherwise. */
  init?: Initializer;
  biasInit?: 'zeros' | 'standardNormal';
  dtype?: DType;
  /** Seed of the one generator all layers draw from, in order W¹, (b¹), W², … */
  seed?: number;
  rng?: Rng;
}

/**
 * A multilayer perceptron from its layer sizes: `mlp([784, 128, 10], { output: 'softmax', seed: 1 })`.
 * All layers draw from one generator in order (W¹, b¹ if random, W², …), as the benchmark
 * protocol fixes, so a seed reproduces the same network in any framework that follows it.
 */
export function mlp(sizes: readonly number[], options: MlpOptions = {}): Sequential {
  if (sizes.length < 2) throw new ValueError('mlp', `needs at least an input and an output size, got [${sizes.join(',')}]`);
  const hiddenCount = sizes.length - 2;
  const hidden = typeof options.hidden === 'string' || options.hidden === undefined
    ? new Array<Activation>(hiddenCount).fill(options.hidden ?? 'relu')
    : [...options.hidden];
  if (hidden.length !== hiddenCount) throw new ValueError('mlp', `${hidden.length} hidden activations for ${hiddenCount} hidden layers`);
  hidden.forEach((h) => checkActivation('mlp', h));
  const rng = options.rng ?? (options.seed !== undefined ? createRng(options.seed) : undefined);
  const layers = sizes.slice(1).map((out, i) => new Dense(sizes[i], out, {
    activation: i < hiddenCount ? hidden[i] : (options.output ?? 'identity'),
    init: options.init,
    biasInit: options.biasInit,
    dtype: options.dtype,
    rng,
  }));
  return new Sequential(layers);
}
