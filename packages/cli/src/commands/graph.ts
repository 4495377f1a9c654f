import { writeFileSync } from 'node:fs';
import { Tape, Tensor, createRng, renderGraph, toDot, toMermaid } from '@tapegrad/core';
import { type Activation, type LayerTrace, LOSSES, type LossName, type Sequential, type TraceableLayer, cost, mlp } from '@tapegrad/nn';
import { evenSubset, loadData } from '../data.js';
import { UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { OUTPUT_FOR_LOSS, inputFeatures, loadModelFile, modelInput } from '../model-file.js';
import { parseChoice, parseLayers, parsePositiveInteger, parseSeed } from '../options.js';
import { HIDDEN_ACTIVATIONS, type RawOptions } from './train.js';

/**
 * `tapegrad graph`: the recorded graph of one training step (forward pass and cost, with
 * each node's value and gradient statistics) written as HTML, SVG, DOT or Mermaid.
 */

export const GRAPH_FORMATS = ['html', 'svg', 'dot', 'mermaid'] as const;
export type GraphFormat = (typeof GRAPH_FORMATS)[number];

export interface GraphCommandOptions {
  layers: number[];
  activation: Activation;
  loss: LossName;
  batch: number;
  seed: number;
  model?: string;
  out: string;
  format: GraphFormat;
  fold: boolean;
}

export const GRAPH_DEFAULTS = { layers: '3,2,1', activation: 'sigmoid', batch: '2', seed: '0', out: 'graph.html' } as const;

export function parseGraphOptions(raw: RawOptions): GraphCommandOptions {
  const str = (key: keyof typeof GRAPH_DEFAULTS) => (typeof raw[key] === 'string' ? (raw[key] as string) : GRAPH_DEFAULTS[key]);
  const layers = parseLayers(str('layers'));
  const out = str('out');
  const inferred: GraphFormat = out.endsWith('.svg') ? 'svg' : out.endsWith('.dot') || out.endsWith('.gv') ? 'dot' : out.endsWith('.mmd') ? 'mermaid' : 'html';
  return {
    layers,
    activation: parseChoice(str('activation'), '--activation', HIDDEN_ACTIVATIONS),
    loss: typeof raw.loss === 'string' ? parseChoice(raw.loss, '--loss', LOSSES) : layers[layers.length - 1] === 1 ? 'bce' : 'cce',
    batch: parsePositiveInteger(str('batch'), '--batch'),
    seed: parseSeed(str('seed'), '--seed'),
    model: typeof raw.model === 'string' ? raw.model : undefined,
    out,
    format: typeof raw.format === 'string' ? parseChoice(raw.format, '--format', GRAPH_FORMATS) : inferred,
    fold: raw.fold === true,
  };
}

interface Step {
  model: Sequential;
  x: Tensor;
  y: Tensor;
  loss: LossName;
  output: Activation;
  title: string;
}

/** A fresh network and a seeded batch (X ~ N(0,1); one-hot, 0/1 or uniform targets), as gradcheck makes them. */
function syntheticStep(options: GraphCommandOptions): Step {
  const { layers, activation, loss, batch, seed } = options;
  const rng = createRng(seed);
  const output = OUTPUT_FOR_LOSS[loss];
  const model = mlp(layers, { hidden: activation, output, init: activation === 'relu' ? 'heNormal' : 'xavierNormal', dtype: 'float64', rng });
  const inputs = layers[0], outputs = layers[layers.length - 1];
  const x = Float64Array.from({ length: inputs * batch }, () => rng.normal());
  const y = new Float64Array(outputs * batch);
  for (let m = 0; m < batch; m++) {
    if (loss === 'cce') y[Math.floor(rng.next() * outputs) * batch + m] = 1;
    else for (let u = 0; u < outputs; u++) y[u * batch + m] = loss === 'bce' ? (rng.next() < 0.5 ? 0 : 1) : rng.next();
  }
  return {
    model, loss, output,
    x: new Tensor(x, [inputs, batch], 'float64'),
    y: new Tensor(y, [outputs, batch], 'float64'),
    title: `${layers.join('-')} ${activation}/${output} + ${loss}, batch ${batch}, seed ${seed}`,
  };
}

/** A saved model and one batch of its test examples (embedded MNIST, spread evenly over the classes). */
function savedModelStep(path: string, batch: number): Step {
  const { model, architecture } = loadModelFile(path);
  const data = loadData({});
  if (data.test.x.shape[0] !== inputFeatures(architecture)) {
    throw new UsageError(`--model: the network takes ${inputFeatures(architecture)} inputs but MNIST images have ${data.test.x.shape[0]}`);
  }
  const split = evenSubset(data.test, batch);
  const network = architecture.kind === 'cnn' ? 'LeNet-5 CNN relu/softmax + cce' : `${architecture.layers.join('-')} ${architecture.activation}/${architecture.output} + ${architecture.loss}`;
  return {
    model, loss: architecture.loss, output: architecture.output, x: modelInput(architecture, split.x), y: split.y,
    title: `${path}: ${network}, ${batch} test images`,
  };
}

/**
 * Every layer's output, named for --fold ('dense 1', … for an MLP; the layer's own name,
 * 'conv1', 'pool1', …, for the CNN), and the last layer's Z and A, which the cost pairs with
 * the output activation (softmax + cce from logits).
 */
function forwardLayers(model: Sequential, x: Tensor): { outputs: Array<{ name: string; a: Tensor }>; last: LayerTrace } {
  if (model.layers.every((layer) => typeof (layer as Partial<TraceableLayer>).trace === 'function')) {
    const trace = model.trace(x);
    return { outputs: trace.layers.map((layer, l) => ({ name: `dense ${l + 1}`, a: layer.a })), last: trace.layers[trace.layers.length - 1] };
  }
  const outputs: Array<{ name: string; a: Tensor }> = [];
  let a = x;
  let last: LayerTrace | undefined;
  model.layers.forEach((layer, i) => {
    if (i === model.layers.length - 1 && typeof (layer as Partial<TraceableLayer>).trace === 'function') {
      last = (layer as TraceableLayer).trace(a);
      a = last.a;
    } else {
      a = layer.forward(a);
    }
    outputs.push({ name: model.names[i], a });
  });
  if (!last) throw new UsageError('--model: the network\'s last layer is not a Dense layer, so its cost cannot be drawn');
  return { outputs, last };
}

export async function runGraph(options: GraphCommandOptions, io: Io): Promise<number> {
  const step = options.model !== undefined ? savedModelStep(options.model, options.batch) : syntheticStep(options);
  const { model, x, y, loss, output } = step;
  const tape = new Tape();
  const { outputs, last } = tape.record(() => forwardLayers(model, x));
  const C = tape.record(() => cost(loss, { ...last, activation: output }, y));
  let previous = x;
  const fold = options.fold
    ? outputs.map(({ name, a }) => {
      const f = { name, output: a, inputs: [previous] };
      previous = a;
      return f;
    })
    : undefined;
  const graphOptions = { names: [model, { X: x, Y: y }], gradients: true, fold, title: step.title };
  const text = options.format === 'dot' ? toDot(C, graphOptions)
    : options.format === 'mermaid' ? toMermaid(C, graphOptions)
      : await renderGraph(C, { ...graphOptions, format: options.format });
  writeFileSync(options.out, text);
  io.out(`graph: ${step.title}; cost ${C.item().toPrecision(6)}; wrote ${options.out} (${options.format})`);
  return 0;
}
