import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TapegradError, type Tensor } from '@tapegrad/core';
import {
  ACTIVATIONS, type Activation, LOSSES, type LossName, type SafetensorsMetadata, type Sequential,
  deserializeParameters, mlp, nonFiniteParameters, restoreParameters,
} from '@tapegrad/nn';
import { CNN_MIN_SIDE, CNN_NAME, type CnnShape, buildCnn, cnnParameterCount, columnsToImages, describeCnn } from './cnn.js';
import { ModelFileError, UsageError } from './errors.js';
import { MAX_PARAMETERS, parseLayers } from './options.js';
import { describeFsError, recoverForReading, verifyManifest } from './output-folder.js';

/**
 * A trained network on disk is one safetensors file whose `__metadata__` says how to rebuild
 * it: `evaluate` and `predict` need nothing else. Two formats:
 *
 *     format       tapegrad-mlp/1       (files from before the CNN have no format: MLPs too)
 *     layers       784,128,10           sizes, input first
 *     activation   relu                 every hidden layer
 *     output       softmax              the output layer
 *     loss         cce                  the cost it was trained on
 *
 *     format       tapegrad-cnn/1
 *     architecture lenet5               the only CNN so far (see cnn.ts)
 *     input        1,28,28              channels, height, width (square)
 *     classes      10                   outputs
 *     output, loss softmax, cce
 *
 * and, in both,
 *
 *     dataset      mnist | /abs/dir     the embedded MNIST or an IDX directory
 *     limitTest    0                    test examples used (0: all), so evaluate can repeat it
 * plus the training settings (optimizer, lr, batchSize, epochs, seed, shuffleSeed, init,
 * dtype) and the final testAccuracy, for the record.
 */

export const MODEL_FORMAT = 'tapegrad-mlp/1';
export const CNN_FORMAT = 'tapegrad-cnn/1';
export const MODEL_FILE = 'model.safetensors';
export const METRICS_FILE = 'metrics.json';

export interface MlpArchitecture {
  /** Absent in code written before the CNN; 'mlp' from the metadata. */
  kind?: 'mlp';
  layers: number[];
  activation: Activation;
  output: Activation;
  loss: LossName;
}

/** BENCH-PROTOCOL T4's LeNet-5 (cnn.ts) on square images; softmax output, cce. */
export interface CnnArchitecture extends CnnShape {
  kind: 'cnn';
  activation: 'relu';
  output: 'softmax';
  loss: 'cce';
}

export type Architecture = MlpArchitecture | CnnArchitecture;

/** The output activation each loss is paired with by default. */
export const OUTPUT_FOR_LOSS: Record<LossName, Activation> = { cce: 'softmax', bce: 'sigmoid', mse: 'sigmoid' };

export interface LoadedModel {
  model: Sequential;
  architecture: Architecture;
  metadata: SafetensorsMetadata;
  /** The safetensors file read. */
  path: string;
}

/** Values per example the network reads (784 for MNIST). */
export function inputFeatures(architecture: Architecture): number {
  return architecture.kind === 'cnn' ? architecture.channels * architecture.side ** 2 : architecture.layers[0];
}

/** Outputs per example (the classes). */
export function outputCount(architecture: Architecture): number {
  return architecture.kind === 'cnn' ? architecture.classes : architecture.layers[architecture.layers.length - 1];
}

/** For people: `784-128-10, relu hidden, softmax output + cce` or the CNN's one line. */
export function describeArchitecture(architecture: Architecture): string {
  if (architecture.kind === 'cnn') return `${describeCnn(architecture)} + cce`;
  return `${architecture.layers.join('-')}, ${architecture.activation} hidden, ${architecture.output} output + ${architecture.loss}`;
}

/**
 * Examples as the network takes them, from the data sets' columns [features, N]: the same
 * for an MLP, images [N, C, S, S] for the CNN (fit, evaluate and predict read rank 4 as rows).
 */
export function modelInput(architecture: Architecture, columns: Tensor): Tensor {
  return architecture.kind === 'cnn' ? columnsToImages(columns, architecture.channels, architecture.side) : columns;
}

/** The metadata keys that describe the architecture (the training settings come beside them). */
export function architectureMetadata(architecture: Architecture): SafetensorsMetadata {
  if (architecture.kind === 'cnn') {
    const { channels, side, classes } = architecture;
    return { format: CNN_FORMAT, architecture: CNN_NAME, input: `${channels},${side},${side}`, classes: String(classes), activation: 'relu', output: 'softmax', loss: 'cce' };
  }
  const { layers, activation, output, loss } = architecture;
  return { format: MODEL_FORMAT, layers: layers.join(','), activation, output, loss };
}

/** `--model` names the file or the directory a training run wrote (its model.safetensors). */
export function resolveModelPath(path: string, option = '--model'): string {
  const full = resolve(path);
  // a run killed between the two renames of its publish leaves the folder beside its name
  recoverForReading(full);
  if (!existsSync(full)) throw new UsageError(`${option}: no such file or directory '${path}'`);
  if (statSync(full).isDirectory()) {
    const file = join(full, MODEL_FILE);
    if (!existsSync(file)) throw new UsageError(`${option}: '${path}' is a directory without ${MODEL_FILE} (did the training run finish?)`);
    return file;
  }
  return full;
}

/** The metadata names a format tapegrad does not read (a newer version's, or damage). */
function unknownFormat(path: string, format: string): ModelFileError {
  return new ModelFileError(path, `${path}: metadata 'format' is '${format}', which this tapegrad cannot read (it reads ${MODEL_FORMAT} and ${CNN_FORMAT})`);
}

export function architectureOf(metadata: SafetensorsMetadata, path: string): Architecture {
  const need = (key: string): string => {
    const value = metadata[key];
    if (value === undefined) throw new ModelFileError(path, `${path} has no '${key}' in its metadata; tapegrad rebuilds the network from it (was the file written by 'tapegrad train'?)`);
    return value;
  };
  const pick = <T extends string>(key: string, choices: readonly T[]): T => {
    const value = need(key);
    if (!(choices as readonly string[]).includes(value)) throw new ModelFileError(path, `${path}: metadata '${key}' is '${value}', not one of ${choices.join(', ')}`);
    return value as T;
  };
  const format = metadata.format;
  if (format === CNN_FORMAT) {
    pick('architecture', [CNN_NAME]);
    const input = need('input');
    const dims = /^\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)\s*$/.exec(input)?.slice(1).map(Number);
    if (!dims || dims.some((d) => !Number.isSafeInteger(d) || d < 1)) {
      throw new ModelFileError(path, `${path}: metadata 'input' must be channels,height,width such as 1,28,28, got '${input}'`);
    }
    const [channels, height, width] = dims;
    if (height !== width || height < CNN_MIN_SIDE) {
      throw new ModelFileError(path, `${path}: metadata 'input' is ${channels}×${height}×${width}, but the CNN takes square images of side ≥ ${CNN_MIN_SIDE}`);
    }
    const classesText = need('classes');
    const classes = Number(classesText);
    if (!/^\d+$/.test(classesText.trim()) || !Number.isSafeInteger(classes) || classes < 1) {
      throw new ModelFileError(path, `${path}: metadata 'classes' must be a positive integer, got '${classesText}'`);
    }
    const shape = { channels, side: height, classes };
    const count = cnnParameterCount(shape);
    if (count > MAX_PARAMETERS) {
      throw new ModelFileError(path, `${path}: metadata describes a CNN of ${count.toLocaleString('en-US')} parameters (input ${input}, ${classes} classes); tapegrad allows at most ${MAX_PARAMETERS.toLocaleString('en-US')}`);
    }
    pick('activation', ['relu'] as const);
    pick('output', ['softmax'] as const);
    pick('loss', ['cce'] as const);
    return { kind: 'cnn', ...shape, activation: 'relu', output: 'softmax', loss: 'cce' };
  }
  if (format !== undefined && format !== MODEL_FORMAT) throw unknownFormat(path, format);
  let layers: number[];
  try {
    layers = parseLayers(need('layers'), `metadata 'layers'`);
  } catch (error) {
    if (error instanceof UsageError && !(error instanceof ModelFileError)) throw new ModelFileError(path, `${path}: ${error.message}`);
    throw error;
  }
  return { kind: 'mlp', layers, activation: pick('activation', ACTIVATIONS), output: pick('output', ACTIVATIONS), loss: pick('loss', LOSSES) };
}

/** The network an architecture describes, float32, with placeholder (zero) weights to be restored. */
export function buildModel(architecture: Architecture): Sequential {
  if (architecture.kind === 'cnn') return buildCnn({ ...architecture, init: 'zeros' });
  return mlp(architecture.layers, { hidden: architecture.activation, output: architecture.output, init: 'zeros', dtype: 'float32' });
}

/** Reads a model written by `tapegrad train`: the architecture from the metadata, then the weights. */
export function loadModelFile(pathOrDir: string, warn: (line: string) => void = (line) => process.stderr.write(`${line}\n`)): LoadedModel {
  const path = resolveModelPath(pathOrDir);
  // the folder's manifest, if train wrote one, proves the model and its metrics are one run's
  verifyManifest(dirname(path));
  try {
    let bytes: Buffer;
    try {
      bytes = readFileSync(path);
    } catch (error) {
      throw new ModelFileError(path, `cannot read ${path}: ${describeFsError(error)}`);
    }
    const { parameters, metadata } = deserializeParameters(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), { source: path });
    const architecture = architectureOf(metadata, path);
    const model = buildModel(architecture);
    restoreParameters(model, parameters, { source: path });
    const bad = nonFiniteParameters(parameters);
    if (bad.length > 0) {
      warn(`warning: ${path}: parameters ${bad.map((b) => `'${b.name}'`).join(', ')} hold NaN or ±∞ (${bad[0].value} in '${bad[0].name}' at element ${bad[0].index}); the model comes from a diverged run and its outputs mean nothing`);
    }
    return { model, architecture, metadata, path };
  } catch (error) {
    // a corrupt or foreign file is the user's input, not our bug
    if (error instanceof TapegradError) throw new ModelFileError(path, error.message);
    throw error;
  }
}
