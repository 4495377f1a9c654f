import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { evaluateAsync } from '@tapegrad/nn';
import { type BackendChoice, GPU_BACKEND_CHOICES, selectBackend } from '../backend.js';
import { loadData } from '../data.js';
import { EXIT_OK, UsageError } from '../errors.js';
import { type Io, fixed4 } from '../io.js';
import { METRICS_FILE, describeArchitecture, inputFeatures, loadModelFile, modelInput, outputCount } from '../model-file.js';
import { parseChoice, parseNonNegativeInteger } from '../options.js';
import type { RawOptions } from './train.js';

/**
 * `tapegrad evaluate --model out/run`: rebuilds the network from the file's metadata and
 * measures it on the data it was trained on (the embedded MNIST, or the IDX directory the
 * metadata names, with the same test subset), or on --data. The accuracy it prints is the
 * one `train` recorded, to the last digit: same weights, same data, same arithmetic.
 */

export interface EvaluateOptions {
  model: string;
  data?: string;
  /** undefined: the subset the model was trained with (its metadata); 0: all. */
  limitTest?: number;
  backend: BackendChoice;
  json: boolean;
}

export function parseEvaluateOptions(raw: RawOptions): EvaluateOptions {
  if (typeof raw.model !== 'string') throw new UsageError("required option '--model <path>' not specified");
  return {
    model: raw.model,
    data: typeof raw.data === 'string' ? raw.data : undefined,
    limitTest: typeof raw.limitTest === 'string' ? parseNonNegativeInteger(raw.limitTest, '--limit-test') : undefined,
    backend: parseChoice(typeof raw.backend === 'string' ? raw.backend : 'auto', '--backend', GPU_BACKEND_CHOICES),
    json: raw.json === true,
  };
}

/** The test accuracy a training run recorded next to its model, if there is one. */
function recordedAccuracy(modelPath: string): number | undefined {
  const file = join(dirname(modelPath), METRICS_FILE);
  if (!existsSync(file)) return undefined;
  try {
    const value = (JSON.parse(readFileSync(file, 'utf8')) as { final?: { testAccuracy?: unknown } }).final?.testAccuracy;
    return typeof value === 'number' ? value : undefined;
  } catch {
    return undefined;
  }
}

export async function runEvaluate(options: EvaluateOptions, io: Io): Promise<number> {
  // the backend first, so that on a GPU the model's parameters are made on the device
  const backend = await selectBackend(options.backend);
  const loaded = loadModelFile(options.model, (line) => io.err(line));
  const { metadata, architecture, model } = loaded;
  let dataDir = options.data;
  let limitTest = options.limitTest;
  if (dataDir === undefined) {
    const recorded = metadata.dataset ?? 'mnist';
    if (recorded !== 'mnist') {
      if (!existsSync(recorded)) throw new UsageError(`--model was trained on IDX files in '${recorded}', which no longer exists: pass --data <dir>`);
      dataDir = recorded;
    }
    // the same test subset the training run measured, unless told otherwise
    limitTest ??= metadata.limitTest === undefined ? 0 : Number(metadata.limitTest) || 0;
  }
  const data = loadData({ data: dataDir, limitTest: limitTest ?? 0, limitTrain: 1 });
  const features = data.test.x.shape[0];
  if (features !== inputFeatures(architecture)) throw new UsageError(`the model takes ${inputFeatures(architecture)} inputs but the data has ${features} features per example`);
  const outputs = outputCount(architecture);
  if (outputs !== data.test.y.shape[0]) throw new UsageError(`the model has ${outputs} outputs but the data has ${data.test.y.shape[0]} classes`);

  // evaluate itself on a CPU backend; on a GPU the batches are uploaded and the loss read once
  const result = await evaluateAsync(model, { x: modelInput(architecture, data.test.x), y: data.test.y }, { loss: architecture.loss, metrics: ['accuracy'] });
  const accuracy = result.metrics.accuracy;
  const examples = data.test.labels.length;
  const correct = Math.round(accuracy * examples);
  const recorded = recordedAccuracy(loaded.path);
  if (options.json) {
    io.out(JSON.stringify({ model: loaded.path, data: data.source, testExamples: examples, testAccuracy: accuracy, testCorrect: correct, testLoss: result.loss, recordedTestAccuracy: recorded ?? null, backend: backend.name }));
    return EXIT_OK;
  }
  io.err(backend.message);
  io.out(`model: ${loaded.path} (${describeArchitecture(architecture)})`);
  io.out(`data: ${data.description.replace(/\(\d+ train, /, '(')}`);
  io.out(`test accuracy ${fixed4(accuracy)} (${correct}/${examples}), loss ${fixed4(result.loss!)}`);
  if (recorded !== undefined) {
    io.out(recorded === accuracy
      ? `matches the ${fixed4(recorded)} recorded in ${METRICS_FILE}`
      : `differs from the ${fixed4(recorded)} recorded in ${METRICS_FILE} (other data, subset or backend?)`);
  }
  return EXIT_OK;
}
