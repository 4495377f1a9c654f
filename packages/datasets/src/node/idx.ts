import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { ValueError } from '@tapegrad/core';
import type { Dataset } from '../types.js';
import {
  FILE_NAMES, type IdxArray, type IdxDatasetOptions, type IdxFiles, type IdxType, type NamedIdxFiles, checkIdxOptions, decodeIdx, encodeIdx, idxDatasetOf,
} from '../idx.js';

/**
 * Decodes IDX bytes, gzipped or not (recognised by the gzip magic bytes 1f 8b, not by the
 * name). `source` names the file in error messages. Header and length are validated: the
 * data must be exactly as long as the dimensions say. Node's parseIdx: the universal one
 * refuses gzipped bytes, having no zlib.
 */
export function parseIdx(bytes: Uint8Array, source = 'IDX data', op = 'parseIdx'): IdxArray {
  return decodeIdx(bytes, source, op, gunzipSync);
}

/** Reads an IDX file, gzipped or not, validating its header and length (see `parseIdx`). */
export function readIdx(path: string): IdxArray {
  return decodeIdx(readFile(path, 'readIdx'), path, 'readIdx', gunzipSync);
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

/** Writes an IDX file; gzipped when `gzip` is set or, by default, when the path ends in `.gz`. */
export function writeIdx(
  path: string,
  array: { type?: IdxType; dims: readonly number[]; data: ArrayLike<number> },
  options: { gzip?: boolean } = {},
): void {
  const bytes = encodeIdx(array);
  writeFileSync(path, options.gzip ?? path.endsWith('.gz') ? gzipSync(bytes) : bytes);
}

function findFile(dir: string, base: string, listing: string[]): string {
  const dotted = base.replace(/-idx(\d)-ubyte$/, '.idx$1-ubyte');
  // uncompressed first: if both are present they hold the same data and reading is faster
  for (const name of [base, `${base}.gz`, dotted, `${dotted}.gz`]) {
    if (listing.includes(name)) return join(dir, name);
  }
  const found = listing.length > 0 ? `; the directory holds: ${listing.slice(0, 12).join(', ')}${listing.length > 12 ? ', …' : ''}` : '; the directory is empty';
  throw new ValueError('loadIdxDataset', `missing file ${base} (or ${base}.gz) in ${dir}${found}`);
}

/**
 * Loads MNIST-format data (MNIST, Fashion-MNIST, KMNIST…) from the four standard files in
 * `dir`, each gzipped or not: train-images-idx3-ubyte, train-labels-idx1-ubyte,
 * t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte. Pixels are scaled to [0, 1]; the result
 * has the layout of `loadMnist`: x [rows·cols, N], y one-hot [classes, N], labels.
 * Node only; `idxDataset` takes the four files' bytes anywhere.
 */
export function loadIdxDataset(dir: string, options: IdxDatasetOptions = {}): Dataset {
  const op = 'loadIdxDataset';
  checkIdxOptions(op, options);
  if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new ValueError(op, `${dir}: no such directory`);
  const listing = readdirSync(dir).sort();
  const keys = Object.keys(FILE_NAMES) as Array<keyof IdxFiles>;
  const paths = Object.fromEntries(keys.map((key) => [key, findFile(dir, FILE_NAMES[key], listing)])) as Record<keyof IdxFiles, string>;
  // all four found before any is read, as before; each read only when its split is built
  const files = Object.fromEntries(keys.map((key) => [key, { name: paths[key], get bytes() { return readFile(paths[key], op); } }])) as NamedIdxFiles;
  return idxDatasetOf(op, files, options, gunzipSync);
}
