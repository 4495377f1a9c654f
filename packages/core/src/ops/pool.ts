import type { ConvGeometry } from '../backend/backend.js';
import { getBackend } from '../backend/index.js';
import { placedTensor } from '../creation.js';
import type { DType } from '../dtype.js';
import { ShapeError, ValueError, fmt } from '../errors.js';
import { type OpDef, apply, assertTensor, defineOp } from '../op.js';
import { sizeOf } from '../shape.js';
import { outputStorage, stagingBuffer } from '../storage.js';
import type { Tensor } from '../tensor.js';
import { div } from './arithmetic.js';
import { type Size2, geometry, imageShape, pair, unfoldWith, windowOf } from './conv.js';
import { reshape } from './layout.js';
import { matmul, matmulT } from './matmul.js';
import { mean, sum } from './reduce.js';

/**
 * Pooling over images [N, C, H, W]. avgPool2d is a composite: the windows come from
 * `unfold` (the im2col primitive of ops/conv.ts) and the pool is a mean over the window
 * axis, so its gradients are unfold's and the reduction's, to any order. maxPool2d is a
 * primitive with a pair of linear companions (below): one pass over the image forward and
 * one backward, where the composite (unfold, max, and max's VJP of a mask, a tie count and
 * a broadcast, then fold) took seven.
 */

/** Options of {@link maxPool2d}. */
export interface MaxPool2dOptions {
  kernelSize: Size2;
  /** Default: the kernel size (windows side by side). */
  stride?: Size2;
  /** Default 0; reads as −∞, and at most half the kernel size (as PyTorch requires). */
  padding?: Size2;
  /** Default 1. */
  dilation?: Size2;
}

/** Options of {@link avgPool2d}. */
export interface AvgPool2dOptions {
  kernelSize: Size2;
  /** Default: the kernel size. */
  stride?: Size2;
  /** Default 0; at most half the kernel size. */
  padding?: Size2;
  /** Default true (PyTorch's): padding counts in the divisor, every window divides by kH·kW. */
  countIncludePad?: boolean;
}

/** The pool's window geometry, with PyTorch's bound on the padding checked. */
function poolGeometry(op: string, x: Tensor, options: MaxPool2dOptions | AvgPool2dOptions, dilation: Size2 | undefined): ConvGeometry {
  assertTensor(op, x);
  imageShape(op, x);
  if (options === null || typeof options !== 'object') throw new ValueError(op, `expects options { kernelSize, … }, got ${String(options)}`);
  const [kH, kW] = pair(op, 'kernelSize', options.kernelSize, NaN, 1);
  const [padH, padW] = pair(op, 'padding', options.padding, 0, 0);
  if (2 * padH > kH || 2 * padW > kW) {
    throw new ValueError(op, `padding [${padH},${padW}] must be at most half the kernel size [${kH},${kW}]`);
  }
  const win = windowOf(op, { kernelSize: [kH, kW], stride: options.stride, dilation, padding: [padH, padW] }, [kH, kW]);
  const g = geometry(op, x.shape, win, fmt(x.shape));
  // with dilation a window can skip over the whole image and read only padding: its max
  // would be −∞ (and NaN downstream), so refuse it
  for (const [axis, out, stride, pad, k, d, size] of [
    ['row', g.outH, g.strideH, g.padH, g.kH, g.dilationH, g.H], ['column', g.outW, g.strideW, g.padW, g.kW, g.dilationW, g.W],
  ] as const) {
    for (let o = 0; o < out; o++) {
      let inside = false;
      for (let i = 0; i < k && !inside; i++) inside = o * stride - pad + i * d >= 0 && o * stride - pad + i * d < size;
      if (!inside) throw new ShapeError(op, `the window at output ${axis} ${o} reads only padding (kernel ${kH}×${kW}, dilation [${g.dilationH},${g.dilationW}], padding [${padH},${padW}]): ${fmt(x.shape)}`);
    }
  }
  return g;
}

// ---- max-pooling: a primitive and its two linear companions ------------------------------
// maxPool2d(x) picks each window's maximum. Its VJP sends dy to the window's maximal
// elements (ties share equally): maxPoolScatter(dy; x), linear in dy. That one's adjoint in
// dy is maxPoolGather(v; x) (each window's Σ v·(1/t) over its ties), and gather's is scatter
// again, so every order of derivative is these two. x only says where the maxima are: a
// piecewise-constant choice, so neither companion has a gradient in x.

function pooledShape(g: ConvGeometry): number[] {
  return [g.N, g.C, g.outH, g.outW];
}

function checkImage(op: string, shape: readonly number[], g: ConvGeometry, what: string): void {
  const want = [g.N, g.C, g.H, g.W];
  if (shape.length !== 4 || shape.some((d, i) => d !== want[i])) throw new ShapeError(op, `expects ${what} [${want.join(',')}], got ${fmt(shape)}`);
}

type PoolAttrs = { geometry: ConvGeometry };

export const maxPoolOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPool2d',
  shape([x], { geometry: g }) {
    checkImage('maxPool2d', x, g, 'an image');
    return pooledShape(g);
  },
  forward(backend, [x], _shapes, outShape, dtype, { geometry }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.maxPool(x, geometry, out);
    return out;
  },
  // only each window's maximum moves its output: dy goes there, ties sharing it equally
  vjp: (dy, { inputs: [x], attrs: { geometry } }) => [() => apply(maxPoolScatterOp, [dy, x], { geometry })],
});

export const maxPoolScatterOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPoolScatter',
  shape([dy, x], { geometry: g }) {
    const pooled = pooledShape(g);
    if (dy.length !== 4 || dy.some((d, i) => d !== pooled[i])) throw new ShapeError('maxPoolScatter', `expects a gradient [${pooled.join(',')}], got ${fmt(dy)}`);
    checkImage('maxPoolScatter', x, g, 'an image');
    return [g.N, g.C, g.H, g.W];
  },
  forward(backend, [dy, x], _shapes, outShape, dtype, { geometry }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.maxPoolScatter(dy, x, geometry, out);
    return out;
  },
  // linear in dy, whose adjoint is the gather; the choice of maxima is constant in x
  vjp: (g, { inputs: [, x], attrs: { geometry } }) => [() => apply(maxPoolGatherOp, [g, x], { geometry }), null],
});

export const maxPoolGatherOp: OpDef<PoolAttrs> = defineOp<PoolAttrs>({
  name: 'maxPoolGather',
  shape([v, x], { geometry: g }) {
    checkImage('maxPoolGather', v, g, 'values');
    checkImage('maxPoolGather', x, g, 'an image');
    return pooledShape(g);
  },
  forward(backend, [v, x], _shapes, outShape, dtype, { geometry }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.maxPoolGather(v, x, geometry, out);
    return out;
  },
  // linear in v, whose adjoint is the scatter; constant in x as above
  vjp: (g, { inputs: [, x], attrs: { geometry } }) => [() => apply(maxPoolScatterOp, [g, x], { geometry }), null],
});

/**
 * The windows of x as [N, C, kH·kW, outH·outW]: each window's values down axis 2. unfold's
 * rows run channel-major, so splitting them into [C, kH·kW] keeps each channel's window together.
 */
function windows(x: Tensor, g: ConvGeometry, padValue: number): Tensor {
  return reshape(unfoldWith(x, g, padValue), [g.N, g.C, g.kH * g.kW, g.outH * g.outW]);
}

/**
 * 2-D max pooling, PyTorch's `max_pool2d` (no ceil mode, no indices): x [N, C, H, W] →
 * [N, C, outH, outW], the maximum of each kH×kW window; padding reads as −∞, so it never wins.
 *
 * Gradient: within a window, ties share it equally (the rule of {@link max}); PyTorch
 * gives all of it to the first maximal element in the window's row-major order. The two
 * agree wherever a window's maximum is unique (almost surely, for real-valued inputs); an
 * element that is the maximum of several overlapping windows receives the sum from each.
 * NaN propagates.
 */
export function maxPool2d(x: Tensor, options: MaxPool2dOptions): Tensor {
  const g = poolGeometry('maxPool2d', x, options, options?.dilation);
  return apply(maxPoolOp, [x], { geometry: g });
}

/** How many of a window's rows (or columns) fall inside the image, per output position. */
function insideCounts(outSize: number, stride: number, pad: number, kernel: number, size: number): number[] {
  return Array.from({ length: outSize }, (_, o) => {
    const start = o * stride - pad;
    return Math.min(start + kernel, size) - Math.max(start, 0);
  });
}

function constant(dtype: DType, shape: readonly number[], values: ArrayLike<number>): Tensor {
  const data = stagingBuffer(getBackend(), dtype, values.length);
  data.set(values as ArrayLike<number>);
  return placedTensor(data, shape, dtype);
}

/**
 * 2-D average pooling, PyTorch's `avg_pool2d` (no ceil mode): x [N, C, H, W] → [N, C, outH,
 * outW], the mean of each kH×kW window. Padding reads 0 and, by default (countIncludePad,
 * PyTorch's default), counts in the divisor; with `countIncludePad: false` each window
 * divides by the number of its elements inside the image.
 */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  const g = poolGeometry('avgPool2d', x, options, 1);
  const ww = windows(x, g, 0);
  let y: Tensor;
  if (options.countIncludePad ?? true) y = mean(ww, 2);
  else {
    const rows = insideCounts(g.outH, g.strideH, g.padH, g.kH, g.H);
    const cols = insideCounts(g.outW, g.strideW, g.padW, g.kW, g.W);
    const counts = rows.flatMap((r) => cols.map((c) => r * c));
    y = div(sum(ww, 2), constant(x.dtype, [g.outH * g.outW], counts));
  }
  return reshape(y, [g.N, g.C, g.outH, g.outW]);
}

/**
 * The averaging matrix [out, size] of an adaptive pool along one axis: row i averages
 * input positions ⌊i·size/out⌋ to ⌈(i + 1)·size/out⌉ − 1 (PyTorch's rule).
 */
function averagingMatrix(dtype: DType, out: number, size: number): Tensor {
  const values = new Float64Array(out * size);
  for (let i = 0; i < out; i++) {
    const start = Math.floor((i * size) / out), end = Math.ceil(((i + 1) * size) / out);
    for (let h = start; h < end; h++) values[i * size + h] = 1 / (end - start);
  }
  return constant(dtype, [out, size], values);
}

/**
 * PyTorch's `adaptive_avg_pool2d`: x [N, C, H, W] → [N, C, outH, outW] for any output size,
 * output row i averaging input rows ⌊i·H/outH⌋ to ⌈(i + 1)·H/outH⌉ − 1 (and the columns
 * alike), so windows may differ in size by one and overlap. `outputSize` 1 is the global
 * average pool. Computed as A_H · x · A_Wᵀ with constant averaging matrices.
 */
export function adaptiveAvgPool2d(x: Tensor, outputSize: Size2): Tensor {
  const op = 'adaptiveAvgPool2d';
  assertTensor(op, x);
  imageShape(op, x);
  const [outH, outW] = pair(op, 'outputSize', outputSize, NaN, 1);
  const [, , H, W] = x.shape;
  if (H === 0 || W === 0) throw new ShapeError(op, `cannot average an empty image ${fmt(x.shape)}`);
  if (outH === 1 && outW === 1) return mean(x, [2, 3], true);
  const rowsAveraged = matmul(averagingMatrix(x.dtype, outH, H), x);
  return matmulT(rowsAveraged, averagingMatrix(x.dtype, outW, W), false, true);
}
