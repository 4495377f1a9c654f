import { type Rng, ShapeError, type Tensor, ValueError, columnSampler, createRng, isTensor, shuffleInPlace } from '@tapegrad/core';
import { blank } from './types.js';

/** A seeded generator: core's `Rng` or a bare uniform source such as `mulberry32(42)`. */
export type RandomSource = Rng | (() => number);

function toRng(source: RandomSource): Rng {
  if (typeof source !== 'function') return source;
  return {
    next: source,
    normal() {
      const u1 = source();
      const u2 = source();
      return Math.sqrt(-2 * Math.log(1 - u1)) * Math.cos(2 * Math.PI * u2);
    },
  };
}

/**
 * One epoch's order, as BENCH-PROTOCOL.md fixes it: the identity permutation of 0..n−1,
 * Fisher–Yates'd from i = n−1 down to 1 with j = floor(rng()·(i+1)). Call it once per
 * epoch with the same generator, so its state carries from epoch to epoch.
 */
export function epochOrder(n: number, rng: RandomSource): Int32Array {
  if (!Number.isInteger(n) || n < 0 || n > 0x7fffffff) throw new ValueError('epochOrder', `n must be a non-negative integer, got ${n}`);
  const order = new Int32Array(n);
  for (let i = 0; i < n; i++) order[i] = i;
  shuffleInPlace(order, toRng(rng));
  return order;
}

/** Rows of `x` gathered together by takeColumns: see there. */
const GATHER_ROWS = 16;

/**
 * Gathers columns of a [rows, N] matrix into a new [rows, B] tensor of the same dtype:
 * column b of the result is column `indices[b]` of `x`.
 *
 * Every value read sits on its own cache line (an MNIST column is 784 values N floats
 * apart), so this is bound by memory latency, not arithmetic. Reading row by row (64
 * scattered reads in each 32 KB row) ran at ≈ 2 ms per T1 batch; walking each column down
 * a block of GATHER_ROWS rows gives the hardware a constant stride to prefetch and ran
 * ≈ 3× faster (measured on the benchmark's machines, 8–64 rows alike). Same values.
 */
export function takeColumns(x: Tensor, indices: ArrayLike<number>): Tensor {
  if (x.rank !== 2) throw new ShapeError('takeColumns', `expects a [rows, N] matrix, got shape [${x.shape.join(',')}]`);
  const [rows, n] = x.shape;
  const b = indices.length;
  for (let k = 0; k < b; k++) {
    const j = indices[k];
    if (!Number.isInteger(j) || j < 0 || j >= n) {
      throw new ValueError('takeColumns', `index ${j} at position ${k} is not a column of a [${rows},${n}] matrix`);
    }
  }
  const source = x.data;
  const { tensor: result, data: out } = blank([rows, b], x.dtype);
  for (let r0 = 0; r0 < rows; r0 += GATHER_ROWS) {
    const r1 = Math.min(rows, r0 + GATHER_ROWS);
    let k = 0;
    // four columns at a time: four independent misses in flight per row (≈ 25 % faster)
    for (; k + 3 < b; k += 4) {
      const j0 = indices[k], j1 = indices[k + 1], j2 = indices[k + 2], j3 = indices[k + 3];
      for (let r = r0, from = r0 * n, to = r0 * b + k; r < r1; r++, from += n, to += b) {
        out[to] = source[from + j0];
        out[to + 1] = source[from + j1];
        out[to + 2] = source[from + j2];
        out[to + 3] = source[from + j3];
      }
    }
    for (; k < b; k++) {
      for (let r = r0, from = r0 * n + indices[k], to = r0 * b + k; r < r1; r++, from += n, to += b) out[to] = source[from];
    }
  }
  return result;
}

// columnSampler (the fast repeated column gather batches() uses) lives in core, where nn's fit
// uses it too; it is re-exported from this package's index as before.

/** What `batches` slices: examples as columns of `x` and, optionally, of `y` and `labels`. */
export interface BatchSource {
  x: Tensor;
  y?: Tensor;
  labels?: Uint8Array;
}

/** Options of batches: size, shuffling and its generator, epochs, whether to drop a short last batch. */
export interface BatchOptions {
  batchSize: number;
  /** Shuffle each epoch (default true); needs `rng` or `seed`. false: examples in order. */
  shuffle?: boolean;
  /** The generator whose state carries across epochs and across calls. */
  rng?: RandomSource;
  /** Shorthand for `rng: createRng(seed)`. */
  seed?: number;
  /** How many epochs to run through (default 1); the generator's state carries across them. */
  epochs?: number;
  /** Skip a short last batch (default false: the last batch of an epoch may be short). */
  dropLast?: boolean;
}

/** One mini-batch: `y` and `labels` are present exactly when the source has them. */
export type Batch<D extends BatchSource = BatchSource> = {
  x: Tensor;
  /** The source columns this batch holds, in batch order. */
  indices: Int32Array;
  /** 0-based epoch and batch-within-epoch. */
  epoch: number;
  step: number;
} & (D extends { y: Tensor } ? { y: Tensor } : { y?: Tensor }) &
  (D extends { labels: Uint8Array } ? { labels: Uint8Array } : { labels?: Uint8Array });

/**
 * Mini-batches in the benchmark protocol's order: per epoch, a fresh `epochOrder` from the
 * one generator, cut into consecutive slices of `batchSize` (the last may be short). Each
 * batch handed out names the next one of its epoch to the column samplers (`prefetch`): on a
 * backend that gathers on another thread (native) the next batch is copied while the caller
 * trains on this one, as in nn's `fit`.
 *
 * ```ts
 * for (const { x, y } of batches(train, { batchSize: 64, seed: 42, epochs: 5 })) step(x, y);
 * ```
 */
export function batches<D extends BatchSource>(data: D, options: BatchOptions): Generator<Batch<D>, void, undefined> {
  const { batchSize, shuffle = true, epochs = 1, dropLast = false } = options;
  const n = checkSource(data);
  if (!Number.isInteger(batchSize) || batchSize < 1) throw new ValueError('batches', `batchSize must be a positive integer, got ${batchSize}`);
  if (!Number.isInteger(epochs) || epochs < 0) throw new ValueError('batches', `epochs must be a non-negative integer, got ${epochs}`);
  if (options.rng !== undefined && options.seed !== undefined) throw new ValueError('batches', 'pass a seed or an rng, not both');
  let rng: RandomSource | undefined;
  if (shuffle) {
    if (options.rng === undefined && options.seed === undefined) {
      throw new ValueError('batches', 'shuffling needs a seed or an rng (tapegrad never draws unseeded randomness); pass shuffle: false for the stored order');
    }
    rng = options.rng ?? createRng(options.seed!);
  }
  // checked above, on the call: a generator body would only run at the first next()
  return generate(data, n, batchSize, epochs, dropLast, rng);
}

function* generate<D extends BatchSource>(
  data: D,
  n: number,
  batchSize: number,
  epochs: number,
  dropLast: boolean,
  rng: RandomSource | undefined,
): Generator<Batch<D>, void, undefined> {
  // every batch gathers from the same x and y: sample them from row-major copies (one more copy of each)
  const xs = columnSampler(data.x);
  const ys = data.y ? columnSampler(data.y) : undefined;
  try {
    for (let epoch = 0; epoch < epochs; epoch++) {
      const order = rng ? epochOrder(n, rng) : Int32Array.from({ length: n }, (_, i) => i);
      const end = dropLast ? n - (n % batchSize) : n;
      for (let start = 0, step = 0; start < end; start += batchSize, step++) {
        const indices = order.slice(start, Math.min(start + batchSize, n));
        const batch: BatchSource & { indices: Int32Array; epoch: number; step: number } = {
          x: xs.take(indices),
          indices,
          epoch,
          step,
        };
        if (ys) batch.y = ys.take(indices);
        if (data.labels) {
          const labels = new Uint8Array(indices.length);
          for (let k = 0; k < indices.length; k++) labels[k] = data.labels[indices[k]];
          batch.labels = labels;
        }
        // The next batch of this epoch is known now: where the backend can (native), it is
        // gathered on another thread while the caller trains on this one, as fit does. Not
        // across epochs: the next order would draw from rng before the caller's own draws.
        const next = start + batchSize;
        if (next < end) {
          const nextIndices = order.subarray(next, Math.min(next + batchSize, n));
          xs.prefetch(nextIndices);
          ys?.prefetch(nextIndices);
        }
        yield batch as Batch<D>;
      }
    }
  } finally {
    // a loop that stops early (break, a throw) leaves no gather running into a buffer nobody takes
    xs.prefetch(NO_COLUMNS);
    ys?.prefetch(NO_COLUMNS);
  }
}

/** prefetch(NO_COLUMNS) waits for and drops a pending prefetch (no batch that small is gathered ahead). */
const NO_COLUMNS = new Int32Array(0);

/** How many batches one epoch of `n` examples gives. */
export function batchCount(n: number, batchSize: number, dropLast = false): number {
  return dropLast ? Math.floor(n / batchSize) : Math.ceil(n / batchSize);
}

function checkSource(data: BatchSource): number {
  if (!isTensor(data?.x) || data.x.rank !== 2) {
    throw new ShapeError('batches', `expects x as a [features, N] matrix${isTensor(data?.x) ? `, got shape [${data.x.shape.join(',')}]` : ''}`);
  }
  const n = data.x.shape[1];
  if (data.y !== undefined && (data.y.rank !== 2 || data.y.shape[1] !== n)) {
    throw new ShapeError('batches', `y of shape [${data.y.shape.join(',')}] does not have the N = ${n} columns of x [${data.x.shape.join(',')}]`);
  }
  if (data.labels !== undefined && data.labels.length !== n) {
    throw new ShapeError('batches', `${data.labels.length} labels for the N = ${n} columns of x`);
  }
  return n;
}
