import { type DType, DTypeError, type Tensor, type TypedArray, ValueError, oneHot, zeros } from '@tapegrad/core';

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
 * `tensor(typedArray)` would copy the data once more, which for MNIST is tens of MB.
 */
export function blank(shape: number[], dtype: DType): { tensor: Tensor; data: TypedArray } {
  const t = zeros(shape, { dtype });
  return { tensor: t, data: t.data };
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
    y: oneHot(labels, classes, { classAxis: 'first', dtype }),
    labels,
  };
}
