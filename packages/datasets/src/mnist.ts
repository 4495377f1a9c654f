import { type DType, ValueError } from '@tapegrad/core';
import { type Dataset, type DTypeOptions, type LabelledSplit, blank, checkDType, oneHotOnCpu } from './types.js';

const PIXELS = 784;
const DIGITS = 10;
/** The ten digit classes, 0 to 9. */
export const DIGIT_COUNT = DIGITS;

/** One split as parsed once: pixels already in the examples-as-columns layout. */
export interface CachedSplit {
  columns: Float64Array;
  labels: Uint8Array;
}

/** One digit's images as the `mnist` package stores them: 784 values in [0, 1] per image, back to back. */
export interface MnistDigitData {
  data: ArrayLike<number>;
}

/** Options of mnistFromDigits: dtype and a per-digit subset. */
export interface MnistFromDigitsOptions extends DTypeOptions {
  /**
   * Images of each digit to use, the first ones in order (an in-memory subset for a page or a
   * quick test): the protocol's 80/20 split is then made of these. Default: all.
   */
  perDigit?: number;
}

/**
 * MNIST from the ten digits' images in memory, split as `loadMnist` splits the `mnist`
 * package's files (for each digit, the first floor(0.8·n) train, the rest test, concatenated
 * digit 0, 1, …, 9): `digits[d]` is digit d's `{ data }`, e.g. `mnist/src/digits/<d>.json`
 * imported by a bundler. Works in a browser; `loadMnist` (Node) reads the files itself.
 */
export function mnistFromDigits(digits: readonly MnistDigitData[], options: MnistFromDigitsOptions = {}): Dataset {
  const op = 'mnistFromDigits';
  const dtype = checkDType(op, options.dtype ?? 'float32');
  const { perDigit } = options;
  if (perDigit !== undefined && !(Number.isInteger(perDigit) && perDigit >= 1)) {
    throw new ValueError(op, `perDigit must be a positive integer, got ${String(perDigit)}`);
  }
  if (!Array.isArray(digits) || digits.length !== DIGITS) {
    throw new ValueError(op, `expects the ${DIGITS} digits' data, digit 0 first; got ${Array.isArray(digits) ? `${digits.length} entries` : typeof digits}`);
  }
  const data = digits.map((digit, d) => checkDigitData(op, `digit ${d}`, (digit as MnistDigitData | null)?.data));
  const split = splitDigits(perDigit === undefined ? data : data.map((values) => values.slice(0, perDigit * PIXELS)));
  return { train: materialize(split.train, dtype), test: materialize(split.test, dtype) };
}

/** The digit's values, checked: a whole number of 784-pixel images, every value a number in [0, 1]. */
export function checkDigitData(op: string, source: string, data: unknown): ArrayLike<number> & { slice(start: number, end: number): ArrayLike<number> } {
  const isArrayLike = Array.isArray(data) || (ArrayBuffer.isView(data) && !(data instanceof DataView));
  if (!isArrayLike) throw new ValueError(op, `${source}: expected an object with an array field 'data'`);
  const values = data as ArrayLike<number> & { slice(start: number, end: number): ArrayLike<number> };
  if (values.length % PIXELS !== 0) {
    throw new ValueError(op, `${source}: 'data' holds ${values.length} values, not a whole number of ${PIXELS}-pixel images`);
  }
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number' || !(v >= 0 && v <= 1)) {
      throw new ValueError(op, `${source}: value ${JSON.stringify(v)} at index ${i} is not a number in [0, 1]`);
    }
  }
  return values;
}

/** Fresh tensors over a parsed split, so `assign` on one result cannot change another. */
export function materialize(split: CachedSplit, dtype: DType): LabelledSplit {
  const n = split.labels.length;
  const { tensor: x, data } = blank([PIXELS, n], dtype);
  data.set(split.columns);
  const labels = split.labels.slice();
  return { x, y: oneHotOnCpu(labels, DIGITS, dtype), labels };
}

/** The protocol's split of the ten digits' images (each digit's pixels back to back). */
export function splitDigits(digits: ReadonlyArray<ArrayLike<number>>): { train: CachedSplit; test: CachedSplit } {
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

function placeColumn(split: CachedSplit, m: number, source: ArrayLike<number>, from: number): void {
  const n = split.labels.length;
  for (let p = 0; p < PIXELS; p++) split.columns[p * n + m] = source[from + p];
}
