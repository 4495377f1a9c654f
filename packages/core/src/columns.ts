import { getBackend } from './backend/index.js';
import { type DType, type TypedArray, allocate, allocateForOverwrite } from './dtype.js';
import { DeviceTensorError, ShapeError, ValueError } from './errors.js';
import { adoptScratch, borrowScratch, returnScratch } from './memory.js';
import { Tensor, isTensor } from './tensor.js';

/*
 * The column gather every training loop over examples-as-columns data runs once a step:
 * @tapegrad/datasets' batches() and @tapegrad/nn's fit both use it (datasets re-exports it).
 */

/** Examples of the row-major copy a ColumnSampler's take reads together: see there. */
const SAMPLE_COLUMNS = 8;
/** Side of the square tiles columnSampler transposes x in. */
const TRANSPOSE_TILE = 32;
/**
 * Batches (rows × B values) below which prefetch does nothing. Measured on the native backend
 * (bench/src/prefetch-ab.ts, runs of 1,000–4,000 steps): T1's batch (784 × 64 = 50,176 values)
 * trains 1.22× faster gathered ahead, T3's (784 × 10 = 7,840) 6 % slower — its gather takes
 * ≈ 10 µs, and a step every 70 µs keeps the worker spinning beside the caller for the whole
 * run.
 */
const PREFETCH_MIN_VALUES = 16384;

/** Gathers batches of columns of one fixed matrix: see `columnSampler`. */
export interface ColumnSampler {
  /** The sampled matrix's [rows, N]. */
  readonly shape: readonly [number, number];
  readonly dtype: DType;
  /** Exactly `takeColumns(x, indices)` (same values, shape and dtype), from the row-major copy. */
  take(indices: ArrayLike<number>): Tensor;
  /**
   * Says that the next `take` will be `indices` (a training loop knows its next batch). On a
   * backend that can gather on another thread (`gatherColumnsAsync`: native, unless its
   * threads are 'off') that gather starts now, and the `take` then only waits for it: the
   * copy runs while the current step computes. Elsewhere, and for batches of fewer than
   * 16,384 values, it does nothing and `take` gathers as usual. A `take` of other indices
   * drops the prefetched batch and gathers its own: the values are exactly takeColumns'
   * either way. Checks the indices as take does.
   */
  prefetch(indices: ArrayLike<number>): void;
}

/**
 * For gathering many batches of columns from the same [rows, N] matrix `x`, as a training
 * loop does every step: `columnSampler(x).take(indices)` gives exactly what
 * `takeColumns(x, indices)` gives, several times faster.
 *
 * Memory: it builds, once, a row-major copy of x (examples as rows, [N, rows]) — one more
 * copy of x, e.g. 25 MB for MNIST's [784, 7996] float32 train split — and keeps it as long
 * as the sampler lives. It is a snapshot: later writes to x's data are not seen.
 *
 * Why: in x a column's values sit N values apart, each on its own cache line, so
 * takeColumns is bound by memory latency (≈ 0.5 ms per MNIST batch of 64). In the copy each
 * example is one contiguous run (3 KB for MNIST) that the hardware streams; the result,
 * [rows, B], is small enough to stay in cache while it is filled.
 */
export function columnSampler(x: Tensor): ColumnSampler {
  if (!isTensor(x) || x.rank !== 2) {
    throw new ShapeError('columnSampler', `expects a [rows, N] matrix${isTensor(x) ? `, got shape [${x.shape.join(',')}]` : ''}`);
  }
  onCpu('columnSampler', x);
  const [rows, n] = x.shape;
  const dtype = x.dtype;
  const source = x.data;
  const copy = dtype === 'float64' ? new Float64Array(rows * n) : new Float32Array(rows * n);
  // blocked transpose [rows, n] → [n, rows]: both sides of a tile stay in cache
  for (let r0 = 0; r0 < rows; r0 += TRANSPOSE_TILE) {
    const r1 = Math.min(rows, r0 + TRANSPOSE_TILE);
    for (let j0 = 0; j0 < n; j0 += TRANSPOSE_TILE) {
      const j1 = Math.min(n, j0 + TRANSPOSE_TILE);
      for (let r = r0; r < r1; r++) {
        for (let j = j0, from = r * n + j0, to = j0 * rows + r; j < j1; j++, from++, to += rows) copy[to] = source[from];
      }
    }
  }
  const check = (op: string, indices: ArrayLike<number>): void => {
    for (let k = 0; k < indices.length; k++) {
      const j = indices[k];
      if (!Number.isInteger(j) || j < 0 || j >= n) {
        throw new ValueError(op, `index ${j} at position ${k} is not a column of a [${rows},${n}] matrix`);
      }
    }
  };
  // the batch being gathered on another thread: its indices, its buffer (borrowed from the
  // pool, tracked by no scope until take hands it to a tensor) and the wait for it
  let ahead: { indices: Int32Array; out: TypedArray; wait: () => void } | null = null;
  const dropAhead = (): void => {
    if (ahead === null) return;
    const { out, wait } = ahead;
    ahead = null;
    wait();
    returnScratch(out);
  };
  const prefetch = (indices: ArrayLike<number>): void => {
    check('columnSampler.prefetch', indices);
    dropAhead();
    const backend = getBackend();
    if (backend.gatherColumnsAsync === undefined || rows * indices.length < PREFETCH_MIN_VALUES) return;
    const ids = Int32Array.from(indices);
    const out = borrowScratch(dtype, rows * ids.length);
    ahead = { indices: ids, out, wait: backend.gatherColumnsAsync(copy, rows, ids, out) };
  };
  const take = (indices: ArrayLike<number>): Tensor => {
    const b = indices.length;
    check('columnSampler.take', indices);
    if (ahead !== null) {
      const prefetched = ahead;
      let same = prefetched.indices.length === b;
      for (let k = 0; same && k < b; k++) same = prefetched.indices[k] === indices[k];
      if (same) {
        ahead = null;
        prefetched.wait();
        adoptScratch(prefetched.out);
        return new Tensor(prefetched.out, [rows, b], dtype);
      }
      dropAhead();
    }
    // every element is written below: a pool buffer inside a scope needs no zeroing
    const out = allocateForOverwrite(dtype, rows * b);
    const backend = getBackend();
    if (backend.gatherColumns !== undefined) {
      backend.gatherColumns(copy, rows, indices instanceof Int32Array ? indices : Int32Array.from(indices), out);
      return new Tensor(out, [rows, b], dtype);
    }
    const result = new Tensor(out, [rows, b], dtype);
    let k = 0;
    // SAMPLE_COLUMNS examples at a time: as many sequential streams read, each output row written in a run
    for (; k + SAMPLE_COLUMNS <= b; k += SAMPLE_COLUMNS) {
      const s0 = indices[k] * rows, s1 = indices[k + 1] * rows, s2 = indices[k + 2] * rows, s3 = indices[k + 3] * rows;
      const s4 = indices[k + 4] * rows, s5 = indices[k + 5] * rows, s6 = indices[k + 6] * rows, s7 = indices[k + 7] * rows;
      for (let r = 0, to = k; r < rows; r++, to += b) {
        out[to] = copy[s0 + r];
        out[to + 1] = copy[s1 + r];
        out[to + 2] = copy[s2 + r];
        out[to + 3] = copy[s3 + r];
        out[to + 4] = copy[s4 + r];
        out[to + 5] = copy[s5 + r];
        out[to + 6] = copy[s6 + r];
        out[to + 7] = copy[s7 + r];
      }
    }
    for (; k < b; k++) {
      const s = indices[k] * rows;
      for (let r = 0, to = k; r < rows; r++, to += b) out[to] = copy[s + r];
    }
    return result;
  };
  return { shape: [rows, n], dtype, take, prefetch };
}


/** Gathers batches of examples along axis 0 of one fixed tensor: see `rowSampler`. */
export interface RowSampler {
  /** The sampled tensor's [N, …]. */
  readonly shape: readonly number[];
  readonly dtype: DType;
  /** Examples `indices` of x, in that order: `[indices.length, …x.shape.slice(1)]` (NumPy's `take(x, indices, axis=0)`). */
  take(indices: ArrayLike<number>): Tensor;
}

/**
 * columnSampler's counterpart for examples on axis 0 (`[N, C, H, W]` images, `[N, T]`
 * sequences): `rowSampler(x).take(indices)` stacks the examples `x[indices[0]]`,
 * `x[indices[1]]`, … into `[B, …]`. Each example is already one contiguous run of x, so
 * there is no copy to build: take reads x's data as it is when called (not a snapshot).
 */
export function rowSampler(x: Tensor): RowSampler {
  if (!isTensor(x) || x.rank < 1) {
    throw new ShapeError('rowSampler', `expects a tensor [N, …] of rank ≥ 1${isTensor(x) ? `, got shape [${x.shape.join(',')}]` : ''}`);
  }
  onCpu('rowSampler', x);
  const n = x.shape[0];
  const rest = x.shape.slice(1);
  const rowSize = rest.reduce((a, b) => a * b, 1);
  const dtype = x.dtype;
  const take = (indices: ArrayLike<number>): Tensor => {
    const b = indices.length;
    const source = x.data;
    const out = allocate(dtype, rowSize * b);
    for (let k = 0; k < b; k++) {
      const j = indices[k];
      if (!Number.isInteger(j) || j < 0 || j >= n) {
        throw new ValueError('rowSampler.take', `index ${j} at position ${k} is not an example of a [${x.shape.join(',')}] tensor (axis 0 has ${n})`);
      }
      out.set(source.subarray(j * rowSize, (j + 1) * rowSize), k * rowSize);
    }
    return new Tensor(out, [b, ...rest], dtype);
  };
  return { shape: x.shape.slice(), dtype, take };
}

/** Samplers copy examples out of a dataset in memory: its values must be on the CPU (their batches then go to a device by the first op). */
function onCpu(op: string, x: Tensor): void {
  if (x.device !== 'cpu') {
    throw new DeviceTensorError(op, `the dataset [${x.shape.join(',')}] lives on the '${x.device}' device; keep datasets on the CPU (\`new Tensor(values, shape)\` is always a CPU tensor): each batch is uploaded by the op that reads it`);
  }
}
