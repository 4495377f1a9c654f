import { type DType, DTypeError, ShapeError, Tensor, ValueError } from '@tapegrad/core';
import { type Module, type NamedParameters, modelState } from './module.js';
import { emitWarning } from './warn.js';

/**
 * Model parameters on disk, in the safetensors format, so a file written here opens in
 * Python (`safetensors.numpy.load_file`, `safetensors.torch.load_file`) and vice versa:
 *
 *     bytes 0..8        N, the header's length in bytes: an unsigned 64-bit little-endian integer
 *     bytes 8..8+N      the header: UTF-8 JSON, padded with spaces to a multiple of 8 bytes
 *     bytes 8+N..end    the data: each tensor's values, row-major, little-endian, back to back
 *
 * The header maps each parameter's name to where its values lie in the data section, and
 * may hold free-form string metadata:
 *
 *     { "0.W": { "dtype": "F32", "shape": [4, 2], "data_offsets": [0, 32] },
 *       "0.b": { "dtype": "F32", "shape": [4, 1], "data_offsets": [32, 48] },
 *       "__metadata__": { "epochs": "20" } }
 *
 * Offsets count from the start of the data section. tapegrad writes F32 (float32) and F64
 * (float64), the two dtypes it has. Reading applies the reference implementation's rules:
 * the tensors, sorted by offset, tile the data section exactly (no gaps, no overlaps, nothing
 * left over), each spans shape × dtype-size bytes, and the header is at most 100 MB.
 *
 * Why not a package: the npm registry has no maintained safetensors reader/writer (the
 * `safetensors` package there is a single 0.0.1 release), and the format is about a hundred
 * lines to read and write; writing it here also lets every check name the file and the tensor.
 */

/** Free-form metadata stored in the header's `__metadata__`: strings only, as the format requires. */
export type SafetensorsMetadata = Record<string, string>;

const HEADER_LENGTH_BYTES = 8;
/** The reference implementation refuses larger headers; so do we, before allocating one. */
const MAX_HEADER_BYTES = 100_000_000;
const METADATA_KEY = '__metadata__';

const FORMAT_DTYPES: Record<DType, 'F32' | 'F64'> = { float32: 'F32', float64: 'F64' };
const BYTES_PER_ELEMENT: Record<DType, number> = { float32: 4, float64: 8 };
/** Every dtype the format defines, so an unsupported one is named as such rather than as garbage. */
const KNOWN_FORMAT_DTYPES = new Set([
  'BOOL', 'U8', 'I8', 'F8_E5M2', 'F8_E4M3', 'F8_E8M0', 'F4', 'F6_E2M3', 'F6_E3M2',
  'I16', 'U16', 'F16', 'BF16', 'I32', 'U32', 'F32', 'F64', 'I64', 'U64', 'C64',
]);

const LITTLE_ENDIAN_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function dtypeOfFormat(name: string): DType | undefined {
  return name === 'F32' ? 'float32' : name === 'F64' ? 'float64' : undefined;
}

function shapeText(shape: readonly number[]): string {
  return `[${shape.join(',')}]`;
}

/** The values' bytes in little-endian order, whatever the host's byte order. */
function littleEndianBytes(t: Tensor): Uint8Array {
  const data = t.data;
  if (LITTLE_ENDIAN_HOST) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  const out = new Uint8Array(data.byteLength);
  const view = new DataView(out.buffer);
  if (t.dtype === 'float64') for (let i = 0; i < data.length; i++) view.setFloat64(8 * i, data[i], true);
  else for (let i = 0; i < data.length; i++) view.setFloat32(4 * i, data[i], true);
  return out;
}

function valuesFromLittleEndian(bytes: Uint8Array, dtype: DType): Float32Array | Float64Array {
  const count = bytes.byteLength / BYTES_PER_ELEMENT[dtype];
  if (LITTLE_ENDIAN_HOST) {
    // a copy at offset 0: the file's buffer may not be aligned to the element size
    const own = bytes.slice();
    return dtype === 'float64' ? new Float64Array(own.buffer, 0, count) : new Float32Array(own.buffer, 0, count);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === 'float64') {
    const out = new Float64Array(count);
    for (let i = 0; i < count; i++) out[i] = view.getFloat64(8 * i, true);
    return out;
  }
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = view.getFloat32(4 * i, true);
  return out;
}

function checkMetadata(op: string, metadata: unknown, where: string): SafetensorsMetadata {
  if (metadata === undefined) return {};
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata)) {
    throw new ValueError(op, `${where}metadata must be an object of strings, got ${Array.isArray(metadata) ? 'an array' : typeof metadata}`);
  }
  for (const [key, value] of Object.entries(metadata)) {
    if (typeof value !== 'string') {
      throw new ValueError(op, `${where}metadata '${key}' is ${typeof value}, not a string: the format stores string values only (JSON.stringify others)`);
    }
  }
  return { ...(metadata as SafetensorsMetadata) };
}

/**
 * The parameters (and optional string metadata) as the bytes of a safetensors file.
 * Tensors are laid out widest dtype first, as the reference writer does, so that with the
 * header padded to 8 bytes every tensor starts aligned to its element size.
 */
export function serializeParameters(parameters: NamedParameters, metadata?: SafetensorsMetadata): Uint8Array {
  const op = 'serializeParameters';
  const meta = checkMetadata(op, metadata, '');
  const entries = Object.entries(parameters);
  for (const [name, t] of entries) {
    if (name === METADATA_KEY) throw new ValueError(op, `'${METADATA_KEY}' is reserved by the format and cannot name a parameter`);
    if (!(t instanceof Tensor)) throw new ValueError(op, `parameter '${name}' is ${typeof t}, not a Tensor`);
  }
  const ordered = entries
    .map((entry, index) => ({ entry, index }))
    .sort((a, b) => BYTES_PER_ELEMENT[b.entry[1].dtype] - BYTES_PER_ELEMENT[a.entry[1].dtype] || a.index - b.index)
    .map(({ entry }) => entry);

  const header: Record<string, unknown> = {};
  if (Object.keys(meta).length > 0) header[METADATA_KEY] = meta;
  let offset = 0;
  for (const [name, t] of ordered) {
    const end = offset + t.data.byteLength;
    header[name] = { dtype: FORMAT_DTYPES[t.dtype], shape: [...t.shape], data_offsets: [offset, end] };
    offset = end;
  }
  const json = new TextEncoder().encode(JSON.stringify(header));
  const headerLength = Math.ceil(json.byteLength / 8) * 8;
  const out = new Uint8Array(HEADER_LENGTH_BYTES + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(json, HEADER_LENGTH_BYTES);
  out.fill(0x20, HEADER_LENGTH_BYTES + json.byteLength, HEADER_LENGTH_BYTES + headerLength);
  let position = HEADER_LENGTH_BYTES + headerLength;
  for (const [, t] of ordered) {
    out.set(littleEndianBytes(t), position);
    position += t.data.byteLength;
  }
  return out;
}

/** Options of deserializeParameters, restoreParameters and deserializeModel. */
export interface DeserializeOptions {
  /** Names the bytes' origin in error messages (a file path, a URL). */
  source?: string;
}

/** The contents of a safetensors file: its tensors, in header order, and its metadata. */
export interface DeserializedParameters {
  parameters: NamedParameters;
  metadata: SafetensorsMetadata;
}

interface Entry {
  name: string;
  dtype: DType;
  shape: number[];
  start: number;
  end: number;
}

function isNonNegativeInteger(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

/**
 * Reads the bytes of a safetensors file into new tensors, after checking all of it: the
 * length prefix, the header's JSON, every entry's dtype, shape and offsets, and that the
 * tensors tile the data section exactly. Throws ValueError (layout), DTypeError (a dtype
 * tapegrad lacks) naming the source and the tensor; returns nothing partial.
 */
export function deserializeParameters(bytes: Uint8Array, options: DeserializeOptions = {}): DeserializedParameters {
  return parse('deserializeParameters', bytes, options.source);
}

function parse(op: string, bytes: Uint8Array, source: string | undefined): DeserializedParameters {
  const where = source === undefined ? '' : `${source}: `;
  const fail = (detail: string) => new ValueError(op, `${where}${detail}`);
  if (!(bytes instanceof Uint8Array)) throw new ValueError(op, `expects a Uint8Array, got ${typeof bytes}`);
  if (bytes.byteLength < HEADER_LENGTH_BYTES) {
    throw fail(`${bytes.byteLength} bytes is too short for a safetensors file, which starts with an 8-byte header length`);
  }
  const declared = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getBigUint64(0, true);
  const available = bytes.byteLength - HEADER_LENGTH_BYTES;
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw fail(`header length ${declared} exceeds the format's limit of ${MAX_HEADER_BYTES} bytes (not a safetensors file, or a corrupt one)`);
  }
  const headerLength = Number(declared);
  if (headerLength > available) {
    throw fail(`header length ${headerLength} runs past the end of the file: only ${available} bytes follow the length prefix (truncated?)`);
  }
  if (headerLength === 0) throw fail('header length is 0; the header must be a JSON object');

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(HEADER_LENGTH_BYTES, HEADER_LENGTH_BYTES + headerLength));
  } catch {
    throw fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw fail(`header must be a JSON object, got ${Array.isArray(header) ? 'an array' : header === null ? 'null' : typeof header}`);
  }

  let metadata: SafetensorsMetadata = {};
  const entries: Entry[] = [];
  for (const [name, info] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      metadata = checkMetadata(op, info ?? undefined, where);
      continue;
    }
    const bad = (detail: string) => fail(`tensor '${name}': ${detail}`);
    if (typeof info !== 'object' || info === null || Array.isArray(info)) throw bad('entry must be an object with dtype, shape and data_offsets');
    const { dtype, shape, data_offsets: offsets, ...rest } = info as Record<string, unknown>;
    const extra = Object.keys(rest);
    if (extra.length > 0) throw bad(`unexpected field${extra.length > 1 ? 's' : ''} ${extra.map((k) => `'${k}'`).join(', ')}; an entry has dtype, shape and data_offsets`);
    if (typeof dtype !== 'string') throw bad(`dtype must be a string such as "F32", got ${JSON.stringify(dtype)}`);
    const ours = dtypeOfFormat(dtype);
    if (ours === undefined) {
      throw new DTypeError(op, `${where}tensor '${name}': dtype ${JSON.stringify(dtype)} is ${KNOWN_FORMAT_DTYPES.has(dtype) ? 'a safetensors dtype tapegrad does not support' : 'not a safetensors dtype'}; tapegrad reads F32 and F64`);
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) throw bad(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger)) {
      throw bad(`data_offsets must be [start, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
    }
    const [start, end] = offsets as number[];
    if (end < start) throw bad(`data_offsets [${start}, ${end}] end before they start`);
    const expected = shape.reduce((n: number, d: number) => n * d, 1) * BYTES_PER_ELEMENT[ours];
    if (end - start !== expected) {
      throw bad(`data_offsets [${start}, ${end}] span ${end - start} bytes, but shape ${shapeText(shape)} of ${dtype} needs ${expected}`);
    }
    entries.push({ name, dtype: ours, shape, start, end });
  }

  // the reference rule: sorted by offset, the tensors tile the data section from 0 to its end
  const dataLength = available - headerLength;
  const byOffset = [...entries].sort((a, b) => a.start - b.start || a.end - b.end);
  let covered = 0;
  let previous: Entry | undefined;
  for (const e of byOffset) {
    if (e.end > dataLength) {
      throw fail(`tensor '${e.name}': data_offsets [${e.start}, ${e.end}] run past the data section, which holds ${dataLength} bytes (truncated?)`);
    }
    if (e.start < covered) throw fail(`tensor '${e.name}': data_offsets [${e.start}, ${e.end}] overlap tensor '${previous!.name}' [${previous!.start}, ${previous!.end}]`);
    if (e.start > covered) throw fail(`tensor '${e.name}': data_offsets start at ${e.start}, leaving bytes ${covered}..${e.start} unaccounted for; tensors must be back to back`);
    covered = e.end;
    previous = e;
  }
  if (covered !== dataLength) {
    throw fail(`the tensors cover ${covered} bytes of data but ${dataLength} follow the header (trailing garbage?)`);
  }

  const dataStart = HEADER_LENGTH_BYTES + headerLength;
  const parameters: NamedParameters = {};
  for (const e of entries) {
    const values = valuesFromLittleEndian(bytes.subarray(dataStart + e.start, dataStart + e.end), e.dtype);
    // defineProperty, not assignment: a tensor named '__proto__' must stay a plain entry
    Object.defineProperty(parameters, e.name, { value: new Tensor(values, e.shape, e.dtype), enumerable: true, writable: true, configurable: true });
  }
  return { parameters, metadata };
}

/**
 * Copies `parameters` into the model's own parameter and buffer tensors (with assign), after
 * checking that the names are exactly the model's (parameters and buffers) and every shape and dtype agrees: all or nothing,
 * so on any error the model keeps its values. Errors name the source and the tensor.
 */
export function restoreParameters(model: Module, parameters: NamedParameters, options: DeserializeOptions = {}): void {
  apply('restoreParameters', model, parameters, options.source);
}

function apply(op: string, model: Module, parameters: NamedParameters, source: string | undefined): void {
  const where = source === undefined ? '' : `${source}: `;
  const own = modelState(model);
  const ownNames = Object.keys(own);
  const missing = ownNames.filter((n) => !Object.hasOwn(parameters, n));
  const extra = Object.keys(parameters).filter((n) => !Object.hasOwn(own, n));
  if (missing.length > 0 || extra.length > 0) {
    const parts = [
      missing.length > 0 ? `missing ${missing.map((n) => `'${n}'`).join(', ')}` : '',
      extra.length > 0 ? `unexpected ${extra.map((n) => `'${n}'`).join(', ')}` : '',
    ].filter(Boolean);
    throw new ValueError(op, `${where}parameter names differ from the model's (${parts.join('; ')}); the model has ${ownNames.map((n) => `'${n}'`).join(', ')}`);
  }
  for (const name of ownNames) {
    const target = own[name];
    const value = parameters[name];
    if (value.shape.length !== target.shape.length || value.shape.some((d, i) => d !== target.shape[i])) {
      throw new ShapeError(op, `${where}tensor '${name}' has shape ${shapeText(value.shape)} but the model's is ${shapeText(target.shape)}`);
    }
    if (value.dtype !== target.dtype) {
      throw new DTypeError(op, `${where}tensor '${name}' is ${FORMAT_DTYPES[value.dtype]} (${value.dtype}) but the model's is ${FORMAT_DTYPES[target.dtype]} (${target.dtype})`);
    }
  }
  for (const name of ownNames) own[name].assign(parameters[name]);
}

/** Options of saveModel and serializeModel. */
export interface SaveOptions {
  /** Write parameters holding NaN or ±∞ anyway (a diverged model, kept to be inspected). Default false. */
  allowNonFinite?: boolean;
}

/** The names of parameters holding a NaN or ±∞, each with its first such value and index. */
export function nonFiniteParameters(parameters: NamedParameters): Array<{ name: string; index: number; value: number }> {
  const found: Array<{ name: string; index: number; value: number }> = [];
  for (const [name, t] of Object.entries(parameters)) {
    const d = t.data;
    for (let i = 0; i < d.length; i++) {
      if (!Number.isFinite(d[i])) {
        found.push({ name, index: i, value: d[i] });
        break;
      }
    }
  }
  return found;
}

function describeNonFinite(found: ReturnType<typeof nonFiniteParameters>): string {
  return found.map(({ name, index, value }) => `'${name}' (${value} at element ${index})`).join(', ');
}

/**
 * The model's parameters and buffers (BatchNorm's running statistics) as the bytes of a
 * safetensors file, each under its name (`0.W`, `1.runningMean`): what saveModel writes, for
 * any place bytes can go (a download, IndexedDB, a request body). Parameters holding NaN or
 * ±∞ (a diverged run) are refused with a ValueError naming them, unless `{ allowNonFinite: true }`.
 */
export function serializeModel(model: Module, metadata?: SafetensorsMetadata, options: SaveOptions = {}): Uint8Array {
  return modelBytes('serializeModel', model, metadata, options, undefined);
}

/** serializeModel's work, with the op and the destination (a path) its errors name. */
export function modelBytes(op: string, model: Module, metadata: SafetensorsMetadata | undefined, options: SaveOptions, destination: string | undefined): Uint8Array {
  const parameters = modelState(model);
  if (options.allowNonFinite !== true) {
    const found = nonFiniteParameters(parameters);
    if (found.length > 0) {
      const where = destination === undefined ? '' : `${destination}: not written: `;
      throw new ValueError(op, `${where}parameters ${describeNonFinite(found)} are not finite (training diverged?); pass { allowNonFinite: true } to save them anyway`);
    }
  }
  return serializeParameters(parameters, metadata);
}

/** Options of loadModel and deserializeModel. */
export interface LoadOptions {
  /**
   * Called with a message when the file's parameters hold NaN or ±∞ (the model still loads,
   * to be inspected). Default: a warning naming the parameters (process.emitWarning in Node,
   * console.warn elsewhere).
   */
  onNonFinite?: (message: string) => void;
}

/**
 * Reads the bytes of a safetensors file (from serializeModel, saveModel or Python's
 * safetensors) into the model's parameters and buffers, in place, and returns the file's
 * metadata: loadModel for bytes you fetched or stored yourself. Everything is checked before
 * the model is touched (see loadModel); each error names `options.source` when given.
 */
export function deserializeModel(model: Module, bytes: Uint8Array, options: LoadOptions & DeserializeOptions = {}): SafetensorsMetadata {
  return restoreModel('deserializeModel', model, bytes, options.source, options.onNonFinite);
}

/** deserializeModel's work, with the op and the source its errors name. */
export function restoreModel(op: string, model: Module, bytes: Uint8Array, source: string | undefined, onNonFinite?: (message: string) => void): SafetensorsMetadata {
  const { parameters, metadata } = parse(op, bytes, source);
  apply(op, model, parameters, source);
  warnNonFinite(op, source, parameters, onNonFinite);
  return metadata;
}

/** Warns (once per call) when loaded parameters hold NaN or ±∞: such a model predicts nothing useful. */
export function warnNonFinite(op: string, source: string | undefined, parameters: NamedParameters, onNonFinite?: (message: string) => void): void {
  const found = nonFiniteParameters(parameters);
  if (found.length === 0) return;
  const message = `${op}: ${source === undefined ? '' : `${source}: `}parameters ${describeNonFinite(found)} are not finite; the model was saved from a diverged run`;
  if (onNonFinite) onNonFinite(message);
  else emitWarning(message, 'TAPEGRAD_NON_FINITE');
}
