import { Tensor, createRng } from '@tapegrad/core';
import { type Activation, LOSSES, type LossName, checkBackprop, formatBackpropTable, mlp } from '@tapegrad/nn';
import { EXIT_FAILURE, EXIT_OK } from '../errors.js';
import type { Io } from '../io.js';
import { OUTPUT_FOR_LOSS } from '../model-file.js';
import { parseChoice, parseLayers, parsePositiveInteger, parseSeed } from '../options.js';
import { HIDDEN_ACTIVATIONS, type RawOptions } from './train.js';

/**
 * `tapegrad gradcheck`: one network's gradients four ways, layer by layer, in float64:
 * the tape, the hand-written BP1–BP4, central finite differences and the augmented form
 * [b W][1; A], plus the batch gradient against the mean of per-example gradients. Exit 1
 * when any of them disagree beyond nn's checkBackprop tolerances.
 */

export interface GradcheckOptions {
  layers: number[];
  activation: Activation;
  loss: LossName;
  batch: number;
  seed: number;
}

export const GRADCHECK_DEFAULTS = { layers: '5,4,3', activation: 'tanh', loss: 'cce', batch: '4', seed: '1' } as const;

export function parseGradcheckOptions(raw: RawOptions): GradcheckOptions {
  const str = (key: keyof typeof GRADCHECK_DEFAULTS) => (typeof raw[key] === 'string' ? (raw[key] as string) : GRADCHECK_DEFAULTS[key]);
  return {
    layers: parseLayers(str('layers')),
    activation: parseChoice(str('activation'), '--activation', HIDDEN_ACTIVATIONS),
    loss: parseChoice(str('loss'), '--loss', LOSSES),
    batch: parsePositiveInteger(str('batch'), '--batch'),
    seed: parseSeed(str('seed'), '--seed'),
  };
}

/**
 * The network and a batch, all from one mulberry32(seed): weights first, then the inputs
 * X ~ N(0, 1), then the targets (one-hot classes for cce, 0/1 for bce, uniform [0, 1) for mse).
 */
export function runGradcheck(options: GradcheckOptions, io: Io): number {
  const { layers, activation, loss, batch, seed } = options;
  const rng = createRng(seed);
  const output = OUTPUT_FOR_LOSS[loss];
  const model = mlp(layers, { hidden: activation, output, init: activation === 'relu' ? 'heNormal' : 'xavierNormal', dtype: 'float64', rng });
  const inputs = layers[0];
  const outputs = layers[layers.length - 1];
  const x = Float64Array.from({ length: inputs * batch }, () => rng.normal());
  const y = new Float64Array(outputs * batch);
  for (let m = 0; m < batch; m++) {
    if (loss === 'cce') y[Math.floor(rng.next() * outputs) * batch + m] = 1;
    else for (let u = 0; u < outputs; u++) y[u * batch + m] = loss === 'bce' ? (rng.next() < 0.5 ? 0 : 1) : rng.next();
  }
  const report = checkBackprop(model, new Tensor(x, [inputs, batch], 'float64'), new Tensor(y, [outputs, batch], 'float64'), loss, { raise: false });
  io.out(`gradcheck: ${layers.join('-')}, ${activation} hidden, ${output} output + ${loss}, batch ${batch}, seed ${seed}, float64`);
  io.out(`differences |u − v| / max(1, |u|, |v|) of the tape against each witness; tolerance ${report.tolerance.exact.toExponential(0)} (finite differences ${report.tolerance.finiteDifference.toExponential(0)})`);
  io.out(formatBackpropTable(report));
  const skipped = report.rows.reduce((n, r) => n + r.finiteDifferenceSkipped, 0);
  if (skipped > 0) io.out(`${skipped} finite-difference entries skipped: ±ε switched a relu unit on or off there`);
  io.out(report.ok ? report.message : `FAILED: ${report.message}`);
  return report.ok ? EXIT_OK : EXIT_FAILURE;
}
