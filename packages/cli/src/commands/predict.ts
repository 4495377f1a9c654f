import { existsSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { Tensor, TapegradError } from '@tapegrad/core';
import { type IdxArray, parseIdx } from '@tapegrad/datasets';
import { predictAsync } from '@tapegrad/nn';
import { type BackendChoice, GPU_BACKEND_CHOICES, selectBackend } from '../backend.js';
import { EXIT_OK, UsageError } from '../errors.js';
import type { Io } from '../io.js';
import { isPng, pngToInput } from '../image.js';
import { inputFeatures, loadModelFile, modelInput } from '../model-file.js';
import { parseChoice, parseNonNegativeInteger } from '../options.js';
import type { RawOptions } from './train.js';

/**
 * `tapegrad predict --model out/run digit.png t10k-images-idx3-ubyte`: the predicted class
 * and the output probabilities for a PNG (made to look like an MNIST digit first) or for
 * every image of an IDX file (the first --limit printed; accuracy too when the matching
 * labels file sits next to it).
 */

export interface PredictOptions {
  model: string;
  inputs: string[];
  /** Images of an IDX file to print (0: all). */
  limit: number;
  backend: BackendChoice;
  json: boolean;
}

export function parsePredictOptions(raw: RawOptions, inputs: string[]): PredictOptions {
  if (typeof raw.model !== 'string') throw new UsageError("required option '--model <path>' not specified");
  if (inputs.length === 0) throw new UsageError('give at least one input: a PNG image or an IDX images file');
  return {
    model: raw.model,
    inputs,
    limit: typeof raw.limit === 'string' ? parseNonNegativeInteger(raw.limit, '--limit') : 10,
    backend: parseChoice(typeof raw.backend === 'string' ? raw.backend : 'auto', '--backend', GPU_BACKEND_CHOICES),
    json: raw.json === true,
  };
}

interface Prediction {
  source: string;
  index?: number;
  predicted: number;
  probabilities: number[];
  label?: number;
}

function readInput(path: string): Uint8Array {
  const full = resolve(path);
  if (!existsSync(full)) throw new UsageError(`no such file '${path}'`);
  if (statSync(full).isDirectory()) throw new UsageError(`'${path}' is a directory; give a PNG image or an IDX images file`);
  return readFileSync(full);
}

/** The labels file that goes with an images file, by the standard naming (t10k-images-idx3-ubyte → t10k-labels-idx1-ubyte). */
function labelsFileFor(imagesPath: string): string | undefined {
  const name = basename(imagesPath);
  if (!name.includes('images')) return undefined;
  const candidates = [name.replace('images', 'labels').replace('idx3', 'idx1')];
  candidates.push(candidates[0].endsWith('.gz') ? candidates[0].slice(0, -3) : `${candidates[0]}.gz`);
  return candidates.map((c) => join(dirname(imagesPath), c)).find((p) => existsSync(p));
}

/** An IDX array as a [features, N] matrix (uint8 pixels scaled to [0, 1]). */
function idxColumns(array: IdxArray, path: string, features: number): Tensor {
  const dims = array.dims;
  if (dims.length < 2) throw new UsageError(`${path}: an IDX file of ${dims.length} dimension holds no images (is it a labels file?)`);
  const count = dims[0];
  const size = dims.slice(1).reduce((a, b) => a * b, 1);
  if (size !== features) throw new UsageError(`${path}: images of ${dims.slice(1).join('×')} = ${size} values, but the model takes ${features} inputs`);
  const scale = array.type === 'uint8' ? 1 / 255 : 1;
  const out = new Float32Array(features * count);
  for (let m = 0; m < count; m++) for (let f = 0; f < features; f++) out[f * count + m] = array.data[m * features + f] * scale;
  return new Tensor(out, [features, count], 'float32');
}

function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function columns(yHat: Tensor): number[][] {
  const [units, count] = yHat.shape;
  return Array.from({ length: count }, (_, m) => Array.from({ length: units }, (_, u) => yHat.data[u * count + m]));
}

export async function runPredict(options: PredictOptions, io: Io): Promise<number> {
  // the backend first, so that on a GPU the model's parameters are made on the device
  const backend = await selectBackend(options.backend);
  const { model, architecture } = loadModelFile(options.model, (line) => io.err(line));
  const features = inputFeatures(architecture);
  const side = Math.round(Math.sqrt(features));
  const what = architecture.output === 'softmax' ? 'probabilities' : architecture.output === 'sigmoid' ? 'sigmoid outputs' : 'outputs';
  const format = (p: Prediction) => {
    const best = p.probabilities[p.predicted];
    const all = p.probabilities.map((v, i) => `${i} ${v.toFixed(4)}`).join('  ');
    const truth = p.label === undefined ? '' : p.label === p.predicted ? '  (label ' + p.label + ', right)' : `  (label ${p.label}, WRONG)`;
    return `${p.predicted}  (p ${best.toFixed(4)})${truth}   ${what}: ${all}`;
  };
  const results: Array<{ input: string; kind: 'png' | 'idx'; predictions: Prediction[]; total: number; accuracy?: number; note?: string }> = [];

  for (const input of options.inputs) {
    const bytes = readInput(input);
    if (isPng(bytes)) {
      if (side * side !== features) throw new UsageError(`${input}: the model takes ${features} inputs, which is not a square image`);
      let prepared;
      try {
        prepared = pngToInput(bytes, side);
      } catch (error) {
        throw new UsageError(`${input}: not a readable PNG (${(error as Error).message})`);
      }
      // predict itself on a CPU backend; on a GPU the outputs are read back once (a CPU tensor either way)
      const yHat = await predictAsync(model, modelInput(architecture, new Tensor(prepared.pixels, [features, 1], 'float32')));
      const probabilities = columns(yHat)[0];
      const note = [`${prepared.width}×${prepared.height}`, prepared.resized ? `resized to ${side}×${side}` : '', prepared.inverted ? 'inverted (light background)' : ''].filter(Boolean).join(', ');
      results.push({ input, kind: 'png', total: 1, note, predictions: [{ source: input, predicted: argmax(probabilities), probabilities }] });
      continue;
    }
    let array: IdxArray;
    try {
      array = parseIdx(bytes, input, 'predict');
    } catch (error) {
      if (error instanceof TapegradError) throw new UsageError(`${input}: neither a PNG nor an IDX file (${error.message})`);
      throw error;
    }
    const x = idxColumns(array, input, features);
    const all = columns(await predictAsync(model, modelInput(architecture, x)));
    let labels: ArrayLike<number> | undefined;
    const labelsPath = labelsFileFor(resolve(input));
    if (labelsPath) {
      try {
        const parsed = parseIdx(readFileSync(labelsPath), labelsPath, 'predict');
        if (parsed.dims.length === 1 && parsed.dims[0] === all.length) labels = parsed.data;
      } catch {
        // a labels file that does not fit is simply not used
      }
    }
    const predictions = all.map((probabilities, index) => ({
      source: input, index, predicted: argmax(probabilities), probabilities, ...(labels ? { label: labels[index] } : {}),
    }));
    const accuracy = labels ? predictions.filter((p) => p.predicted === p.label).length / predictions.length : undefined;
    results.push({
      input, kind: 'idx', total: predictions.length, predictions, accuracy,
      note: `${predictions.length} images of ${array.dims.slice(1).join('×')}${labelsPath && labels ? `, labels from ${basename(labelsPath)}` : ''}`,
    });
  }

  if (options.json) {
    io.out(JSON.stringify({
      backend: backend.name,
      results: results.map((r) => ({ ...r, predictions: options.limit > 0 ? r.predictions.slice(0, options.limit) : r.predictions })),
    }));
    return EXIT_OK;
  }
  io.err(backend.message);
  for (const r of results) {
    if (r.kind === 'png') {
      io.out(`${r.input}: ${format(r.predictions[0])}`);
      io.out(`  (${r.note})`);
      continue;
    }
    io.out(`${r.input}: ${r.note}`);
    const shown = options.limit > 0 ? r.predictions.slice(0, options.limit) : r.predictions;
    const width = String(r.total - 1).length;
    for (const p of shown) io.out(`  ${`#${p.index}`.padStart(width + 1)}: ${format(p)}`);
    if (shown.length < r.total) io.out(`  … ${r.total - shown.length} more (--limit 0 prints all)`);
    if (r.accuracy !== undefined) io.out(`  accuracy ${r.accuracy.toFixed(4)} (${Math.round(r.accuracy * r.total)}/${r.total})`);
  }
  return EXIT_OK;
}
