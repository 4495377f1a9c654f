import { getBackend } from './backend/index.js';
import { type DType, type TypedArray, allocate, assertDType, dtypeOfArray } from './dtype.js';
import { ShapeError, ValueError, fmt } from './errors.js';
import { type Rng, createRng } from './random.js';
import { type Shape, checkShape, sizeOf } from './shape.js';
import { placed, stagingBuffer } from './storage.js';
import { type NestedArray, Tensor } from './tensor.js';

/** Options of tensor(): dtype and, for flat data, the shape. */
export interface TensorOptions {
  dtype?: DType;
  /** Required for flat data of more than one dimension; checked against nested data. */
  shape?: readonly number[];
  /** Makes the tensor a leaf whose gradient `backward()` collects into `.grad`. */
  requiresGrad?: boolean;
}

/** Options of the random creators (rand, randn): dtype, and a seed or generator. */
export interface RandomOptions {
  dtype?: DType;
  /** A seed or a generator to draw from; a seed makes the draw reproducible on its own. */
  seed?: number;
  rng?: Rng;
}

/**
 * The most elements one tensor may hold: V8 refuses typed arrays past 2³² − 1 elements, and
 * failing here names the op and the size instead of a bare RangeError from the allocator.
 */
export const MAX_TENSOR_ELEMENTS = 2 ** 32 - 1;

/**
 * A CPU buffer of `size` elements to build values in (pooled when they stay on the CPU, a
 * plain one when they are only staged for an upload), or a ValueError naming the op, the
 * shape and the bytes it would take.
 */
function storageFor(op: string, dtype: DType, shape: readonly number[], size: number, place = true): TypedArray {
  checkSize(op, dtype, shape, size);
  try {
    return place ? stagingBuffer(getBackend(), dtype, size) : allocate(dtype, size);
  } catch (error) {
    if (error instanceof RangeError) throw new ValueError(op, `${describeSize(dtype, shape, size)}, more than this process can allocate (${error.message})`);
    throw error;
  }
}

function describeSize(dtype: DType, shape: readonly number[], size: number): string {
  const bytes = size * (dtype === 'float64' ? 8 : 4);
  return `${fmt(shape)} of ${dtype} holds ${size.toLocaleString('en-US')} elements (${(bytes / 2 ** 30).toFixed(1)} GiB)`;
}

/** A ValueError naming the op, the shape and the bytes, for more elements than one tensor may hold. */
function checkSize(op: string, dtype: DType, shape: readonly number[], size: number): void {
  if (size > MAX_TENSOR_ELEMENTS) throw new ValueError(op, `${describeSize(dtype, shape, size)}; a tensor holds at most ${MAX_TENSOR_ELEMENTS.toLocaleString('en-US')} elements`);
}

/**
 * A tensor of values built on the CPU, where the active backend keeps memory: uploaded to its
 * device if it has one (the placement rule of every creation function and of the constants
 * ops build), else adopting `data` as it is.
 */
export function placedTensor(data: TypedArray, shape: Shape, dtype: DType): Tensor {
  return new Tensor(placed(getBackend(), data), shape, dtype);
}

function finish(data: TypedArray, shape: Shape, dtype: DType, options: TensorOptions | undefined): Tensor {
  const t = placedTensor(data, shape, dtype);
  if (options?.requiresGrad) t.requireGrad();
  return t;
}

/** A value for a message; JSON.stringify throws on a bigint, so never let describing an error raise another. */
function describeValue(value: unknown): string {
  if (typeof value === 'bigint') return `${value}n`;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return Object.prototype.toString.call(value);
  }
}

/** Walks nested arrays: infers the shape from the first element at each depth, rejects ragged rows and non-numbers. */
function flattenNested(value: NestedArray): { shape: number[]; values: number[] } {
  if (typeof value === 'number') return { shape: [], values: [value] };
  const shape: number[] = [];
  for (let probe: NestedArray = value; Array.isArray(probe); probe = (probe as readonly NestedArray[])[0]) {
    shape.push((probe as readonly NestedArray[]).length);
    if ((probe as readonly NestedArray[]).length === 0) break;
  }
  const values: number[] = [];
  const visit = (node: NestedArray, depth: number, path: number[]): void => {
    if (depth === shape.length) {
      if (Array.isArray(node)) {
        throw new ValueError('tensor', `ragged nested array: expected a number at [${path.join('][')}], found an array (inferred shape ${fmt(shape)})`);
      }
      // not raggedness: the nesting fits, one leaf is simply not a number
      if (typeof node !== 'number') {
        const kind = node === null ? 'null' : `${typeof node} (${describeValue(node)})`;
        throw new ValueError('tensor', `element [${path.join('][')}] is ${kind}, not a number`);
      }
      values.push(node);
      return;
    }
    if (!Array.isArray(node)) {
      throw new ValueError('tensor', `ragged nested array: expected an array of length ${shape[depth]} at ${path.length ? `[${path.join('][')}]` : 'the top level'}, found ${typeof node}`);
    }
    if (node.length !== shape[depth]) {
      throw new ValueError('tensor', `ragged nested array: row [${path.join('][')}] has length ${node.length}, expected ${shape[depth]} (inferred shape ${fmt(shape)})`);
    }
    for (let i = 0; i < node.length; i++) visit(node[i], depth + 1, [...path, i]);
  };
  visit(value, 0, []);
  return { shape, values };
}

/**
 * Creates a tensor from nested arrays, a flat typed or plain array (with `shape`), or a
 * number. The data is copied, so later changes to the source do not leak in.
 *
 * ```ts
 * tensor([[1, 2], [3, 4]])                      // float32 [2,2]
 * tensor([1, 2, 3, 4], { shape: [2, 2], dtype: 'float64' })
 * ```
 */
export function tensor(data: NestedArray | TypedArray | ArrayLike<number>, options?: TensorOptions): Tensor {
  return build(data, options, true);
}

/** @internal tensor() kept on the CPU whatever the backend: values core itself reads (indices). */
export function cpuTensor(data: NestedArray | TypedArray | ArrayLike<number>, options?: TensorOptions): Tensor {
  return build(data, options, false);
}

function build(data: NestedArray | TypedArray | ArrayLike<number>, options: TensorOptions | undefined, place: boolean): Tensor {
  let dtype: DType = options?.dtype !== undefined ? assertDType('tensor', options.dtype) : 'float32';
  let shape: number[];
  let values: ArrayLike<number>;
  if (data instanceof Float32Array || data instanceof Float64Array) {
    if (options?.dtype === undefined) dtype = dtypeOfArray(data);
    values = data;
    shape = options?.shape ? checkShape('tensor', options.shape) : [data.length];
  } else if (typeof data === 'number' || Array.isArray(data)) {
    const flat = flattenNested(data as NestedArray);
    values = flat.values;
    shape = flat.shape;
    if (options?.shape) {
      const wanted = checkShape('tensor', options.shape);
      const flatInput = shape.length <= 1;
      if (!flatInput && fmt(wanted) !== fmt(shape)) {
        throw new ShapeError('tensor', `nested data has shape ${fmt(shape)} but shape ${fmt(wanted)} was given`);
      }
      shape = wanted;
    }
  } else if (data !== null && typeof data === 'object' && typeof (data as ArrayLike<number>).length === 'number') {
    const { length } = data as ArrayLike<number>;
    if (!Number.isSafeInteger(length) || length < 0) throw new ValueError('tensor', `an array-like's length must be a non-negative integer, got ${String(length)}`);
    values = data as ArrayLike<number>;
    shape = options?.shape ? checkShape('tensor', options.shape) : [values.length];
  } else {
    throw new ValueError('tensor', `cannot make a tensor from ${data === null ? 'null' : typeof data}`);
  }
  if (sizeOf(shape) !== values.length) {
    throw new ShapeError('tensor', `${values.length} values do not fill shape ${fmt(shape)} (${sizeOf(shape)} elements)`);
  }
  const storage = storageFor('tensor', dtype, shape, values.length, place);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (typeof v !== 'number') throw new ValueError('tensor', `element ${i} is ${typeof v}, not a number`);
    storage[i] = v;
  }
  if (!place) return new Tensor(storage, shape, dtype);
  return finish(storage, shape, dtype, options);
}

/** A rank-0 tensor. */
export function scalar(value: number, dtype: DType = 'float32'): Tensor {
  return tensor(value, { dtype });
}

/** A tensor of `shape` with every element `value`. */
export function full(shape: Shape, value: number, options?: Omit<TensorOptions, 'shape'>): Tensor {
  return filled('full', shape, value, options);
}

function filled(op: string, shape: Shape, value: number, options?: Omit<TensorOptions, 'shape'>): Tensor {
  const memory = getBackend().memory;
  if (value === 0 && memory !== undefined) {
    // zeros on a device: zeroed device memory, nothing to upload
    const dims = checkShape(op, shape);
    const dtype = assertDType(op, options?.dtype ?? 'float32');
    const size = sizeOf(dims);
    checkSize(op, dtype, dims, size);
    const t = new Tensor(memory.allocate(dtype, size, true), dims, dtype);
    if (options?.requiresGrad) t.requireGrad();
    return t;
  }
  const { data, dims } = filledValues(op, shape, value, options?.dtype);
  return finish(data, dims, dtypeOfArray(data), options);
}

/** The CPU values of `filled`, every element `value`, and the checked shape. */
function filledValues(op: string, shape: Shape, value: number, dtypeOption: DType | undefined): { data: TypedArray; dims: number[] } {
  const dims = checkShape(op, shape);
  const dtype = assertDType(op, dtypeOption ?? 'float32');
  if (typeof value !== 'number') throw new ValueError(op, `the fill value must be a number, got ${typeof value}`);
  const data = storageFor(op, dtype, dims, sizeOf(dims));
  if (value !== 0) data.fill(value);
  return { data, dims };
}

/** A tensor of `shape` filled with zeros. */
export function zeros(shape: Shape, options?: Omit<TensorOptions, 'shape'>): Tensor {
  return filled('zeros', shape, 0, options);
}

/** A tensor of `shape` filled with ones. */
export function ones(shape: Shape, options?: Omit<TensorOptions, 'shape'>): Tensor {
  return filled('ones', shape, 1, options);
}

/** Zeros of `t`'s shape and dtype. */
export function zerosLike(t: Tensor): Tensor {
  return zeros(t.shape, { dtype: t.dtype });
}

/** Ones of `t`'s shape and dtype. */
export function onesLike(t: Tensor): Tensor {
  return ones(t.shape, { dtype: t.dtype });
}

/** The n×m identity (m defaults to n). */
export function eye(n: number, m: number = n, options?: Omit<TensorOptions, 'shape'>): Tensor {
  const { data, dims } = filledValues('eye', [n, m], 0, options?.dtype);
  for (let i = 0; i < Math.min(n, m); i++) data[i * m + i] = 1;
  return finish(data, dims, dtypeOfArray(data), options);
}

/** start, start+step, … up to but excluding stop, as a rank-1 tensor. */
export function arange(start: number, stop?: number, step = 1, options?: Omit<TensorOptions, 'shape'>): Tensor {
  if (stop === undefined) [start, stop] = [0, start];
  if (!Number.isFinite(start) || !Number.isFinite(stop) || !Number.isFinite(step) || step === 0) {
    throw new ValueError('arange', `needs finite start, stop and a non-zero step, got ${start}, ${stop}, ${step}`);
  }
  const n = Math.max(0, Math.ceil((stop - start) / step));
  const dtype = assertDType('arange', options?.dtype ?? 'float32');
  const data = storageFor('arange', dtype, [n], n);
  for (let i = 0; i < n; i++) data[i] = start + i * step;
  return finish(data, [n], dtype, options);
}

function rngOf(op: string, options: RandomOptions | undefined): Rng {
  if (options?.rng) return options.rng;
  if (options?.seed === undefined) {
    throw new ValueError(op, 'needs a seed or an rng: tapegrad never draws unseeded randomness');
  }
  // mulberry32 keeps the low 32 bits of an integer; anything else would be coerced (NaN and
  // 'abc' to seed 0, 1.5 to 1) and quietly repeat another seed's numbers
  const { seed } = options;
  if (typeof seed !== 'number' || !Number.isSafeInteger(seed)) {
    throw new ValueError(op, `seed must be an integer, got ${typeof seed === 'string' ? `'${seed}'` : String(seed)}`);
  }
  return createRng(seed);
}

function finiteOption(op: string, name: string, value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValueError(op, `${name} must be a finite number, got ${String(value)}`);
  return value;
}

/** Uniform samples in [min, max), drawn row-major from a seeded generator. */
export function rand(shape: Shape, options: RandomOptions & { min?: number; max?: number }): Tensor {
  const rng = rngOf('rand', options);
  const min = finiteOption('rand', 'min', options.min ?? 0);
  const max = finiteOption('rand', 'max', options.max ?? 1);
  if (min > max) throw new ValueError('rand', `min ${min} is greater than max ${max}`);
  const dtype = assertDType('rand', options.dtype ?? 'float32');
  const { data, dims } = filledValues('rand', shape, 0, dtype);
  for (let i = 0; i < data.length; i++) data[i] = min + (max - min) * rng.next();
  return placedTensor(data, dims, dtype);
}

/** Normal samples (mean, std), drawn row-major from a seeded generator. */
export function randn(shape: Shape, options: RandomOptions & { mean?: number; std?: number }): Tensor {
  const rng = rngOf('randn', options);
  const mean = finiteOption('randn', 'mean', options.mean ?? 0);
  const std = finiteOption('randn', 'std', options.std ?? 1);
  if (std < 0) throw new ValueError('randn', `std must be ≥ 0, got ${std}`);
  const dtype = assertDType('randn', options.dtype ?? 'float32');
  const { data, dims } = filledValues('randn', shape, 0, dtype);
  for (let i = 0; i < data.length; i++) data[i] = mean + std * rng.normal();
  return placedTensor(data, dims, dtype);
}
