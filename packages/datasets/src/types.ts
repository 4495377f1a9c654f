import { type DType, DTypeError, Tensor, type TypedArray, ValueError, oneHot } from '@tapegrad/core';

/**
 * One split of a labelled data set, examples as columns: `x` is [features, N], `y` is the
 * target matrix ([classes, N] one-hot for MNIST, [1, N] for the binary toy sets) and
 * `labels[m]` is example m's class.
 */
export interface LabelledSplit {
  x: Tensor;
  y: Tensor;
  labels: Uint8Array;
}

/** A train/test pair, as `loadMnist` and `loadIdxDataset` return it. */
export interface Dataset {
  train: LabelledSplit;
  test: LabelledSplit;
}

/** The dtype of the tensors a loader returns (float32 unless given). */
export interface DTypeOptions {
  dtype?: DType;
}

export function checkDType(op: string, dtype: unknown): DType {
  if (dtype !== 'float32' && dtype !== 'float64') {
    throw new DTypeError(op, `unknown dtype ${String(dtype)}: expected 'float32' or 'float64'`);
  }
  return dtype;
}

/**
 * A new zero tensor and its storage, for the caller to fill before anyone else sees it:
 * `tensor(typedArray)` would copy the data once more, which for MNIST is tens of MB. Always
 * on the CPU, whatever the backend: a dataset is read by the batch samplers there (and a GPU
 * backend uploads each batch), so loading after `initWebGpuBackend()` works too.
 */
export function blank(shape: number[], dtype: DType): { tensor: Tensor; data: TypedArray } {
  const size = shape.reduce((n, d) => n * d, 1);
  const data = dtype === 'float64' ? new Float64Array(size) : new Float32Array(size);
  return { tensor: new Tensor(data, shape, dtype), data };
}

/**
 * core's `oneHot` (classes along the first axis, its checks and messages), kept on the CPU
 * as {@link blank} keeps x: on a GPU backend `oneHot` would place its result on the device.
 */
export function oneHotOnCpu(labels: ArrayLike<number>, classes: number, dtype: DType): Tensor {
  const y = oneHot(labels, classes, { classAxis: 'first', dtype });
  if (y.device === 'cpu') return y;
  const { tensor, data } = blank([classes, labels.length], dtype);
  for (let m = 0; m < labels.length; m++) data[labels[m] * labels.length + m] = 1;
  return tensor;
}

/**
 * Builds a split from example-major pixels (example m's `features` values are contiguous,
 * as in the JSON and IDX files) by transposing into the examples-as-columns layout.
 * Each stored value is divided by `divisor` (255 for IDX bytes, so 255 becomes exactly 1).
 * A NaN or ±∞ among the values is refused with the example and feature index: one of them
 * would silently poison every weight it meets in training.
 */
export function splitFromExamples(
  pixels: ArrayLike<number>,
  features: number,
  labels: Uint8Array,
  classes: number,
  dtype: DType,
  divisor = 1,
  source: { op: string; name: string } = { op: 'splitFromExamples', name: 'the data' },
): LabelledSplit {
  const n = labels.length;
  const { tensor: x, data } = blank([features, n], dtype);
  for (let m = 0; m < n; m++) {
    const from = m * features;
    for (let p = 0; p < features; p++) {
      const v = pixels[from + p] / divisor;
      if (!Number.isFinite(v) || (dtype === 'float32' && !Number.isFinite(Math.fround(v)))) {
        throw new ValueError(source.op, `${source.name}: example ${m}, feature ${p} is ${pixels[from + p]}${Number.isFinite(pixels[from + p]) ? ` (${v} overflows ${dtype})` : ''}; examples must be finite numbers`);
      }
      data[p * n + m] = v;
    }
  }
  return {
    x,
    y: oneHotOnCpu(labels, classes, dtype),
    labels,
  };
}
