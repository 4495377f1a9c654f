import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, describe, expect, it } from 'vitest';
import { ValueError } from '@tapegrad/core';
import {
  IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC, type IdxType, encodeIdx, loadIdxDataset, parseIdx, readIdx, writeIdx,
} from '@tapegrad/datasets';

const root = mkdtempSync(join(tmpdir(), 'tapegrad-idx-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
const freshDir = () => {
  const dir = join(root, `case-${dirs++}`);
  mkdirSync(dir);
  return dir;
};

/** A small MNIST-shaped set: 5 train and 3 test images of 3×4 pixels, pixel = (17·m + p) mod 256. */
const ROWS = 3;
const COLS = 4;
function images(count: number, offset = 0) {
  return { dims: [count, ROWS, COLS], data: Uint8Array.from({ length: count * ROWS * COLS }, (_, i) => (17 * (offset + Math.floor(i / 12)) + (i % 12) * 21) % 256) };
}
const TRAIN_LABELS = Uint8Array.of(3, 0, 9, 1, 3);
const TEST_LABELS = Uint8Array.of(7, 2, 0);

/** Writes the four standard files; `gz` chooses the compressed names. */
function writeSet(dir: string, gz: boolean, overrides: Partial<Record<'trainImages' | 'trainLabels' | 'testImages' | 'testLabels', Uint8Array>> = {}) {
  const ext = gz ? '.gz' : '';
  const put = (name: string, bytes: Uint8Array) => writeFileSync(join(dir, name + ext), gz ? gzipSync(bytes) : bytes);
  put('train-images-idx3-ubyte', overrides.trainImages ?? encodeIdx(images(5)));
  put('train-labels-idx1-ubyte', overrides.trainLabels ?? encodeIdx({ dims: [5], data: TRAIN_LABELS }));
  put('t10k-images-idx3-ubyte', overrides.testImages ?? encodeIdx(images(3, 100)));
  put('t10k-labels-idx1-ubyte', overrides.testLabels ?? encodeIdx({ dims: [3], data: TEST_LABELS }));
}

/** The ValueError thrown by `fn`, asserting its class. */
function errorOf(fn: () => unknown): ValueError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ValueError);
    return error as ValueError;
  }
  throw new Error('expected a ValueError, nothing was thrown');
}

const ARRAY_OF = { uint8: Uint8Array, int8: Int8Array, int16: Int16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array };

describe('IDX encoding', () => {
  it('writes the MNIST header: magic 0x00000803, big-endian dimensions, then the bytes', () => {
    const bytes = encodeIdx({ dims: [2, 1, 3], data: [1, 2, 3, 250, 251, 252] });
    expect(Array.from(bytes)).toEqual([0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 3, 1, 2, 3, 250, 251, 252]);
    expect(Array.from(encodeIdx({ dims: [300], data: new Uint8Array(300) }).slice(0, 8))).toEqual([0, 0, 8, 1, 0, 0, 1, 44]);
    expect([IDX_IMAGES_MAGIC, IDX_LABELS_MAGIC]).toEqual([0x803, 0x801]);
  });

  it('round-trips every IDX type through a file, raw and gzipped', () => {
    const cases: Array<[IdxType, number[]]> = [
      ['uint8', [0, 1, 128, 255, 7, 9]],
      ['int8', [-128, -1, 0, 1, 127, 5]],
      ['int16', [-32768, -2, 0, 300, 32767, 1]],
      ['int32', [-2147483648, -70000, 0, 70000, 2147483647, 3]],
      ['float32', [-1.5, 0, 0.25, Math.fround(3e38), Math.fround(0.1), 1]],
      ['float64', [-1.5, 0, 0.1, 1e300, Math.PI, -0]],
    ];
    const dir = freshDir();
    for (const [type, values] of cases) {
      for (const file of [join(dir, `${type}.idx`), join(dir, `${type}.idx.gz`)]) {
        writeIdx(file, { type, dims: [2, 3], data: values });
        const back = readIdx(file);
        expect(back.type).toBe(type);
        expect(back.data.constructor).toBe(ARRAY_OF[type]); // a plain typed array, never a Buffer view
        expect(back.dims).toEqual([2, 3]);
        expect(Array.from(back.data)).toEqual(values);
      }
    }
    const raw = readFileSync(join(dir, 'int16.idx'));
    expect(Array.from(raw.subarray(0, 4))).toEqual([0, 0, 0x0b, 2]);
    expect(Array.from(raw.subarray(12, 14))).toEqual([0x80, 0x00]); // big-endian −32768
    expect(Array.from(readFileSync(join(dir, 'int16.idx.gz')).subarray(0, 2))).toEqual([0x1f, 0x8b]);
  });

  it('detects gzip by its magic bytes, not by the name', () => {
    const file = join(freshDir(), 'labels-without-extension');
    writeIdx(file, { dims: [3], data: [4, 5, 6] }, { gzip: true });
    expect(readFileSync(file)[0]).toBe(0x1f);
    expect(Array.from(readIdx(file).data)).toEqual([4, 5, 6]);
  });

  it('refuses arrays it cannot encode', () => {
    expect(() => encodeIdx({ dims: [2, 2], data: [1, 2, 3] })).toThrow('encodeIdx: 3 values do not fill dimensions [2,2] (4 values)');
    expect(() => encodeIdx({ dims: [], data: [1] })).toThrow('encodeIdx: IDX holds 1 to 255 dimensions, got 0');
    expect(() => encodeIdx({ dims: [-1], data: [] })).toThrow('encodeIdx: dimension -1 of [-1] is not a uint32');
  });
});

describe('readIdx: every broken file is a ValueError naming the file and the fault', () => {
  const dir = freshDir();
  const good = encodeIdx(images(2));
  const write = (name: string, bytes: Uint8Array) => {
    const file = join(dir, name);
    writeFileSync(file, bytes);
    return file;
  };

  it('missing file', () => {
    const file = join(dir, 'nope-idx3-ubyte');
    expect(errorOf(() => readIdx(file)).message).toBe(`readIdx: ${file}: file not found`);
  });

  it('wrong magic number: not IDX at all, and a saved HTML error page', () => {
    const bad = write('bad-magic', Uint8Array.of(0x12, 0x34, 0x56, 0x78, 0, 0, 0, 0));
    expect(errorOf(() => readIdx(bad)).message).toMatch(new RegExp(`^readIdx: ${bad}: wrong magic number 0x12345678: not an IDX file \\(expected two zero bytes, a type code such as 0x08 for unsigned bytes`));
    const html = write('html-idx3-ubyte', new TextEncoder().encode('<!DOCTYPE html><html>Not found</html>'));
    const message = errorOf(() => readIdx(html)).message;
    expect(message).toContain(`${html}: wrong magic number 0x3c21444f`);
    expect(message).toContain('the file starts like text, perhaps an error page saved instead of the data');
    const unknownType = write('type-0x07', Uint8Array.of(0, 0, 0x07, 1, 0, 0, 0, 0));
    expect(errorOf(() => readIdx(unknownType)).message).toContain(`${unknownType}: wrong magic number 0x00000701`);
    const rank0 = write('rank-0', Uint8Array.of(0, 0, 0x08, 0));
    expect(errorOf(() => readIdx(rank0)).message).toContain(`${rank0}: wrong magic number 0x00000800`);
  });

  it('truncated: shorter than the magic number, inside the header, inside the data', () => {
    const tiny = write('tiny', good.subarray(0, 3));
    expect(errorOf(() => readIdx(tiny)).message).toBe(`readIdx: ${tiny}: truncated: 3 bytes, too short for the 4-byte magic number`);
    const header = write('cut-header', good.subarray(0, 10));
    expect(errorOf(() => readIdx(header)).message).toBe(
      `readIdx: ${header}: truncated: the header declares 3 dimensions (16 header bytes) but the file has only 10 bytes`,
    );
    const data = write('cut-data', good.subarray(0, good.length - 5));
    expect(errorOf(() => readIdx(data)).message).toBe(
      `readIdx: ${data}: truncated: 2×3×4 unsigned byte values need 24 data bytes after the 16-byte header, found 19 bytes`,
    );
  });

  it('truncated inside a gzipped file: the decompressed data is short', () => {
    const file = write('cut-data.gz', gzipSync(good.subarray(0, 30)));
    expect(errorOf(() => readIdx(file)).message).toBe(
      `readIdx: ${file}: truncated: 2×3×4 unsigned byte values need 24 data bytes after the 16-byte header, found 14 bytes`,
    );
  });

  it('multi-byte types count bytes, not values', () => {
    const floats = encodeIdx({ type: 'float32', dims: [3], data: [1, 2, 3] });
    const file = write('floats-cut', floats.subarray(0, floats.length - 2));
    expect(errorOf(() => readIdx(file)).message).toBe(
      `readIdx: ${file}: truncated: 3 float (4-byte) values need 12 data bytes after the 8-byte header, found 10 bytes`,
    );
  });

  it('bytes beyond the declared data', () => {
    const file = write('too-long', Uint8Array.from([...good, 0, 0, 0]));
    expect(errorOf(() => readIdx(file)).message).toBe(
      `readIdx: ${file}: 3 bytes beyond the data its header declares (2×3×4 unsigned byte values = 24 bytes after the 16-byte header)`,
    );
  });

  it('corrupt gzip: a damaged stream and a cut-off one', () => {
    const zipped = gzipSync(good);
    const damaged = Uint8Array.from(zipped); // Buffer#slice would share zipped's memory
    for (let i = 10; i < damaged.length - 8; i++) damaged[i] ^= 0xa5;
    const file = write('damaged.gz', damaged);
    expect(errorOf(() => readIdx(file)).message).toMatch(new RegExp(`^readIdx: ${file}: corrupt gzip data \\(.+\\); download the file again$`));
    const cut = write('cut.gz', zipped.subarray(0, zipped.length - 4));
    expect(errorOf(() => readIdx(cut)).message).toBe(`readIdx: ${cut}: corrupt gzip data (unexpected end of file); download the file again`);
  });

  it('parseIdx names its source for bytes that never were a file', () => {
    expect(() => parseIdx(Uint8Array.of(0, 0), 'upload #3')).toThrow('parseIdx: upload #3: truncated: 2 bytes, too short for the 4-byte magic number');
  });
});

describe('loadIdxDataset: the four MNIST files, raw or gzipped', () => {
  for (const gz of [false, true]) {
    it(`loads a ${gz ? 'gzipped' : 'raw'} set: pixels / 255, one-hot labels, examples as columns`, () => {
      const dir = freshDir();
      writeSet(dir, gz);
      const { train, test } = loadIdxDataset(dir);
      expect(train.x.shape).toEqual([12, 5]);
      expect(train.y.shape).toEqual([10, 5]);
      expect(test.x.shape).toEqual([12, 3]);
      expect(train.x.dtype).toBe('float32');
      expect(Array.from(train.labels)).toEqual([3, 0, 9, 1, 3]);
      expect(Array.from(test.labels)).toEqual([7, 2, 0]);
      // column m, pixel p is byte (17·m + 21·p) mod 256 over 255
      const bytes = images(5).data;
      for (let m = 0; m < 5; m++) {
        for (let p = 0; p < 12; p++) expect(train.x.data[p * 5 + m]).toBe(Math.fround(bytes[m * 12 + p] / 255));
      }
      expect([train.x.data[0], train.x.data[1], train.x.data[5]]).toEqual([0, Math.fround(17 / 255), Math.fround(21 / 255)]);
      expect(test.x.data[0]).toBe(Math.fround(((17 * 100) % 256) / 255));
      // y[c, m] = 1 exactly where labels[m] = c
      expect(Array.from(train.y.data.subarray(3 * 5, 4 * 5))).toEqual([1, 0, 0, 0, 1]);
      expect(Array.from(test.y.data.subarray(7 * 3, 8 * 3))).toEqual([1, 0, 0]);
    });
  }

  it('scales 0 and 255 to exactly 0 and 1, in float64 too', () => {
    const dir = freshDir();
    const extremes = { dims: [2, 3, 4], data: Uint8Array.from({ length: 24 }, (_, i) => (i % 2 ? 255 : 0)) };
    writeSet(dir, false, { trainImages: encodeIdx({ ...extremes, dims: [2, 3, 4] }), trainLabels: encodeIdx({ dims: [2], data: [1, 1] }) });
    const { train } = loadIdxDataset(dir, { dtype: 'float64' });
    expect(train.x.dtype).toBe('float64');
    expect(new Set(train.x.data)).toEqual(new Set([0, 1]));
  });

  it('accepts a mix of raw and gzipped files, and the dotted names of some mirrors', () => {
    const dir = freshDir();
    writeSet(dir, false);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(readFileSync(join(dir, 'train-images-idx3-ubyte'))));
    rmSync(join(dir, 'train-images-idx3-ubyte'));
    renameSync(join(dir, 't10k-labels-idx1-ubyte'), join(dir, 't10k-labels.idx1-ubyte'));
    const { train, test } = loadIdxDataset(dir);
    expect(train.x.shape).toEqual([12, 5]);
    expect(Array.from(test.labels)).toEqual([7, 2, 0]);
  });

  it('a missing file: named, with what the directory holds', () => {
    const dir = freshDir();
    writeSet(dir, true);
    rmSync(join(dir, 't10k-labels-idx1-ubyte.gz'));
    expect(errorOf(() => loadIdxDataset(dir)).message).toBe(
      `loadIdxDataset: missing file t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) in ${dir}; ` +
        'the directory holds: t10k-images-idx3-ubyte.gz, train-images-idx3-ubyte.gz, train-labels-idx1-ubyte.gz',
    );
    const empty = freshDir();
    expect(errorOf(() => loadIdxDataset(empty)).message).toBe(
      `loadIdxDataset: missing file train-images-idx3-ubyte (or train-images-idx3-ubyte.gz) in ${empty}; the directory is empty`,
    );
    expect(errorOf(() => loadIdxDataset(join(root, 'no-such-dir'))).message).toBe(`loadIdxDataset: ${join(root, 'no-such-dir')}: no such directory`);
  });

  it('image/label count mismatch names both files and both counts', () => {
    const dir = freshDir();
    writeSet(dir, true, { testLabels: encodeIdx({ dims: [4], data: [1, 2, 3, 4] }) });
    expect(errorOf(() => loadIdxDataset(dir)).message).toBe(
      `loadIdxDataset: image/label count mismatch: ${join(dir, 't10k-images-idx3-ubyte.gz')} holds 3 images ` +
        `but ${join(dir, 't10k-labels-idx1-ubyte.gz')} holds 4 labels`,
    );
  });

  it('wrong magic number: labels where the images should be, and the reverse', () => {
    const dir = freshDir();
    writeSet(dir, false, { trainImages: encodeIdx({ dims: [5], data: TRAIN_LABELS }) });
    expect(errorOf(() => loadIdxDataset(dir)).message).toBe(
      `loadIdxDataset: ${join(dir, 'train-images-idx3-ubyte')}: wrong magic number 0x00000801 (uint8, 1 dimension), ` +
        'expected 0x00000803 for images (unsigned bytes, 3 dimensions)',
    );
    const other = freshDir();
    writeSet(other, true, { testLabels: encodeIdx({ type: 'int32', dims: [3], data: [7, 2, 0] }) });
    expect(errorOf(() => loadIdxDataset(other)).message).toBe(
      `loadIdxDataset: ${join(other, 't10k-labels-idx1-ubyte.gz')}: wrong magic number 0x00000c01 (int32, 1 dimension), ` +
        'expected 0x00000801 for labels (unsigned bytes, 1 dimension)',
    );
  });

  it('a truncated and a corrupt gzipped member file are named', () => {
    const dir = freshDir();
    const full = encodeIdx(images(5));
    writeSet(dir, false, { trainImages: full.subarray(0, 50) });
    expect(errorOf(() => loadIdxDataset(dir)).message).toBe(
      `loadIdxDataset: ${join(dir, 'train-images-idx3-ubyte')}: truncated: 5×3×4 unsigned byte values need 60 data bytes ` +
        'after the 16-byte header, found 34 bytes',
    );
    const zdir = freshDir();
    writeSet(zdir, true);
    writeFileSync(join(zdir, 't10k-images-idx3-ubyte.gz'), Uint8Array.of(0x1f, 0x8b, 8, 0, 1, 2, 3, 4, 5, 6, 7));
    expect(errorOf(() => loadIdxDataset(zdir)).message).toMatch(
      new RegExp(`^loadIdxDataset: ${join(zdir, 't10k-images-idx3-ubyte.gz')}: corrupt gzip data \\(.+\\); download the file again$`),
    );
  });

  it('labels outside the classes, and test images of another size', () => {
    const dir = freshDir();
    writeSet(dir, false, { trainLabels: encodeIdx({ dims: [5], data: [3, 0, 10, 1, 3] }) });
    expect(errorOf(() => loadIdxDataset(dir)).message).toBe(
      `loadIdxDataset: ${join(dir, 'train-labels-idx1-ubyte')}: label 10 at index 2 is not a class in [0, 10)`,
    );
    expect(loadIdxDataset(dir, { classes: 11 }).train.y.shape).toEqual([11, 5]);
    const sizes = freshDir();
    writeSet(sizes, false, { testImages: encodeIdx({ dims: [3, 4, 3], data: new Uint8Array(36) }) });
    expect(errorOf(() => loadIdxDataset(sizes)).message).toBe(
      `loadIdxDataset: ${join(sizes, 't10k-images-idx3-ubyte')}: images are 4×3 but the training images are 3×4`,
    );
  });
});
