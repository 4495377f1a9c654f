import type { ConvGeometry } from '../backend/backend.js';
import { outputStorage } from '../storage.js';
import { ShapeError, ValueError, fmt } from '../errors.js';
import { type OpDef, apply, assertTensor, defineOp } from '../op.js';
import { type Shape, sameShape, sizeOf } from '../shape.js';
import type { Tensor } from '../tensor.js';
import { add } from './arithmetic.js';
import { reshape } from './layout.js';
import { matmul, matmulT } from './matmul.js';

/**
 * Convolutions, as PyTorch lays them out (images [N, C, H, W], kernels [O, C/groups, kH, kW]),
 * built from two linear primitives: `unfold` (im2col: every receptive field becomes a
 * column) and `fold` (col2im: columns are added back into an image). Each is the other's
 * adjoint, so each one's VJP is the other, and a convolution is unfold followed by a batched
 * matmul: its input gradient fold(Wᵀ·dY), its kernel gradient Σₙ dY·unfold(x)ᵀ and every
 * higher derivative come from matmul's and these two VJPs, with no convolution-specific
 * calculus to get wrong.
 */

/** A size per spatial axis: one number for both, or [height, width]. */
export type Size2 = number | readonly [number, number];

/** Padding of a convolution: per axis, or 'valid' (none) or 'same' (output size = input size; stride 1 only). */
export type Padding2 = Size2 | 'valid' | 'same';

// ---- the geometry of the windows -------------------------------------------------------

/** `value` as a [height, width] pair of integers ≥ `min`, or a ValueError naming the option. */
export function pair(op: string, name: string, value: Size2 | undefined, fallback: number, min: number): [number, number] {
  const v = value === undefined ? fallback : value;
  const both: readonly unknown[] = typeof v === 'number' ? [v, v] : Array.isArray(v) ? v : [v];
  if (both.length !== 2 || both.some((d) => typeof d !== 'number' || !Number.isInteger(d) || d < min)) {
    const shown = Array.isArray(value) ? `[${value.join(',')}]` : String(value);
    throw new ValueError(op, `${name} must be ${min === 1 ? 'a positive' : 'a non-negative'} integer or a [height, width] pair of them, got ${shown}`);
  }
  return [both[0] as number, both[1] as number];
}

export interface ConvWindow {
  kH: number; kW: number;
  strideH: number; strideW: number;
  dilationH: number; dilationW: number;
  padding: Padding2 | undefined;
}

/**
 * Where the windows fall on an [N, C, H, W] image, or a ShapeError naming the op and
 * `shapes` (the user's operands, e.g. "[2,3,7,6] * [5,3,3,3]"). 'same' puts the odd pixel
 * of an even effective kernel at the bottom and right, as PyTorch does.
 */
export function geometry(op: string, [N, C, H, W]: Shape, win: ConvWindow, shapes: string): ConvGeometry {
  const { kH, kW, strideH, strideW, dilationH, dilationW, padding } = win;
  const extentH = dilationH * (kH - 1) + 1, extentW = dilationW * (kW - 1) + 1;
  let padH: number, padW: number, outH: number, outW: number;
  if (padding === 'same') {
    if (strideH !== 1 || strideW !== 1) throw new ValueError(op, `padding 'same' needs stride 1, got stride [${strideH},${strideW}]`);
    padH = Math.floor((extentH - 1) / 2);
    padW = Math.floor((extentW - 1) / 2);
    outH = H;
    outW = W;
  } else {
    [padH, padW] = padding === 'valid' ? [0, 0] : pair(op, 'padding', padding, 0, 0);
    if (H + 2 * padH < extentH || W + 2 * padW < extentW) {
      const dilated = dilationH > 1 || dilationW > 1 ? ` (dilated ${extentH}×${extentW})` : '';
      throw new ShapeError(op, `the kernel ${kH}×${kW}${dilated} is larger than the padded input ${H + 2 * padH}×${W + 2 * padW}: ${shapes}`);
    }
    outH = Math.floor((H + 2 * padH - extentH) / strideH) + 1;
    outW = Math.floor((W + 2 * padW - extentW) / strideW) + 1;
  }
  return { N, C, H, W, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH, outW };
}

/** unfold's output: [N, C·kH·kW, L] per image, or one matrix [C·kH·kW, N·L] when batched. */
function unfoldedShape(g: ConvGeometry, batched: boolean): Shape {
  const K = g.C * g.kH * g.kW, L = g.outH * g.outW;
  return batched ? [K, g.N * L] : [g.N, K, L];
}

// ---- the two primitives ----------------------------------------------------------------

interface UnfoldAttrs {
  geometry: ConvGeometry;
  padValue: number;
  /** The columns as one matrix [C·kH·kW, N·L] (conv2d's layout: one product for the batch) instead of [N, C·kH·kW, L]. */
  batched: boolean;
}

export const unfoldOp = defineOp<UnfoldAttrs>({
  name: 'unfold',
  shape([x], { geometry: g, batched }) {
    if (!sameShape(x, [g.N, g.C, g.H, g.W])) throw new ShapeError('unfold', `expects an image [${g.N},${g.C},${g.H},${g.W}], got ${fmt(x)}`);
    return unfoldedShape(g, batched);
  },
  forward(backend, [x], _shapes, outShape, dtype, { geometry, padValue, batched }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.unfold(x, geometry, padValue, out, batched);
    return out;
  },
  // unfold copies each pixel into the columns that read it, so its adjoint adds each
  // column entry back onto its pixel: fold. A pad value is a constant and gets nothing.
  vjp: (dy, { attrs: { geometry, batched } }) => [() => foldWith(dy, geometry, batched)],
});

export const foldOp = defineOp<{ geometry: ConvGeometry; batched: boolean }>({
  name: 'fold',
  shape([cols], { geometry: g, batched }) {
    if (!sameShape(cols, unfoldedShape(g, batched))) throw new ShapeError('fold', `expects columns ${fmt(unfoldedShape(g, batched))}, got ${fmt(cols)}`);
    return [g.N, g.C, g.H, g.W];
  },
  forward(backend, [cols], _shapes, outShape, dtype, { geometry, batched }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.fold(cols, geometry, out, batched);
    return out;
  },
  // fold is linear and unfold's transpose, so its adjoint is unfold (padding reads 0)
  vjp: (dy, { attrs: { geometry, batched } }) => [() => unfoldWith(dy, geometry, 0, batched)],
});

// ---- the batched product's layout and the image's -----------------------------------------
// conv2d's product gives [O, N·L] (a row per output channel, the batch's windows along it);
// the image layout is [N, O, outH, outW]. Moving between them is one transpose each way; as
// two primitives (each the other's adjoint) the reshapes around the transpose cost no copies.

interface ChannelsAttrs {
  N: number;
  O: number;
  outH: number;
  outW: number;
}

/** [O, N·L] → [N, O, outH, outW]. */
export const channelsToImagesOp: OpDef<ChannelsAttrs> = defineOp<ChannelsAttrs>({
  name: 'channelsToImages',
  shape([rows], { N, O, outH, outW }) {
    if (!sameShape(rows, [O, N * outH * outW])) throw new ShapeError('channelsToImages', `expects [${O},${N * outH * outW}], got ${fmt(rows)}`);
    return [N, O, outH, outW];
  },
  forward(backend, [rows], _shapes, outShape, dtype, { N, O, outH, outW }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.transpose(rows, [O, N, outH * outW], [1, 0, 2], out);
    return out;
  },
  // a permutation of the elements: its adjoint is the inverse permutation
  vjp: (dy, { attrs }) => [() => apply(imagesToChannelsOp, [dy], attrs)],
});

/** [N, O, outH, outW] → [O, N·L]: channelsToImages's inverse and adjoint. */
export const imagesToChannelsOp: OpDef<ChannelsAttrs> = defineOp<ChannelsAttrs>({
  name: 'imagesToChannels',
  shape([images], { N, O, outH, outW }) {
    if (!sameShape(images, [N, O, outH, outW])) throw new ShapeError('imagesToChannels', `expects [${N},${O},${outH},${outW}], got ${fmt(images)}`);
    return [O, N * outH * outW];
  },
  forward(backend, [images], _shapes, outShape, dtype, { N, O, outH, outW }) {
    const out = outputStorage(backend, dtype, sizeOf(outShape), false);
    backend.transpose(images, [N, O, outH * outW], [1, 0, 2], out);
    return out;
  },
  vjp: (dy, { attrs }) => [() => apply(channelsToImagesOp, [dy], attrs)],
});

/** unfold for a geometry already computed and checked (the composites and the VJPs). */
export function unfoldWith(x: Tensor, geometry: ConvGeometry, padValue = 0, batched = false): Tensor {
  return apply(unfoldOp, [x], { geometry, padValue, batched });
}

/** fold for a geometry already computed and checked (the composites and the VJPs). */
export function foldWith(cols: Tensor, geometry: ConvGeometry, batched = false): Tensor {
  return apply(foldOp, [cols], { geometry, batched });
}

export function imageShape(op: string, x: Tensor, what = 'an image [N, C, H, W]'): void {
  if (x.rank !== 4) throw new ShapeError(op, `expects ${what}, got ${fmt(x.shape)}`);
}

/** Options of {@link unfold}, PyTorch's `F.unfold`. */
export interface UnfoldOptions {
  kernelSize: Size2;
  /** Default 1. */
  stride?: Size2;
  /** Default 0; 'valid' is 0, 'same' keeps H×W (stride 1). */
  padding?: Padding2;
  /** Default 1. */
  dilation?: Size2;
}

export function windowOf(op: string, opts: { kernelSize: Size2; stride?: Size2; dilation?: Size2; padding?: Padding2 }, defaultStride?: [number, number]): ConvWindow {
  const [kH, kW] = pair(op, 'kernelSize', opts?.kernelSize, NaN, 1);
  const [strideH, strideW] = opts.stride === undefined && defaultStride ? defaultStride : pair(op, 'stride', opts.stride, 1, 1);
  const [dilationH, dilationW] = pair(op, 'dilation', opts.dilation, 1, 1);
  return { kH, kW, strideH, strideW, dilationH, dilationW, padding: opts.padding };
}

/**
 * im2col, PyTorch's `F.unfold`: the sliding kH×kW windows of an image x [N, C, H, W] as
 * columns, [N, C·kH·kW, L] with L = outH·outW windows in row-major order; row
 * (c·kH + i)·kW + j of a column holds channel c at kernel offset (i, j). Padding reads 0.
 * Linear; its VJP is {@link fold}.
 */
export function unfold(x: Tensor, options: UnfoldOptions): Tensor {
  assertTensor('unfold', x);
  imageShape('unfold', x);
  const g = geometry('unfold', x.shape, windowOf('unfold', options ?? {}), fmt(x.shape));
  return unfoldWith(x, g, 0);
}

/** Options of {@link fold}, PyTorch's `F.fold`. */
export interface FoldOptions extends UnfoldOptions {
  /** The image's [H, W] (or one number for both). */
  outputSize: Size2;
}

/**
 * col2im, PyTorch's `F.fold`: the adjoint of {@link unfold}. Columns [N, C·kH·kW, L] are
 * added back into an image [N, C, H, W] of `outputSize`: each entry lands on the pixel
 * unfold read it from, overlapping windows add up, and entries in the padding are dropped.
 * L must be the number of windows that `unfold` gives for that image.
 */
export function fold(cols: Tensor, options: FoldOptions): Tensor {
  assertTensor('fold', cols);
  if (cols.rank !== 3) throw new ShapeError('fold', `expects columns [N, C·kH·kW, L], got ${fmt(cols.shape)}`);
  const [H, W] = pair('fold', 'outputSize', options?.outputSize, NaN, 1);
  const win = windowOf('fold', options);
  const [N, rows, L] = cols.shape;
  const perChannel = win.kH * win.kW;
  if (rows % perChannel !== 0) throw new ShapeError('fold', `${rows} rows are not a whole number of ${win.kH}×${win.kW} kernels: ${fmt(cols.shape)}`);
  const g = geometry('fold', [N, rows / perChannel, H, W], win, `${fmt(cols.shape)} into ${H}×${W}`);
  if (g.outH * g.outW !== L) {
    throw new ShapeError('fold', `an image ${H}×${W} has ${g.outH}×${g.outW} = ${g.outH * g.outW} windows, but the columns hold ${L}: ${fmt(cols.shape)}`);
  }
  return foldWith(cols, g);
}

// ---- convolutions ----------------------------------------------------------------------

/** Options of {@link conv2d} (PyTorch's F.conv2d's). */
export interface Conv2dOptions {
  /** Shape [O], added to every output channel (PyTorch's bias). Default none. */
  bias?: Tensor;
  /** Default 1. */
  stride?: Size2;
  /** Default 0. 'valid' is 0; 'same' keeps H×W (stride 1), the odd pixel at the bottom/right. */
  padding?: Padding2;
  /** Default 1. */
  dilation?: Size2;
  /** Default 1: split channels into this many groups, each convolved with its own O/groups kernels. */
  groups?: number;
}

function groupsOf(op: string, groups: number | undefined): number {
  const g = groups ?? 1;
  if (typeof g !== 'number' || !Number.isInteger(g) || g < 1) throw new ValueError(op, `groups must be a positive integer, got ${String(groups)}`);
  return g;
}

/**
 * The 2-D convolution behind conv2d and conv1d. Without groups: the batch's columns as one
 * matrix [C·kH·kW, N·L] (unfold's batched layout), one product W·cols = [O, N·L] for the
 * whole batch, the bias added down its rows, and the result brought to [N, O, L] by one
 * transpose. The gradients are one product each too: dW = dY·colsᵀ sums over the batch
 * inside the product (k = N·L), dcols = Wᵀ·dY, and the bias's is a row sum — where the
 * per-image layout would form N products and then sum N kernel gradients. With groups (and
 * for a 1×1 kernel that reads the image as it is): one batched matmul of each group's
 * kernels [O/G, (C/G)·kH·kW] with that group's columns [(C/G)·kH·kW, L].
 */
function convolve(op: string, x: Tensor, w: Tensor, options: Conv2dOptions, shapes: string): Tensor {
  const G = groupsOf(op, options.groups);
  const [N, C] = x.shape;
  const [O, perGroup, kH, kW] = w.shape;
  if (C !== perGroup * G) throw new ShapeError(op, `input has ${C} channels but the weight expects ${perGroup * G} (groups ${G}): ${shapes}`);
  if (O % G !== 0) throw new ShapeError(op, `${O} output channels are not divisible by groups ${G}: ${shapes}`);
  if (kH === 0 || kW === 0) throw new ShapeError(op, `the kernel must not be empty: ${shapes}`);
  const win = windowOf(op, { kernelSize: [kH, kW], stride: options.stride, dilation: options.dilation, padding: options.padding });
  const g = geometry(op, x.shape, win, shapes);
  const L = g.outH * g.outW;
  const K = perGroup * kH * kW;
  // a 1×1 kernel with stride 1 and no padding reads each pixel once: the image is its own columns
  const pointwise = kH === 1 && kW === 1 && g.strideH === 1 && g.strideW === 1 && g.padH === 0 && g.padW === 0 && L === g.H * g.W;
  const { bias } = options;
  if (bias !== undefined) {
    assertTensor(op, bias, 2);
    if (bias.rank !== 1 || bias.shape[0] !== O) throw new ShapeError(op, `bias ${fmt(bias.shape)} must be [${O}], one per output channel: ${shapes}`);
  }
  if (G === 1 && !pointwise) {
    const rows = matmul(reshape(w, [O, K]), unfoldWith(x, g, 0, true));
    const biased = bias === undefined ? rows : add(rows, reshape(bias, [O, 1]));
    return apply(channelsToImagesOp, [biased], { N, O, outH: g.outH, outW: g.outW });
  }
  const cols = pointwise ? reshape(x, [N, C, L]) : unfoldWith(x, g, 0);
  const y = G === 1
    ? matmul(reshape(w, [O, K]), cols)
    : matmul(reshape(w, [G, O / G, K]), reshape(cols, [N, G, K, L]));
  const image = reshape(y, [N, O, g.outH, g.outW]);
  return bias === undefined ? image : add(image, reshape(bias, [O, 1, 1]));
}

/**
 * 2-D convolution (cross-correlation, as in PyTorch): x [N, C, H, W], w [O, C/groups, kH, kW]
 * → [N, O, outH, outW], outH = ⌊(H + 2·padH − dilationH·(kH − 1) − 1) / strideH⌋ + 1,
 * plus `bias` [O] on each output channel if given (PyTorch's F.conv2d bias; cheaper than
 * adding a [O, 1, 1] tensor afterwards: it is added inside the convolution's product layout).
 * Computed as unfold(x) followed by a matmul, so it differentiates to any order in x, w and
 * the bias.
 *
 * ```ts
 * const y = conv2d(x, w, { stride: 2, padding: 1 });          // [N, O, H/2, W/2] for a 3×3 kernel
 * const z = conv2d(x, w, { padding: 'same', groups: 2 });     // w: [O, C/2, kH, kW]
 * const b = conv2d(x, w, { padding: 1, bias });               // bias: [O]
 * ```
 */
export function conv2d(x: Tensor, w: Tensor, options: Conv2dOptions = {}): Tensor {
  assertTensor('conv2d', x, 0);
  assertTensor('conv2d', w, 1);
  const shapes = `${fmt(x.shape)} * ${fmt(w.shape)}`;
  if (x.rank !== 4 || w.rank !== 4) throw new ShapeError('conv2d', `expects an input [N, C, H, W] and a weight [O, C/groups, kH, kW], got ${shapes}`);
  return convolve('conv2d', x, w, options ?? {}, shapes);
}

/** Options of {@link conv1d}: as conv2d's, with one number per option. */
export interface Conv1dOptions {
  /** Default 1. */
  stride?: number;
  /** Default 0; 'valid' is 0, 'same' keeps the length (stride 1), the odd element at the end. */
  padding?: number | 'valid' | 'same';
  /** Default 1. */
  dilation?: number;
  /** Default 1. */
  groups?: number;
}

/**
 * 1-D convolution (cross-correlation, as in PyTorch): x [N, C, L], w [O, C/groups, k] →
 * [N, O, outL]; conv2d on images of height 1.
 */
export function conv1d(x: Tensor, w: Tensor, options: Conv1dOptions = {}): Tensor {
  assertTensor('conv1d', x, 0);
  assertTensor('conv1d', w, 1);
  const shapes = `${fmt(x.shape)} * ${fmt(w.shape)}`;
  if (x.rank !== 3 || w.rank !== 3) throw new ShapeError('conv1d', `expects an input [N, C, L] and a weight [O, C/groups, k], got ${shapes}`);
  const { stride = 1, padding = 0, dilation = 1, groups } = options ?? {};
  // the height axis has size 1: stride and dilation 1 there, no padding. The length's value
  // is checked here: conv2d's check would show the user the [height, length] pair, e.g. [1,0]
  const along = (name: string, v: unknown, height: number, min: number): [number, number] => {
    if (typeof v !== 'number') throw new ValueError('conv1d', `${name} must be a number, got ${Array.isArray(v) ? `[${v.join(',')}]` : String(v)}`);
    if (!Number.isInteger(v) || v < min) throw new ValueError('conv1d', `${name} must be a ${min === 1 ? 'positive' : 'non-negative'} integer, got ${v}`);
    return [height, v];
  };
  const padding2: Padding2 = padding === 'same' || padding === 'valid' ? padding : along('padding', padding, 0, 0);
  const [N, C, L] = x.shape, [O, perGroup, k] = w.shape;
  const y = convolve('conv1d', reshape(x, [N, C, 1, L]), reshape(w, [O, perGroup, 1, k]),
    { stride: along('stride', stride, 1, 1), dilation: along('dilation', dilation, 1, 1), padding: padding2, groups }, shapes);
  return reshape(y, [N, O, y.shape[3]]);
}

/** Options of {@link convTranspose2d} (PyTorch's, without bias). */
export interface ConvTranspose2dOptions {
  /** Default 1. */
  stride?: Size2;
  /** Default 0: the rows and columns cropped from each border of the full output. */
  padding?: Size2;
  /** Default 0: added to the bottom/right of the output; smaller than the stride or the dilation. */
  outputPadding?: Size2;
  /** Default 1. */
  dilation?: Size2;
  /** Default 1. */
  groups?: number;
}

/**
 * Transposed 2-D convolution (PyTorch's `conv_transpose2d`, the gradient of conv2d with
 * respect to its input): x [N, C_in, H, W], w [C_in, C_out/groups, kH, kW] → [N, C_out,
 * outH, outW], outH = (H − 1)·strideH − 2·padH + dilationH·(kH − 1) + outputPaddingH + 1.
 * Computed as fold(Wᵀ·x), so it differentiates to any order.
 */
export function convTranspose2d(x: Tensor, w: Tensor, options: ConvTranspose2dOptions = {}): Tensor {
  const op = 'convTranspose2d';
  assertTensor(op, x, 0);
  assertTensor(op, w, 1);
  const shapes = `${fmt(x.shape)} * ${fmt(w.shape)}`;
  if (x.rank !== 4 || w.rank !== 4) throw new ShapeError(op, `expects an input [N, C_in, H, W] and a weight [C_in, C_out/groups, kH, kW], got ${shapes}`);
  const opts = options ?? {};
  const G = groupsOf(op, opts.groups);
  const [N, C, H, W] = x.shape;
  const [inChannels, outPerGroup, kH, kW] = w.shape;
  if (C !== inChannels) throw new ShapeError(op, `input has ${C} channels but the weight expects ${inChannels}: ${shapes}`);
  if (C % G !== 0) throw new ShapeError(op, `${C} input channels are not divisible by groups ${G}: ${shapes}`);
  if (kH === 0 || kW === 0) throw new ShapeError(op, `the kernel must not be empty: ${shapes}`);
  const [strideH, strideW] = pair(op, 'stride', opts.stride, 1, 1);
  const [padH, padW] = pair(op, 'padding', opts.padding, 0, 0);
  const [extraH, extraW] = pair(op, 'outputPadding', opts.outputPadding, 0, 0);
  const [dilationH, dilationW] = pair(op, 'dilation', opts.dilation, 1, 1);
  if ((extraH >= strideH && extraH >= dilationH) || (extraW >= strideW && extraW >= dilationW)) {
    throw new ValueError(op, `outputPadding [${extraH},${extraW}] must be smaller than the stride [${strideH},${strideW}] or the dilation [${dilationH},${dilationW}]`);
  }
  const outH = (H - 1) * strideH - 2 * padH + dilationH * (kH - 1) + extraH + 1;
  const outW = (W - 1) * strideW - 2 * padW + dilationW * (kW - 1) + extraW + 1;
  if (outH < 1 || outW < 1) throw new ShapeError(op, `the padding [${padH},${padW}] leaves an empty output (${outH}×${outW}): ${shapes}`);
  const Cout = outPerGroup * G, K = outPerGroup * kH * kW, L = H * W;
  // the output's geometry as conv2d would see it: its windows are the input's pixels
  const g: ConvGeometry = { N, C: Cout, H: outH, W: outW, kH, kW, strideH, strideW, padH, padW, dilationH, dilationW, outH: H, outW: W };
  const cols = G === 1
    ? matmulT(reshape(w, [C, K]), reshape(x, [N, C, L]), true, false)
    : reshape(matmulT(reshape(w, [G, C / G, K]), reshape(x, [N, G, C / G, L]), true, false), [N, G * K, L]);
  return foldWith(cols, g);
}
