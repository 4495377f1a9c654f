import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ValueError } from '@tapegrad/core';
import { type Dataset, type DTypeOptions, checkDType, splitFromExamples } from './types.js';

/**
 * The IDX format of the MNIST and Fashion-MNIST files: a 4-byte magic number (two zero
 * bytes, a type code, the number of dimensions), one big-endian uint32 per dimension, then
 * the values, big-endian, row-major.
 */
export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

export interface IdxArray {
  type: IdxType;
  dims: number[];
  data: IdxData;
}

interface TypeInfo {
  code: number;
  bytes: number;
  name: string;
  make: (n: number) => IdxData;
  read: (view: DataView, at: number) => number;
  write: (view: DataView, at: number, v: number) => void;
}

const TYPES: Record<IdxType, TypeInfo> = {
  uint8: { code: 0x08, bytes: 1, name: 'unsigned byte', make: (n) => new Uint8Array(n), read: (v, at) => v.getUint8(at), write: (v, at, x) => v.setUint8(at, x) },
  int8: { code: 0x09, bytes: 1, name: 'signed byte', make: (n) => new Int8Array(n), read: (v, at) => v.getInt8(at), write: (v, at, x) => v.setInt8(at, x) },
  int16: { code: 0x0b, bytes: 2, name: 'short', make: (n) => new Int16Array(n), read: (v, at) => v.getInt16(at), write: (v, at, x) => v.setInt16(at, x) },
  int32: { code: 0x0c, bytes: 4, name: 'int', make: (n) => new Int32Array(n), read: (v, at) => v.getInt32(at), write: (v, at, x) => v.setInt32(at, x) },
  float32: { code: 0x0d, bytes: 4, name: 'float', make: (n) => new Float32Array(n), read: (v, at) => v.getFloat32(at), write: (v, at, x) => v.setFloat32(at, x) },
  float64: { code: 0x0e, bytes: 8, name: 'double', make: (n) => new Float64Array(n), read: (v, at) => v.getFloat64(at), write: (v, at, x) => v.setFloat64(at, x) },
};

const TYPE_BY_CODE = new Map(Object.entries(TYPES).map(([type, info]) => [info.code, type as IdxType]));

/** The magic numbers of MNIST's files: unsigned bytes, 3 dimensions (images) or 1 (labels). */
export const IDX_IMAGES_MAGIC = 0x00000803;
export const IDX_LABELS_MAGIC = 0x00000801;

const hex = (magic: number) => `0x${(magic >>> 0).toString(16).padStart(8, '0')}`;
const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

export function idxMagic(type: IdxType, rank: number): number {
  return (TYPES[type].code << 8) | rank;
}

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/**
 * Decodes IDX bytes, gzipped or not (recognised by the gzip magic bytes 1f 8b, not by the
 * name). `source` names the file in error messages. Header and length are validated: the
 * data must be exactly as long as the dimensions say.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data', op = 'parseIdx'): IdxArray {
  const fail = (detail: string): never => {
    throw new ValueError(op, `${source}: ${detail}`);
  };
  if (isGzip(bytes)) {
    try {
      bytes = gunzipSync(bytes);
    } catch (error) {
      fail(`corrupt gzip data (${(error as Error).message}); download the file again`);
    }
  }
  if (bytes.length < 4) fail(`truncated: ${plural(bytes.length, 'byte')}, too short for the 4-byte magic number`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const type = TYPE_BY_CODE.get(bytes[2]);
  const rank = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type === undefined || rank === 0) {
    // a server's error page saved under the data's name is the usual way to get here
    const looksLikeText = bytes[0] === 0x3c /* < */ || bytes[0] === 0x7b; /* { */
    fail(
      `wrong magic number ${hex(magic)}: not an IDX file (expected two zero bytes, a type code such as 0x08 for ` +
        `unsigned bytes, and the number of dimensions, e.g. ${hex(IDX_IMAGES_MAGIC)} for images, ${hex(IDX_LABELS_MAGIC)} for labels)` +
        (looksLikeText ? '; the file starts like text, perhaps an error page saved instead of the data' : ''),
    );
  }
  const info = TYPES[type!];
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) {
    fail(`truncated: the header declares ${plural(rank, 'dimension')} (${headerBytes} header bytes) but the file has only ${plural(bytes.length, 'byte')}`);
  }
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i));
  const size = dims.reduce((a, b) => a * b, 1);
  const expected = size * info.bytes;
  const found = bytes.length - headerBytes;
  const what = `${dims.join('×')} ${info.name}${info.bytes > 1 ? ` (${info.bytes}-byte)` : ''} values`;
  if (found < expected) {
    fail(`truncated: ${what} need ${plural(expected, 'data byte')} after the ${headerBytes}-byte header, found ${plural(found, 'byte')}`);
  }
  if (found > expected) {
    fail(`${plural(found - expected, 'byte')} beyond the data its header declares (${what} = ${plural(expected, 'byte')} after the ${headerBytes}-byte header)`);
  }
  let data: IdxData;
  if (type === 'uint8') {
    // a copy into a plain Uint8Array: readFileSync gives a Buffer, whose slice() is a view
    data = new Uint8Array(bytes.subarray(headerBytes));
  } else {
    data = info.make(size);
    for (let i = 0, at = headerBytes; i < size; i++, at += info.bytes) data[i] = info.read(view, at);
  }
  return { type: type!, dims, data };
}

/** Reads an IDX file, gzipped or not, validating its header and length (see `parseIdx`). */
export function readIdx(path: string): IdxArray {
  return parseIdx(readFile(path, 'readIdx'), path, 'readIdx');
}

function readFile(path: string, op: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new ValueError(op, `${path}: file not found`);
    throw new ValueError(op, `${path}: cannot read: ${(error as Error).message}`);
  }
}

/** Encodes an array as IDX bytes; the inverse of `parseIdx`. */
export function encodeIdx(array: { type?: IdxType; dims: readonly number[]; data: ArrayLike<number> }): Uint8Array {
  const type = array.type ?? 'uint8';
  const info = TYPES[type];
  if (!info) throw new ValueError('encodeIdx', `unknown IDX type ${String(type)}: expected one of ${Object.keys(TYPES).join(', ')}`);
  const { dims, data } = array;
  if (dims.length < 1 || dims.length > 255) throw new ValueError('encodeIdx', `IDX holds 1 to 255 dimensions, got ${dims.length}`);
  for (const d of dims) {
    if (!Number.isInteger(d) || d < 0 || d > 0xffffffff) throw new ValueError('encodeIdx', `dimension ${d} of [${dims.join(',')}] is not a uint32`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (data.length !== size) throw new ValueError('encodeIdx', `${data.length} values do not fill dimensions [${dims.join(',')}] (${size} values)`);
  const headerBytes = 4 + 4 * dims.length;
  const bytes = new Uint8Array(headerBytes + size * info.bytes);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, idxMagic(type, dims.length));
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  for (let i = 0, at = headerBytes; i < size; i++, at += info.bytes) info.write(view, at, data[i]);
  return bytes;
}

/** Writes an IDX file; gzipped when `gzip` is set or, by default, when the path ends in `.gz`. */
export function writeIdx(
  path: string,
  array: { type?: IdxType; dims: readonly number[]; data: ArrayLike<number> },
  options: { gzip?: boolean } = {},
): void {
  const bytes = encodeIdx(array);
  writeFileSync(path, options.gzip ?? path.endsWith('.gz') ? gzipSync(bytes) : bytes);
}

export interface IdxDatasetOptions extends DTypeOptions {
  /** Number of classes for the one-hot targets; labels must lie in [0, classes). Default 10. */
  classes?: number;
}

/** The four files, by their standard base names (Kaggle's copies use a dot before `idx`). */
const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function findFile(dir: string, base: string, listing: string[]): string {
  const dotted = base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte');
  // uncompressed first: if both are present they hold the same data and reading is faster
  for (const name of [base, `${base}.gz`, dotted, `${dotted}.gz`]) {
    if (listing.includes(name)) return join(dir, name);
  }
  const found = listing.length > 0 ? `; the directory holds: ${listing.slice(0, 12).join(', ')}${listing.length > 12 ? ', …' : ''}` : '; the directory is empty';
  throw new ValueError('loadIdxDataset', `missing file ${base} (or ${base}.gz) in ${dir}${found}`);
}

function readChecked(path: string, magic: number, what: string): IdxArray {
  const array = parseIdx(readFile(path, 'loadIdxDataset'), path, 'loadIdxDataset');
  const actual = idxMagic(array.type, array.dims.length);
  if (actual !== magic) {
    throw new ValueError(
      'loadIdxDataset',
      `${path}: wrong magic number ${hex(actual)} (${array.type}, ${plural(array.dims.length, 'dimension')}), expected ${hex(magic)} for ${what}`,
    );
  }
  return array;
}

/**
 * Loads MNIST-format data (MNIST, Fashion-MNIST, KMNIST…) from the four standard files in
 * `dir`, each gzipped or not: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte. Pixels are scaled to [0, 1]; the result
 * has the layout of `loadMnist`: x [rows·cols, N], y one-hot [classes, N], labels.
 */
export function loadIdxDataset(dir: string, options: IdxDatasetOptions = {}): Dataset {
  const dtype = checkDType('loadIdxDataset', options.dtype ?? 'float32');
  const classes = options.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new ValueError('loadIdxDataset', `classes must be an integer in [1, 256], got ${classes}`);
  }
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ValueError('loadIdxDataset', `${dir}: no such directory`);
  const listing = readdirSync(dir).sort();
  const paths = {
    trainImages: findFile(dir, FILES.trainImages, listing),
    trainLabels: findFile(dir, FILES.trainLabels, listing),
    testImages: findFile(dir, FILES.testImages, listing),
    testLabels: findFile(dir, FILES.testLabels, listing),
  };
  const load = (imagesPath: string, labelsPath: string, expectedImageDims?: number[]) => {
    const images = readChecked(imagesPath, IDX_IMAGES_MAGIC, 'images (unsigned bytes, 3 dimensions)');
    const labels = readChecked(labelsPath, IDX_LABELS_MAGIC, 'labels (unsigned bytes, 1 dimension)');
    const [count, rows, cols] = images.dims;
    if (count === 0) throw new ValueError('loadIdxDataset', `${imagesPath}: holds 0 images; a training or test set needs at least one`);
    if (rows === 0 || cols === 0) throw new ValueError('loadIdxDataset', `${imagesPath}: images are ${rows}×${cols}, with no pixels`);
    if (labels.dims[0] !== count) {
      throw new ValueError(
        'loadIdxDataset',
        `image/label count mismatch: ${imagesPath} holds ${plural(count, 'image')} but ${labelsPath} holds ${plural(labels.dims[0], 'label')}`,
      );
    }
    if (expectedImageDims && (expectedImageDims[0] !== rows || expectedImageDims[1] !== cols)) {
      throw new ValueError(
        'loadIdxDataset',
        `${imagesPath}: images are ${rows}×${cols} but the training images are ${expectedImageDims[0]}×${expectedImageDims[1]}`,
      );
    }
    const values = labels.data as Uint8Array;
    for (let i = 0; i < values.length; i++) {
      if (values[i] >= classes) {
        throw new ValueError('loadIdxDataset', `${labelsPath}: label ${values[i]} at index ${i} is not a class in [0, ${classes})`);
      }
    }
    return { split: splitFromExamples(images.data, rows * cols, values, classes, dtype, 255, { op: 'loadIdxDataset', name: imagesPath }), dims: [rows, cols] };
  };
  const train = load(paths.trainImages, paths.trainLabels);
  const test = load(paths.testImages, paths.testLabels, train.dims);
  return { train: train.split, test: test.split };
}
