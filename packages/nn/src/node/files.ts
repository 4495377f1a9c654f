import { readFile } from 'node:fs/promises';
import { ValueError } from '@tapegrad/core';
import type { Module } from '../module.js';
import { type LoadOptions, type SafetensorsMetadata, type SaveOptions, modelBytes, restoreModel } from '../serialize.js';
import { writeFileAtomic } from './atomic.js';

/**
 * Writes the model's parameters and buffers (BatchNorm's running statistics) to `path` as
 * safetensors, each under its name (`0.W`, `1.runningMean`). Atomic: the bytes go to a
 * temporary file in the same directory, which is flushed to disk (fsync) and then renamed
 * over `path`, so a crash leaves either the old file or the new one, never half of one.
 * The temporary file is removed if anything fails. Parameters holding NaN or ±∞ (a diverged
 * run) are refused with a ValueError naming them, unless `{ allowNonFinite: true }`; a file
 * system error (a missing directory, a full disk) is a ValueError naming the path.
 * Node only (`@tapegrad/nn/node`); serializeModel gives the same bytes anywhere.
 */
export async function saveModel(model: Module, path: string, metadata?: SafetensorsMetadata, options: SaveOptions = {}): Promise<void> {
  const bytes = modelBytes('saveModel', model, metadata, options, path);
  try {
    await writeFileAtomic(path, bytes);
  } catch (error) {
    throw fileError('saveModel', path, error, 'write');
  }
}

/** A file system error as a ValueError naming the op and the path (ENOENT, EISDIR, ENOSPC…); anything else as it is. */
export function fileError(op: string, path: string, error: unknown, verb: 'read' | 'write'): unknown {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code !== 'string') return error;
  const reasons: Record<string, string> = {
    ENOENT: verb === 'read' ? 'no such file' : 'its directory does not exist',
    EISDIR: 'is a directory, not a file',
    ENOTDIR: 'a part of the path is not a directory',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    ENOSPC: 'no space left on the device',
    EDQUOT: 'disk quota exceeded',
    EROFS: 'read-only file system',
    EMFILE: 'too many open files',
    ENAMETOOLONG: 'the name is too long',
    EIO: 'input/output error',
  };
  const reason = reasons[code] ?? `${(error as Error).message}`;
  return new ValueError(op, `${path}: cannot ${verb}: ${reason} (${code})`);
}

/**
 * Reads a safetensors file written by saveModel (or by Python's safetensors) into the
 * model's parameters and buffers, in place, and returns the file's metadata. Everything is checked
 * before the model is touched: a truncated or corrupt file, an unsupported dtype, missing
 * or extra names, a shape or dtype that differs from the model's. Each error names the
 * file and the tensor, and leaves the model as it was. Node only (`@tapegrad/nn/node`);
 * deserializeModel reads the same bytes anywhere.
 */
export async function loadModel(model: Module, path: string, options: LoadOptions = {}): Promise<SafetensorsMetadata> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw fileError('loadModel', path, error, 'read');
  }
  return restoreModel('loadModel', model, new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path, options.onNonFinite);
}
