import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError } from '@tapegrad/core';
import { loadIdxDataset, writeIdx } from '@tapegrad/datasets';
import { splitFromExamples } from '../src/types.js';

const scratch = mkdtempSync(join(tmpdir(), 'tapegrad-datasets-reliability-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function writeSet(dir: string, trainCount: number, testCount: number): void {
  for (const [prefix, count] of [['train', trainCount], ['t10k', testCount]] as const) {
    writeIdx(join(dir, `${prefix}-images-idx3-ubyte`), { dims: [count, 2, 2], data: new Uint8Array(count * 4).fill(7) });
    writeIdx(join(dir, `${prefix}-labels-idx1-ubyte`), { dims: [count], data: new Uint8Array(count) });
  }
}

describe('loaders refuse examples that cannot be trained on', () => {
  it('an IDX images file with 0 images is a ValueError naming the file', () => {
    const dir = join(scratch, 'empty-train');
    mkdirSync(dir);
    writeSet(dir, 0, 3);
    expect(() => loadIdxDataset(dir)).toThrow(new ValueError('loadIdxDataset', `${join(dir, 'train-images-idx3-ubyte')}: holds 0 images; a training or test set needs at least one`));
    const ok = join(scratch, 'ok');
    mkdirSync(ok);
    writeSet(ok, 2, 1);
    expect(loadIdxDataset(ok).train.x.shape).toEqual([4, 2]);
  });

  it('a NaN or ±∞ among the examples is refused with the example and the feature index', () => {
    const labels = Uint8Array.from([0, 1, 0]);
    expect(() => splitFromExamples([1, 2, 3, 4, NaN, 6], 2, labels, 2, 'float64')).toThrow(new ValueError('splitFromExamples', 'the data: example 2, feature 0 is NaN; examples must be finite numbers'));
    expect(() => splitFromExamples([1, Infinity, 3, 4, 5, 6], 2, labels, 2, 'float64', 1, { op: 'loadX', name: 'x.bin' })).toThrow(new ValueError('loadX', 'x.bin: example 0, feature 1 is Infinity; examples must be finite numbers'));
    expect(() => splitFromExamples([1, 1e300, 3, 4, 5, 6], 2, labels, 2, 'float32')).toThrow(new ValueError('splitFromExamples', 'the data: example 0, feature 1 is 1e+300 (1e+300 overflows float32); examples must be finite numbers'));
    expect(Array.from(splitFromExamples([1, 2, 3, 4, 5, 6], 2, labels, 2, 'float64').x.data)).toEqual([1, 3, 5, 2, 4, 6]);
  });
});
