import { getBackend } from '../backend/index.js';
import { placedTensor } from '../creation.js';
import type { DType } from '../dtype.js';
import { DeviceTensorError, ValueError } from '../errors.js';
import { stagingBuffer } from '../storage.js';
import { Tensor } from '../tensor.js';

/** Options of oneHot: dtype and where the class axis goes. */
export interface OneHotOptions {
  dtype?: DType;
  /**
   * Where the class axis goes. 'last' (default) gives [n, depth] as in NumPy and TF;
   * 'first' gives [depth, n], the examples-as-columns layout of the seeds: column m is
   * example m's target.
   */
  classAxis?: 'last' | 'first';
}

/**
 * One-hot encodes integer class labels. A constant: labels are data, not parameters, so
 * there is nothing to differentiate. Out-of-range or non-integer labels are errors. Built
 * on the CPU from CPU labels (labels on a device are a DeviceTensorError) and placed on the
 * active backend's device if it has one.
 */
export function oneHot(labels: ArrayLike<number> | Tensor, depth: number, options: OneHotOptions = {}): Tensor {
  if (!Number.isInteger(depth) || depth <= 0) throw new ValueError('oneHot', `depth must be a positive integer, got ${depth}`);
  if (labels instanceof Tensor && labels.device !== 'cpu') {
    throw new DeviceTensorError('oneHot', `the labels [${labels.shape.join(',')}] live on the '${labels.device}' device; pass CPU labels (read them with \`await labels.dataAsync()\`)`);
  }
  const values = labels instanceof Tensor ? labels.data : labels;
  if (labels instanceof Tensor && labels.rank > 1) throw new ValueError('oneHot', `expects a rank-1 tensor of labels, got shape [${labels.shape.join(',')}]`);
  const n = values.length;
  const dtype = options.dtype ?? 'float32';
  const first = options.classAxis === 'first';
  const data = stagingBuffer(getBackend(), dtype, n * depth);
  for (let i = 0; i < n; i++) {
    const label = values[i];
    if (!Number.isInteger(label) || label < 0 || label >= depth) {
      throw new ValueError('oneHot', `label ${label} at index ${i} is not an integer in [0, ${depth})`);
    }
    data[first ? label * n + i : i * depth + label] = 1;
  }
  return placedTensor(data, first ? [depth, n] : [n, depth], dtype);
}
