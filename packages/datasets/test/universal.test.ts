import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { gzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { ValueError } from '@tapegrad/core';
import { loadIdxDataset, loadMnist } from '@tapegrad/datasets';
// the universal entry itself: what a browser bundle gets
import { encodeIdx, idxDataset, mnistFromDigits, parseIdx } from '../src/index.js';

const require = createRequire(import.meta.url);
const digitData = (d: number): { data: number[] } => JSON.parse(readFileSync(require.resolve(`mnist/src/digits/${d}.json`), 'utf8'));

describe('the universal entry: data from memory', () => {
  it('mnistFromDigits on the mnist package\'s digits gives loadMnist\'s split exactly', () => {
    const digits = Array.from({ length: 10 }, (_, d) => digitData(d));
    const fromMemory = mnistFromDigits(digits);
    const fromFiles = loadMnist();
    expect(fromMemory.train.x.shape).toEqual([784, 7996]);
    expect(fromMemory.test.x.shape).toEqual([784, 2004]);
    expect(Array.from(fromMemory.train.labels)).toEqual(Array.from(fromFiles.train.labels));
    // the 1.6 million pixels bit for bit: toEqual's generic element walk took seconds for them
    const [a, b] = [fromMemory.test.x.data, fromFiles.test.x.data];
    expect(a.constructor).toBe(b.constructor);
    expect(Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))).toBe(true);
  });

  it('mnistFromDigits with perDigit: the first n images of each digit, split 80/20', () => {
    const digits = Array.from({ length: 10 }, (_, d) => ({ data: Float32Array.from({ length: 784 * 12 }, (_, i) => ((i + d) % 5) / 4) }));
    const { train, test } = mnistFromDigits(digits, { perDigit: 10, dtype: 'float64' });
    expect(train.x.shape).toEqual([784, 80]);
    expect(test.x.shape).toEqual([784, 20]);
    expect(Array.from(test.labels.subarray(0, 4))).toEqual([0, 0, 1, 1]);
    expect(train.x.dtype).toBe('float64');
    // 8 of each digit train: column 7 is digit 0's image 7 (first pixel (7·784 mod 5) / 4),
    // column 8 digit 1's image 0 (first pixel (0 + 1) mod 5 / 4)
    expect(train.x.data[7]).toBe(((7 * 784) % 5) / 4);
    expect(train.x.data[8]).toBe(1 / 4);
  });

  it('mnistFromDigits refuses what is not ten digits of 784-pixel images in [0, 1]', () => {
    const ok = Array.from({ length: 10 }, () => ({ data: new Array(784).fill(0.5) }));
    expect(() => mnistFromDigits(ok.slice(0, 9))).toThrow(/expects the 10 digits' data, digit 0 first; got 9 entries/);
    expect(() => mnistFromDigits(ok.map((d, i) => (i === 3 ? { data: d.data.slice(1) } : d)))).toThrow(/digit 3: 'data' holds 783 values, not a whole number of 784-pixel images/);
    expect(() => mnistFromDigits(ok.map((d, i) => (i === 4 ? { data: [...d.data.slice(1), 2] } : d)))).toThrow(/digit 4: value 2 at index 783 is not a number in \[0, 1\]/);
    expect(() => mnistFromDigits(ok, { perDigit: 0 })).toThrow(ValueError);
  });

  it('idxDataset reads the four files\' bytes as loadIdxDataset reads them from disk', () => {
    const images = (n: number) => encodeIdx({ dims: [n, 2, 3], data: Uint8Array.from({ length: n * 6 }, (_, i) => (i * 37) % 256) });
    const files = {
      trainImages: images(4), trainLabels: encodeIdx({ dims: [4], data: Uint8Array.of(1, 0, 2, 1) }),
      testImages: images(2), testLabels: encodeIdx({ dims: [2], data: Uint8Array.of(2, 0) }),
    };
    const { train, test } = idxDataset(files, { classes: 3, dtype: 'float64' });
    expect(train.x.shape).toEqual([6, 4]);
    expect(train.y.shape).toEqual([3, 4]);
    expect(train.x.data[1 * 4 + 0]).toBe(37 / 255);
    expect(Array.from(test.labels)).toEqual([2, 0]);
    expect(() => idxDataset({ ...files, testLabels: files.trainLabels })).toThrow(/idxDataset: image\/label count mismatch: t10k-images-idx3-ubyte holds 2 images but t10k-labels-idx1-ubyte holds 4 labels/);
    expect(typeof loadIdxDataset).toBe('function');
  });

  it('parseIdx without zlib refuses gzipped bytes with advice; Node\'s parseIdx reads them', async () => {
    const bytes = encodeIdx({ dims: [3], data: Uint8Array.of(1, 2, 3) });
    expect(Array.from(parseIdx(bytes).data)).toEqual([1, 2, 3]);
    expect(() => parseIdx(gzipSync(bytes), 'labels.gz')).toThrow(/parseIdx: labels.gz: gzipped data: decompress it first \(DecompressionStream\('gzip'\) in a browser\)/);
    const node = await import('@tapegrad/datasets');
    expect(Array.from(node.parseIdx(gzipSync(bytes)).data)).toEqual([1, 2, 3]);
  });
});
