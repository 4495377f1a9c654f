import { existsSync, statSync } from 'node:fs';
import { resolve } from 'node:path';
import { TapegradError } from '@tapegrad/core';
import { type Dataset, type LabelledSplit, loadIdxDataset, loadMnist, takeColumns } from '@tapegrad/datasets';
import { UsageError } from './errors.js';

export interface DataOptions {
  /** A directory of MNIST-format IDX files; the embedded MNIST when absent. */
  data?: string;
  /** Keep only this many training / test examples (0 or absent: all). */
  limitTrain?: number;
  limitTest?: number;
}

export interface LoadedData extends Dataset {
  /** 'mnist' (embedded) or the IDX directory's absolute path. */
  source: string;
  /** For people: `embedded MNIST (7996 train, 2004 test)`. */
  description: string;
}

/**
 * `limit` examples spread evenly over the split: indices ⌊i·N/limit⌋. The splits are sorted
 * by class, so a prefix would hold only zeros; an even spread keeps every class in its
 * proportion, and needs no randomness.
 */
export function evenSubset(split: LabelledSplit, limit: number | undefined): LabelledSplit {
  const n = split.labels.length;
  if (!limit || limit >= n) return split;
  const indices = Array.from({ length: limit }, (_, i) => Math.floor((i * n) / limit));
  return {
    x: takeColumns(split.x, indices),
    y: takeColumns(split.y, indices),
    labels: Uint8Array.from(indices, (j) => split.labels[j]),
  };
}

/** The IDX directory, checked: a UsageError names the option when it is missing or not a directory. */
export function checkDataDirectory(dir: string, option = '--data'): string {
  const path = resolve(dir);
  if (!existsSync(path)) throw new UsageError(`${option}: no such directory '${dir}'`);
  if (!statSync(path).isDirectory()) throw new UsageError(`${option}: '${dir}' is not a directory (give the directory that holds the four IDX files)`);
  return path;
}

/** Loads the embedded MNIST or an IDX directory, float32, with the optional subsets. */
export function loadData(options: DataOptions): LoadedData {
  let dataset: Dataset;
  let source = 'mnist';
  if (options.data !== undefined) {
    source = checkDataDirectory(options.data);
    try {
      dataset = loadIdxDataset(source, { dtype: 'float32' });
    } catch (error) {
      // a file that is missing or does not parse is the user's to fix: one line, exit 2
      if (error instanceof TapegradError) throw new UsageError(`--data: ${error.message}`);
      throw error;
    }
  } else {
    dataset = loadMnist({ dtype: 'float32' });
  }
  const train = evenSubset(dataset.train, options.limitTrain);
  const test = evenSubset(dataset.test, options.limitTest);
  const name = source === 'mnist' ? 'embedded MNIST' : `IDX files in ${source}`;
  return { train, test, source, description: `${name} (${train.labels.length} train, ${test.labels.length} test)` };
}
