import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { beforeAll, describe, expect, it } from 'vitest';
import { type Dataset, loadMnist } from '@tapegrad/datasets';

// Per digit, in package order: n_d samples, of which floor(0.8·n_d) train (BENCH-PROTOCOL.md).
const PER_DIGIT = [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978];
const TRAIN_PER_DIGIT = [800, 901, 792, 825, 784, 690, 811, 856, 755, 782];
const TEST_PER_DIGIT = [201, 226, 199, 207, 196, 173, 203, 214, 189, 196];

const counts = (labels: Uint8Array) => Array.from({ length: 10 }, (_, d) => labels.filter((v) => v === d).length);
const column = (x: { data: ArrayLike<number>; shape: readonly number[] }, m: number) =>
  Array.from({ length: x.shape[0] }, (_, p) => x.data[p * x.shape[1] + m]);

/** The package's own file for digit d, read here independently of the loader. */
const require = createRequire(import.meta.url);
const rawDigit = (d: number): number[] => JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8')).data;

describe('loadMnist: the embedded 10,000 digits split as BENCH-PROTOCOL.md fixes', () => {
  let f32: Dataset;
  let f64: Dataset;
  beforeAll(() => {
    f32 = loadMnist();
    f64 = loadMnist({ dtype: 'float64' });
  });

  it('the split arithmetic: floor(0.8·n_d) of each digit trains, 7,996 train and 2,004 test', () => {
    expect(PER_DIGIT.reduce((a, b) => a + b)).toBe(10_000);
    expect(PER_DIGIT.map((n) => Math.floor(0.8 * n))).toEqual(TRAIN_PER_DIGIT);
    expect(PER_DIGIT.map((n, d) => n - TRAIN_PER_DIGIT[d])).toEqual(TEST_PER_DIGIT);
    expect(TRAIN_PER_DIGIT.reduce((a, b) => a + b)).toBe(7996);
    expect(TEST_PER_DIGIT.reduce((a, b) => a + b)).toBe(2004);
  });

  it('has 7,996 train and 2,004 test examples as columns, float32 by default', () => {
    const { train, test } = f32;
    expect(train.x.shape).toEqual([784, 7996]);
    expect(train.y.shape).toEqual([10, 7996]);
    expect(train.labels).toBeInstanceOf(Uint8Array);
    expect(train.labels.length).toBe(7996);
    expect(test.x.shape).toEqual([784, 2004]);
    expect(test.y.shape).toEqual([10, 2004]);
    expect(test.labels.length).toBe(2004);
    expect([train.x.dtype, train.y.dtype, test.x.dtype]).toEqual(['float32', 'float32', 'float32']);
    expect([f64.train.x.dtype, f64.test.y.dtype]).toEqual(['float64', 'float64']);
  });

  it('labels: per-digit counts, and the digits in blocks 0, 1, …, 9', () => {
    expect(counts(f32.train.labels)).toEqual(TRAIN_PER_DIGIT);
    expect(counts(f32.test.labels)).toEqual(TEST_PER_DIGIT);
    for (const labels of [f32.train.labels, f32.test.labels]) {
      for (let m = 1; m < labels.length; m++) expect(labels[m] >= labels[m - 1]).toBe(true);
    }
    expect([f32.train.labels[0], f32.train.labels[799], f32.train.labels[800], f32.train.labels[7995]]).toEqual([0, 0, 1, 9]);
    expect([f32.test.labels[0], f32.test.labels[200], f32.test.labels[201], f32.test.labels[2003]]).toEqual([0, 0, 1, 9]);
  });

  it('y is the one-hot of labels, class axis first', () => {
    for (const split of [f32.train, f64.test]) {
      const [classes, n] = split.y.shape;
      let ones = 0;
      let wrong = 0;
      for (let c = 0; c < classes; c++) {
        for (let m = 0; m < n; m++) {
          const v = split.y.data[c * n + m];
          if (v === 1) ones++;
          if (v !== (split.labels[m] === c ? 1 : 0)) wrong++;
        }
      }
      expect(wrong).toBe(0);
      expect(ones).toBe(n);
    }
  });

  it('pixels lie in [0, 1], with the checksums of the package data', () => {
    const stats = (data: ArrayLike<number>) => {
      let min = Infinity, max = -Infinity, sum = 0;
      for (let i = 0; i < data.length; i++) {
        const v = data[i];
        if (v < min) min = v;
        if (v > max) max = v;
        sum += v;
      }
      return { min, max, sum };
    };
    const train = stats(f64.train.x.data);
    const test = stats(f64.test.x.data);
    expect([train.min, train.max, test.min, test.max]).toEqual([0, 1, 0, 1]);
    expect(train.sum).toBeCloseTo(820430.987, 2);
    expect(test.sum).toBeCloseTo(207518.511, 2);
    expect(train.sum / f64.train.x.size).toBeCloseTo(0.130874, 6);
  });

  it('the first pixels of the first train and test digits', () => {
    const train0 = column(f64.train.x, 0);
    expect(train0.slice(0, 127).every((v) => v === 0)).toBe(true);
    expect(train0.slice(127, 132)).toEqual([0.2, 0.624, 0.992, 0.624, 0.196]);
    const test0 = column(f64.test.x, 0);
    expect(test0.findIndex((v) => v !== 0)).toBe(150);
    expect(test0.slice(150, 154)).toEqual([0.255, 0.773, 0.996, 0.867]);
    // float32 holds the same values, rounded once
    expect(column(f32.train.x, 0).slice(127, 132)).toEqual([0.2, 0.624, 0.992, 0.624, 0.196].map(Math.fround));
  });

  it("each digit's first train and first test column are the package samples 0 and floor(0.8·n_d)", () => {
    let trainAt = 0;
    let testAt = 0;
    for (let d = 0; d < 10; d++) {
      const raw = rawDigit(d);
      expect(raw.length).toBe(PER_DIGIT[d] * 784);
      const sample = (s: number) => raw.slice(s * 784, (s + 1) * 784);
      expect(column(f64.train.x, trainAt)).toEqual(sample(0));
      expect(column(f64.train.x, trainAt + TRAIN_PER_DIGIT[d] - 1)).toEqual(sample(TRAIN_PER_DIGIT[d] - 1));
      expect(column(f64.test.x, testAt)).toEqual(sample(TRAIN_PER_DIGIT[d]));
      expect(column(f64.test.x, testAt + TEST_PER_DIGIT[d] - 1)).toEqual(sample(PER_DIGIT[d] - 1));
      trainAt += TRAIN_PER_DIGIT[d];
      testAt += TEST_PER_DIGIT[d];
    }
  });

  it('parses once, but every call returns tensors of its own', () => {
    const again = loadMnist();
    // identity checks by hand: expect(a).not.toBe(b) deep-compares 6 M floats for its hint
    expect(again.train.x === f32.train.x || again.train.x.data === f32.train.x.data).toBe(false);
    again.train.x.assign(new Float32Array(784 * 7996));
    again.train.labels[0] = 7;
    const third = loadMnist();
    expect(third.train.x.data[127 * 7996]).toBe(Math.fround(0.2));
    expect(third.train.labels[0]).toBe(0);
  });

  it('refuses an unknown dtype', () => {
    expect(() => loadMnist({ dtype: 'int8' as never })).toThrow("loadMnist: unknown dtype int8: expected 'float32' or 'float64'");
  });
});
