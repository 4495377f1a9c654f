import { type DType, ValueError } from '@tapegrad/core';
import { type Dataset, type DTypeOptions, checkDType, splitFromExamples } from './types.js';

/**
 * The IDX format of the MNIST and Fashion-MNIST files: a 4-byte magic number (two zero
 * bytes, a type code, the number of dimensions), one big-endian uint32 per dimension, then
 * the values, big-endian, row-major.
 */
export type IdxType = 'uint8' | 'int8' | 'int16' | 'int32' | 'float32' | 'float64';
/** The typed array an IDX file decodes to, by its value type. */
export type IdxData = Uint8Array | Int8Array | Int16Array | Int32Array | Float32Array | Float64Array;

/** A decoded IDX file: its value type, dimensions and values (row-major). */
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
/** The magic number of MNIST's label files: unsigned bytes, 1 dimension. */
export const IDX_LABELS_MAGIC = 0x00000801;

export const hex = (magic: number) => `0x${(magic >>> 0).toString(16).padStart(8, '0')}`;
export const plural = (n: number, word: string) => `${n.toLocaleString('en-US')} ${word}${n === 1 ? '' : 's'}`;

/** The magic number of an IDX file of values of `type` with `rank` dimensions. */
export function idxMagic(type: IdxType, rank: number): number {
  return (TYPES[type].code << 8) | rank;
}

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** Decompresses gzip bytes (Node's zlib in the Node entry; the universal entry has none). */
export type Gunzip = (bytes: Uint8Array) => Uint8Array;

/**
 * Decodes IDX bytes. `source` names the file in error messages. Header and length are
 * validated: the data must be exactly as long as the dimensions say. Gzipped bytes
 * (recognised by the magic bytes 1f 8b, not by a name) are refused here, in the universal
 * entry, which has no zlib: decompress them first (`new DecompressionStream('gzip')` in a
 * browser). Node's entry (`@tapegrad/datasets/node`, and Node's plain import) reads them.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data', op = 'parseIdx'): IdxArray {
  return decodeIdx(bytes, source, op, undefined);
}

/** parseIdx with a gzip decoder, or without one (gzipped bytes then refused with advice). */
export function decodeIdx(bytes: Uint8Array, source: string, op: string, gunzip: Gunzip | undefined): IdxArray {
  const fail = (detail: string): never => {
    throw new ValueError(op, `${source}: ${detail}`);
  };
  if (isGzip(bytes)) {
    if (gunzip === undefined) {
      fail(`gzipped data: decompress it first (DecompressionStream('gzip') in a browser), or read it with Node's @tapegrad/datasets, which has zlib`);
    }
    try {
      bytes = gunzip!(bytes);
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

/** Options of loadIdxDataset and idxDataset: dtype and number of classes. */
export interface IdxDatasetOptions extends DTypeOptions {
  /** Number of classes for the one-hot targets; labels must lie in [0, classes). Default 10. */
  classes?: number;
}

/** The four files of an MNIST-format data set, as bytes (fetched, uploaded, read from disk). */
export interface IdxFiles {
  trainImages: Uint8Array;
  trainLabels: Uint8Array;
  testImages: Uint8Array;
  testLabels: Uint8Array;
}

/** Each file's bytes with the name its errors use. */
export type NamedIdxFiles = { [K in keyof IdxFiles]: { bytes: Uint8Array; name: string } };

/**
 * The train/test data set from the bytes of the four MNIST-format files (uncompressed in the
 * universal entry): loadIdxDataset's checks and result, for bytes you fetched yourself.
 * Pixels are scaled to [0, 1]: x [rows·cols, N], y one-hot [classes, N], labels.
 */
export function idxDataset(files: IdxFiles, options: IdxDatasetOptions = {}): Dataset {
  const named = Object.fromEntries(
    (Object.keys(FILE_NAMES) as Array<keyof IdxFiles>).map((key) => [key, { bytes: files[key], name: FILE_NAMES[key] }]),
  ) as NamedIdxFiles;
  return idxDatasetOf('idxDataset', named, options, undefined);
}

/** The four files, by their standard base names (Kaggle's copies use a dot before `idx`). */
export const FILE_NAMES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

function decodeChecked(op: string, file: { bytes: Uint8Array; name: string }, magic: number, what: string, gunzip: Gunzip | undefined): IdxArray {
  const array = decodeIdx(file.bytes, file.name, op, gunzip);
  const actual = idxMagic(array.type, array.dims.length);
  if (actual !== magic) {
    throw new ValueError(
      op,
      `${file.name}: wrong magic number ${hex(actual)} (${array.type}, ${plural(array.dims.length, 'dimension')}), expected ${hex(magic)} for ${what}`,
    );
  }
  return array;
}

/** The options with their defaults, checked. */
export function checkIdxOptions(op: string, options: IdxDatasetOptions): { dtype: DType; classes: number } {
  const dtype = checkDType(op, options.dtype ?? 'float32');
  const classes = options.classes ?? 10;
  if (!Number.isInteger(classes) || classes < 1 || classes > 256) {
    throw new ValueError(op, `classes must be an integer in [1, 256], got ${classes}`);
  }
  return { dtype, classes };
}

/** idxDataset's and loadIdxDataset's work: the op its errors name, and a gzip decoder if there is one. */
export function idxDatasetOf(op: string, files: NamedIdxFiles, options: IdxDatasetOptions, gunzip: Gunzip | undefined): Dataset {
  const { dtype, classes } = checkIdxOptions(op, options);
  const load = (imagesFile: { bytes: Uint8Array; name: string }, labelsFile: { bytes: Uint8Array; name: string }, expectedImageDims?: number[]) => {
    const images = decodeChecked(op, imagesFile, IDX_IMAGES_MAGIC, 'images (unsigned bytes, 3 dimensions)', gunzip);
    const labels = decodeChecked(op, labelsFile, IDX_LABELS_MAGIC, 'labels (unsigned bytes, 1 dimension)', gunzip);
    const imagesPath = imagesFile.name;
    const labelsPath = labelsFile.name;
    const [count, rows, cols] = images.dims;
    if (count === 0) throw new ValueError(op, `${imagesPath}: holds 0 images; a training or test set needs at least one`);
    if (rows === 0 || cols === 0) throw new ValueError(op, `${imagesPath}: images are ${rows}×${cols}, with no pixels`);
    if (labels.dims[0] !== count) {
      throw new ValueError(
        op,
        `image/label count mismatch: ${imagesPath} holds ${plural(count, 'image')} but ${labelsPath} holds ${plural(labels.dims[0], 'label')}`,
      );
    }
    if (expectedImageDims && (expectedImageDims[0] !== rows || expectedImageDims[1] !== cols)) {
      throw new ValueError(
        op,
        `${imagesPath}: images are ${rows}×${cols} but the training images are ${expectedImageDims[0]}×${expectedImageDims[1]}`,
      );
    }
    const values = labels.data as Uint8Array;
    for (let i = 0; i < values.length; i++) {
      if (values[i] >= classes) {
        throw new ValueError(op, `${labelsPath}: label ${values[i]} at index ${i} is not a class in [0, ${classes})`);
      }
    }
    return { split: splitFromExamples(images.data, rows * cols, values, classes, dtype, 255, { op, name: imagesPath }), dims: [rows, cols] };
  };
  const train = load(files.trainImages, files.trainLabels);
  const test = load(files.testImages, files.testLabels, train.dims);
  return { train: train.split, test: test.split };
}
