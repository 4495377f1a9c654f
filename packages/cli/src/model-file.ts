import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { TapegradError } from '@tapegrad/core';
import {
  ACTIVATIONS, type Activation, LOSSES, type LossName, type SafetensorsMetadata, type Sequential,
  deserializeParameters, mlp, nonFiniteParameters, restoreParameters,
} from '@tapegrad/nn';
import { UsageError } from './errors.js';
import { parseLayers } from './options.js';
import { describeFsError, recoverForReading, verifyManifest } from './output-folder.js';

/**
 * A trained network on disk is one safetensors file whose `__metadata__` says how to rebuild
 * it: `evaluate` and `predict` need nothing else.
 *
 *     format       tapegrad-mlp/1
 *     layers       784,128,10           sizes, input first
 *     activation   relu                 every hidden layer
 *     output       softmax              the output layer
 *     loss         cce                  the cost it was trained on
 *     dataset      mnist | /abs/dir     the embedded MNIST or an IDX directory
 *     limitTest    0                    test examples used (0: all), so evaluate can repeat it
 * plus the training settings (optimizer, lr, batchSize, epochs, seed, shuffleSeed, init,
 * dtype) and the final testAccuracy, for the record.
 */

export const MODEL_FORMAT = 'tapegrad-mlp/1';
export const MODEL_FILE = 'model.safetensors';
export const METRICS_FILE = 'metrics.json';

export interface Architecture {
  layers: number[];
  activation: Activation;
  output: Activation;
  loss: LossName;
}

/** The output activation each loss is paired with by default. */
export const OUTPUT_FOR_LOSS: Record<LossName, Activation> = { cce: 'softmax', bce: 'sigmoid', mse: 'sigmoid' };

export interface LoadedModel {
  model: Sequential;
  architecture: Architecture;
  metadata: SafetensorsMetadata;
  /** The safetensors file read. */
  path: string;
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

function architectureOf(metadata: SafetensorsMetadata, path: string): Architecture {
  const need = (key: string): string => {
    const value = metadata[key];
    if (value === undefined) throw new UsageError(`--model: ${path} has no '${key}' in its metadata; tapegrad rebuilds the network from it (was the file written by 'tapegrad train'?)`);
    return value;
  };
  const layers = parseLayers(need('layers'), `--model: ${path}: metadata 'layers'`);
  const pick = <T extends string>(key: string, choices: readonly T[]): T => {
    const value = need(key);
    if (!(choices as readonly string[]).includes(value)) throw new UsageError(`--model: ${path}: metadata '${key}' is '${value}', not one of ${choices.join(', ')}`);
    return value as T;
  };
  return { layers, activation: pick('activation', ACTIVATIONS), output: pick('output', ACTIVATIONS), loss: pick('loss', LOSSES) };
}

/** The network an architecture describes, float32, with placeholder (zero) weights to be restored. */
export function buildModel(architecture: Architecture): Sequential {
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
      throw new UsageError(`--model: cannot read ${path}: ${describeFsError(error)}`);
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
    if (error instanceof TapegradError) throw new UsageError(`--model: ${error.message}`);
    throw error;
  }
}
