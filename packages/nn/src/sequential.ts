import { type DType, type Rng, type Tensor, ValueError, createRng, noGrad, zeros } from '@tapegrad/core';
import { type Activation, checkActivation } from './activations.js';
import { type Initializer } from './init.js';
import { Dense } from './layers/dense.js';
import { type ForwardTrace, type LayerTrace, type Module, type NamedParameters, setTrainingMode } from './module.js';

/** A layer whose forward pass can report its Zˡ and Aˡ. */
export interface TraceableLayer extends Module {
  /** forward(a), returning also the pre-activation Zˡ and the activation Aˡ. */
  trace(a: Tensor): LayerTrace;
}

function isTraceable(m: Module): m is TraceableLayer {
  return typeof (m as Partial<TraceableLayer>).trace === 'function';
}

/** One row of {@link Sequential.summary}. */
export interface SummaryRow {
  /** The layer's name in the model (its index, or the name it was given). */
  name: string;
  /** Its class, e.g. 'Conv2d'. */
  type: string;
  outputShape: number[];
  /** Number of trainable values (elements of its parameters). */
  parameters: number;
}

function elementCount(tensors: NamedParameters): number {
  return Object.values(tensors).reduce((n, t) => n + t.size, 0);
}

/**
 * Layers applied in order. Parameters (and buffers) are named `<layer>.<name>`, where a layer
 * is named by its index (`0.W`, `1.b`) or, built from an object, by its key
 * (`sequential({ conv1: …, fc: … })` gives `conv1.W`, `fc.b`); nested models compose the
 * names (`block2.attn.Wq`).
 */
export class Sequential implements Module {
  readonly layers: readonly Module[];
  /** Each layer's name: its index, or its key when built from an object. */
  readonly names: readonly string[];

  constructor(layers: readonly Module[] | Readonly<Record<string, Module>>) {
    const entries: Array<[string, Module]> = Array.isArray(layers)
      ? (layers as readonly Module[]).map((layer, i) => [String(i), layer])
      : Object.entries(layers as Record<string, Module>);
    if (entries.length === 0) throw new ValueError('Sequential', 'needs at least one layer');
    for (const [name, layer] of entries) {
      if (name === '' || name.includes('.')) throw new ValueError('Sequential', `layer name '${name}' must be non-empty and without '.' (dots join names)`);
      if (typeof layer?.forward !== 'function' || typeof layer.parameters !== 'function') {
        throw new ValueError('Sequential', `layer '${name}' is not a Module (it needs parameters() and forward(x))`);
      }
    }
    this.names = entries.map(([name]) => name);
    this.layers = entries.map(([, layer]) => layer);
  }

  /**
   * Every layer's output shape for an input of `inputShape` (a forward pass on zeros, in
   * evaluation mode and without recording; the model's mode is restored) and its parameter
   * count, as rows.
   */
  summaryRows(inputShape: readonly number[]): SummaryRow[] {
    const dtype = Object.values(this.parameters())[0]?.dtype ?? 'float32';
    const wasTraining = this.training;
    this.train(false);
    try {
      return noGrad(() => {
        let a = zeros([...inputShape], { dtype });
        return this.layers.map((layer, i) => {
          a = layer.forward(a);
          return { name: this.names[i], type: layer.constructor?.name ?? 'Module', outputShape: [...a.shape], parameters: elementCount(layer.parameters()) };
        });
      });
    } finally {
      this.train(wasTraining);
    }
  }

  /**
   * A Keras-style table for an input of `inputShape` (the batch included, e.g. `[1, 1, 28, 28]`):
   * each layer's name and class, output shape and parameter count, then the totals of
   * parameters (trained) and buffers (saved, not trained). Returns the text: `console.log` it.
   */
  summary(inputShape: readonly number[]): string {
    const rows = this.summaryRows(inputShape);
    const cells = rows.map((r) => [`${r.name} (${r.type})`, `[${r.outputShape.join(', ')}]`, String(r.parameters)]);
    const header = ['Layer (type)', 'Output shape', 'Parameters'];
    const widths = header.map((h, c) => Math.max(h.length, ...cells.map((row) => row[c].length)));
    const line = (row: string[]) => `${row[0].padEnd(widths[0])}  ${row[1].padEnd(widths[1])}  ${row[2].padStart(widths[2])}`.trimEnd();
    const rule = '─'.repeat(widths[0] + widths[1] + widths[2] + 4);
    return [
      `Input [${inputShape.join(', ')}]`,
      line(header), rule, ...cells.map(line), rule,
      `Parameters: ${elementCount(this.parameters())}`,
      `Buffers: ${elementCount(this.buffers())}`,
    ].join('\n');
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
      for (const [name, p] of Object.entries(layer.parameters())) out[`${this.names[i]}.${name}`] = p;
    });
    return out;
  }

  /** The layers' buffers (BatchNorm's running statistics), named `<index>.<name>` as parameters are. */
  buffers(): NamedParameters {
    const out: NamedParameters = {};
    this.layers.forEach((layer, i) => {
      if (typeof layer.buffers !== 'function') return;
      for (const [name, b] of Object.entries(layer.buffers())) out[`${this.names[i]}.${name}`] = b;
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

/** `sequential(a, b, c)` names layers by index (`0.W`); `sequential({ conv1: a, fc: b })` by key (`conv1.W`). */
export function sequential(...layers: Module[] | [Readonly<Record<string, Module>>]): Sequential {
  if (layers.length === 1 && !isModule(layers[0])) return new Sequential(layers[0] as Record<string, Module>);
  return new Sequential(layers as Module[]);
}

function isModule(value: unknown): value is Module {
  return typeof (value as Partial<Module>)?.forward === 'function';
}

/** Options of mlp: activations, initialisers, dtype, seed. */
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
