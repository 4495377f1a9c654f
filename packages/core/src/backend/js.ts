import type { TypedArray } from '../dtype.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { BinaryKernel, CpuBackend, ReduceKernel, UnaryKernel } from './backend.js';
import { matmulEachBatch } from './batched.js';
import { erf, roundHalfEven } from './js-special.js';
import { gather, scatterAdd } from './js-indexing.js';
import { argReduce, cumsum } from './js-scan.js';
import { fold, maxPool, maxPoolGather, maxPoolScatter, unfold } from './js-conv.js';
import { type OperandLayout, OperandMode, binaryLayout, operandLayout } from './operands.js';

/**
 * The reference backend: plain TypeScript loops over typed arrays. It is the oracle the
 * faster backends are tested against, so clarity wins over cleverness, but it avoids the
 * needless costs: no closure per element, matmul in 4×4 register tiles, and
 * broadcasting walked one contiguous row at a time.
 */

/** Strides of `shape` (right-aligned to `outShape`) with 0 on broadcast axes. */
function broadcastStrides(shape: Shape, outShape: Shape): number[] {
  const rank = outShape.length;
  const padded = new Array<number>(rank - shape.length).fill(1).concat(shape);
  const strides = stridesOf(padded);
  for (let i = 0; i < rank; i++) if (padded[i] === 1 && outShape[i] !== 1) strides[i] = 0;
  return strides;
}

/**
 * Walks the output in row-major order, one innermost row at a time, tracking one offset per
 * operand (each with its own strides). `row` runs once per row, never once per element.
 */
function walkRows(
  outShape: Shape,
  operandStrides: number[][],
  row: (offsets: number[], outOffset: number, length: number, innerStrides: number[]) => void,
): void {
  const rank = outShape.length;
  const total = sizeOf(outShape);
  if (total === 0) return;
  const count = operandStrides.length;
  const offsets = new Array<number>(count).fill(0);
  if (rank === 0) {
    row(offsets, 0, 1, new Array<number>(count).fill(0));
    return;
  }
  const length = outShape[rank - 1];
  const inner = operandStrides.map((s) => s[rank - 1]);
  const index = new Array<number>(rank).fill(0);
  for (let outOffset = 0; outOffset < total; outOffset += length) {
    row(offsets, outOffset, length, inner);
    // advance the odometer over every axis but the last
    for (let axis = rank - 2; axis >= 0; axis--) {
      index[axis]++;
      for (let o = 0; o < count; o++) offsets[o] += operandStrides[o][axis];
      if (index[axis] < outShape[axis]) break;
      for (let o = 0; o < count; o++) offsets[o] -= operandStrides[o][axis] * outShape[axis];
      index[axis] = 0;
    }
  }
}

/**
 * How an operand of `shape` (size `size`) broadcasts over `outShape` seen as [rows, cols],
 * when it is one of the four patterns a bias or a reduction's gradient has: the whole
 * output (stride 1, a new row every `cols`), one value (stride 0), one row repeated (its
 * broadcast axes all before its kept axes: [1, n] or [n] over [m, n]) or one value per row
 * (kept axes first: [m, 1]). `rows` is the row count that view needs (-1: any). Undefined
 * for the other patterns, which take the general walk.
 */
interface View2D { rowStep: number; stride: number; rows: number }
const FULL_VIEW: View2D = { rowStep: -1, stride: 1, rows: -1 };
const SCALAR_VIEW: View2D = { rowStep: 0, stride: 0, rows: -1 };

function view2D(shape: Shape, size: number, outShape: Shape, outSize: number): View2D | undefined {
  const layout = operandLayout(shape, outShape, size, outSize);
  return layout === undefined ? undefined : viewOf(layout);
}

function viewOf(layout: OperandLayout): View2D {
  switch (layout.mode) {
    case OperandMode.full: return FULL_VIEW;
    case OperandMode.scalar: return SCALAR_VIEW;
    // a row: offset 0 every row, stride 1; a column: offset r, stride 0
    case OperandMode.row: return { rowStep: 0, stride: 1, rows: layout.rows };
    case OperandMode.column: return { rowStep: 1, stride: 0, rows: layout.rows };
  }
}

function binaryRow(kernel: BinaryKernel, a: TypedArray, ia: number, sa: number, b: TypedArray, ib: number, sb: number, out: TypedArray, io: number, n: number): void {
  const end = io + n;
  switch (kernel) {
    case 'add': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] + b[ib]; return;
    case 'sub': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] - b[ib]; return;
    case 'mul': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] * b[ib]; return;
    case 'div': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] / b[ib]; return;
    case 'greater': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] > b[ib] ? 1 : 0; return;
    case 'greaterEqual': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] >= b[ib] ? 1 : 0; return;
    case 'less': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] < b[ib] ? 1 : 0; return;
    case 'lessEqual': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] <= b[ib] ? 1 : 0; return;
    case 'equal': for (; io < end; io++, ia += sa, ib += sb) out[io] = a[ia] === b[ib] ? 1 : 0; return;
    case 'sigmoidGrad': case 'tanhGrad': case 'reluGrad': activationGradRow(kernel, a, ia, sa, b, ib, sb, out, io, n); return;
    // a on ties; a NaN b fails both tests and is picked, a NaN a is picked by a !== a
    case 'maximum': for (; io < end; io++, ia += sa, ib += sb) { const x = a[ia], y = b[ib]; out[io] = x >= y || x !== x ? x : y; } return;
    case 'minimum': for (; io < end; io++, ia += sa, ib += sb) { const x = a[ia], y = b[ib]; out[io] = x <= y || x !== x ? x : y; } return;
  }
}

/**
 * dy ⊙ f′ from f's output y (or relu's input x), in the order of operations of the mul/sub
 * kernels it replaces. float32 rounds each intermediate (Math.fround), as those kernels'
 * float32 outputs did, so the results stay bit-identical to the composed kernels in both
 * dtypes (and to the wasm backend's f32x4 arithmetic).
 */
function activationGradRow(kernel: 'sigmoidGrad' | 'tanhGrad' | 'reluGrad', y: TypedArray, iy: number, sy: number, dy: TypedArray, id: number, sd: number, out: TypedArray, io: number, n: number): void {
  const end = io + n;
  const f32 = out instanceof Float32Array;
  switch (kernel) {
    case 'sigmoidGrad':
      if (f32) for (; io < end; io++, iy += sy, id += sd) out[io] = dy[id] * Math.fround(y[iy] * Math.fround(1 - y[iy]));
      else for (; io < end; io++, iy += sy, id += sd) out[io] = dy[id] * (y[iy] * (1 - y[iy]));
      return;
    case 'tanhGrad':
      if (f32) for (; io < end; io++, iy += sy, id += sd) out[io] = dy[id] * Math.fround(1 - Math.fround(y[iy] * y[iy]));
      else for (; io < end; io++, iy += sy, id += sd) out[io] = dy[id] * (1 - y[iy] * y[iy]);
      return;
    case 'reluGrad':
      // a product with 0 or 1, not a select: dy = ±Inf or NaN at x ≤ 0 gives NaN, and
      // dy < 0 gives −0, exactly as mul(dy, step(x)) did
      for (; io < end; io++, iy += sy, id += sd) out[io] = dy[id] * (y[iy] > 0 ? 1 : 0);
      return;
  }
}

/**
 * log(1 + eˣ) = max(x, 0) + log1p(e^−|x|): exp's argument is never positive, so nothing
 * overflows at x = 1000, and log1p keeps the value's relative accuracy where it is tiny
 * (x = −30 gives 9.4·10⁻¹⁴, not log(1 + 9.4·10⁻¹⁴) rounded).
 */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function sigmoid(z: number): number {
  // two branches keep exp's argument ≤ 0, so neither overflows for large |z|
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

/**
 * C[i..i+4, j..j+4] = Σₚ A[i.., p]·B[p, j..], with the 16 sums held in locals (registers):
 * each loaded element of A and B feeds four multiply-adds instead of one, which is what
 * makes this ~4× faster than a plain i-k-j loop in V8. Sums run in double precision.
 */
function tile4x4(a: TypedArray, b: TypedArray, out: TypedArray, i: number, j: number, k: number, n: number, aRow: number, aCol: number, bRow: number, bCol: number): void {
  let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
  let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
  let ia = i * aRow, ib = j * bCol;
  for (let p = 0; p < k; p++, ia += aCol, ib += bRow) {
    const x0 = a[ia], x1 = a[ia + aRow], x2 = a[ia + 2 * aRow], x3 = a[ia + 3 * aRow];
    const y0 = b[ib], y1 = b[ib + bCol], y2 = b[ib + 2 * bCol], y3 = b[ib + 3 * bCol];
    c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2; c03 += x0 * y3;
    c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2; c13 += x1 * y3;
    c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2; c23 += x2 * y3;
    c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2; c33 += x3 * y3;
  }
  let o = i * n + j;
  out[o] = c00; out[o + 1] = c01; out[o + 2] = c02; out[o + 3] = c03; o += n;
  out[o] = c10; out[o + 1] = c11; out[o + 2] = c12; out[o + 3] = c13; o += n;
  out[o] = c20; out[o + 1] = c21; out[o + 2] = c22; out[o + 3] = c23; o += n;
  out[o] = c30; out[o + 1] = c31; out[o + 2] = c32; out[o + 3] = c33;
}

/**
 * C[i..i+4, j] and C[i, j..j+4] for the edges of the 4×4 tiles (n or m not a multiple of
 * 4: T3's n = 10, a batch of 10): each loaded element of B (resp. A) feeds four sums instead
 * of one, and each sum still adds its products in order of p, in double precision, so the
 * result is bit for bit what `dot` gives.
 */
function tile4x1(a: TypedArray, b: TypedArray, out: TypedArray, i: number, j: number, k: number, n: number, aRow: number, aCol: number, bRow: number, bCol: number): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  for (let p = 0, ia = i * aRow, ib = j * bCol; p < k; p++, ia += aCol, ib += bRow) {
    const y = b[ib];
    c0 += a[ia] * y; c1 += a[ia + aRow] * y; c2 += a[ia + 2 * aRow] * y; c3 += a[ia + 3 * aRow] * y;
  }
  const o = i * n + j;
  out[o] = c0; out[o + n] = c1; out[o + 2 * n] = c2; out[o + 3 * n] = c3;
}

function tile1x4(a: TypedArray, b: TypedArray, out: TypedArray, i: number, j: number, k: number, n: number, aRow: number, aCol: number, bRow: number, bCol: number): void {
  let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
  for (let p = 0, ia = i * aRow, ib = j * bCol; p < k; p++, ia += aCol, ib += bRow) {
    const x = a[ia];
    c0 += x * b[ib]; c1 += x * b[ib + bCol]; c2 += x * b[ib + 2 * bCol]; c3 += x * b[ib + 3 * bCol];
  }
  const o = i * n + j;
  out[o] = c0; out[o + 1] = c1; out[o + 2] = c2; out[o + 3] = c3;
}

/** One element of C, for the corner the tiles above do not cover. */
function dot(a: TypedArray, b: TypedArray, i: number, j: number, k: number, aRow: number, aCol: number, bRow: number, bCol: number): number {
  let acc = 0;
  for (let p = 0, ia = i * aRow, ib = j * bCol; p < k; p++, ia += aCol, ib += bRow) acc += a[ia] * b[ib];
  return acc;
}

/** The value a reduction starts from: nothing has been added, or compared, yet. */
function identityOf(kernel: ReduceKernel): number {
  return kernel === 'sum' ? 0 : kernel === 'max' ? -Infinity : Infinity;
}

/**
 * reduce() over one block of adjacent axes, the shape seen as [outer, mid, inner]: the
 * walk's additions in the walk's order, without its per-row closure and offset arrays.
 * Over trailing axes each innermost row is summed into a local, then added to the output
 * (rounded to its dtype), as the walk does; otherwise each element goes straight into its
 * output, in order along the reduced axes. False (nothing done) for other axis sets.
 */
function reduceContiguous(kernel: ReduceKernel, x: TypedArray, shape: Shape, axes: readonly number[], out: TypedArray): boolean {
  for (let i = 1; i < axes.length; i++) if (axes[i] !== axes[i - 1] + 1) return false;
  const first = axes[0], last = axes[axes.length - 1];
  let outer = 1, mid = 1, inner = 1;
  for (let i = 0; i < shape.length; i++) {
    if (i < first) outer *= shape[i];
    else if (i <= last) mid *= shape[i];
    else inner *= shape[i];
  }
  out.fill(identityOf(kernel));
  const sum = kernel === 'sum', max = kernel === 'max';
  if (inner === 1) {
    const rowLength = shape[shape.length - 1], rowsPerOutput = mid / rowLength;
    for (let o = 0, ix = 0; o < outer; o++) {
      for (let r = 0; r < rowsPerOutput; r++) {
        if (sum) {
          let acc = 0;
          for (let j = 0; j < rowLength; j++, ix++) acc += x[ix];
          out[o] += acc;
        } else {
          for (let j = 0; j < rowLength; j++, ix++) {
            const v = x[ix];
            if ((max ? v > out[o] : v < out[o]) || v !== v) out[o] = v; // NaN wins, as below
          }
        }
      }
    }
    return true;
  }
  let ix = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * inner, end = base + inner;
    for (let m = 0; m < mid; m++) {
      if (sum) for (let io = base; io < end; io++, ix++) out[io] += x[ix];
      else {
        for (let io = base; io < end; io++, ix++) {
          const v = x[ix];
          if ((max ? v > out[io] : v < out[io]) || v !== v) out[io] = v;
        }
      }
    }
  }
  return true;
}

/** The reference backend: every kernel in plain TypeScript, exact in float64; what faster backends fall back on and are tested against. */
export const jsBackend: CpuBackend = {
  name: 'js',

  unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void {
    const n = x.length;
    switch (kernel) {
      case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return;
      case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); return;
      case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); return;
      case 'sigmoid': for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]); return;
      // !(x ≤ 0): x > 0 or NaN, which must show through (PyTorch's relu); −0 gives +0
      case 'relu': for (let i = 0; i < n; i++) out[i] = !(x[i] <= 0) ? x[i] : 0; return;
      case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); return;
      case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return;
      case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); return;
      case 'sign': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0; return;
      case 'step': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : 0; return;
      case 'softplus': for (let i = 0; i < n; i++) out[i] = softplus(x[i]); return;
      case 'log1p': for (let i = 0; i < n; i++) out[i] = Math.log1p(x[i]); return;
      case 'expm1': for (let i = 0; i < n; i++) out[i] = Math.expm1(x[i]); return;
      case 'erf': for (let i = 0; i < n; i++) out[i] = erf(x[i]); return;
      case 'sin': for (let i = 0; i < n; i++) out[i] = Math.sin(x[i]); return;
      case 'cos': for (let i = 0; i < n; i++) out[i] = Math.cos(x[i]); return;
      case 'floor': for (let i = 0; i < n; i++) out[i] = Math.floor(x[i]); return;
      case 'ceil': for (let i = 0; i < n; i++) out[i] = Math.ceil(x[i]); return;
      case 'round': for (let i = 0; i < n; i++) out[i] = roundHalfEven(x[i]); return;
      case 'isNaN': for (let i = 0; i < n; i++) out[i] = x[i] !== x[i] ? 1 : 0; return;
      case 'isFinite': for (let i = 0; i < n; i++) out[i] = Number.isFinite(x[i]) ? 1 : 0; return;
      case 'powScalar':
        if (scalar === 2) for (let i = 0; i < n; i++) out[i] = x[i] * x[i];
        else for (let i = 0; i < n; i++) out[i] = Math.pow(x[i], scalar);
        return;
    }
  },

  binary(kernel, a, aShape, b, bShape, out, outShape): void {
    if (a.length === out.length && b.length === out.length) {
      binaryRow(kernel, a, 0, 1, b, 0, 1, out, 0, out.length);
      return;
    }
    if (b.length === 1 && a.length === out.length) {
      binaryRow(kernel, a, 0, 1, b, 0, 0, out, 0, out.length);
      return;
    }
    // a bias ([m, n] with [m, 1] or [1, n]) and the like: one row at a time, no walk
    const layout = out.length > 0 ? binaryLayout(aShape, a.length, bShape, b.length, outShape, out.length) : undefined;
    if (layout) {
      const { rows, cols } = layout, va = viewOf(layout.left), vb = viewOf(layout.right);
      const stepA = va.rowStep < 0 ? cols : va.rowStep, stepB = vb.rowStep < 0 ? cols : vb.rowStep;
      for (let r = 0; r < rows; r++) binaryRow(kernel, a, r * stepA, va.stride, b, r * stepB, vb.stride, out, r * cols, cols);
      return;
    }
    const strides = [broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)];
    walkRows(outShape, strides, (offsets, io, n, inner) => {
      binaryRow(kernel, a, offsets[0], inner[0], b, offsets[1], inner[1], out, io, n);
    });
  },

  where(cond, condShape, a, aShape, b, bShape, out, outShape): void {
    const strides = [broadcastStrides(condShape, outShape), broadcastStrides(aShape, outShape), broadcastStrides(bShape, outShape)];
    walkRows(outShape, strides, (offsets, io, n, inner) => {
      let ic = offsets[0], ia = offsets[1], ib = offsets[2];
      const [sc, sa, sb] = inner;
      for (let end = io + n; io < end; io++, ic += sc, ia += sa, ib += sb) out[io] = cond[ic] !== 0 ? a[ia] : b[ib];
    });
  },

  matmul(a, b, out, m, k, n, transposeA, transposeB): void {
    // Strides let one kernel serve all four variants: A[i,p] = a[i·aRow + p·aCol] and
    // B[p,j] = b[p·bRow + j·bCol], so backprop's A·Bᵀ and Aᵀ·B never copy a transpose.
    const aRow = transposeA ? 1 : k, aCol = transposeA ? m : 1;
    const bRow = transposeB ? 1 : n, bCol = transposeB ? k : 1;
    const m4 = m - (m % 4), n4 = n - (n % 4);
    for (let i = 0; i < m4; i += 4) {
      for (let j = 0; j < n4; j += 4) tile4x4(a, b, out, i, j, k, n, aRow, aCol, bRow, bCol);
      for (let j = n4; j < n; j++) tile4x1(a, b, out, i, j, k, n, aRow, aCol, bRow, bCol);
    }
    for (let i = m4; i < m; i++) {
      for (let j = 0; j < n4; j += 4) tile1x4(a, b, out, i, j, k, n, aRow, aCol, bRow, bCol);
      for (let j = n4; j < n; j++) out[i * n + j] = dot(a, b, i, j, k, aRow, aCol, bRow, bCol);
    }
  },

  matmulBatched(a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets): void {
    matmulEachBatch(jsBackend.matmul, a, b, out, m, k, n, transposeA, transposeB, aOffsets, bOffsets);
  },

  // convolution (js-conv.ts)
  unfold,
  fold,
  maxPool,
  maxPoolScatter,
  maxPoolGather,

  reduce(kernel: ReduceKernel, x, shape, axes, out): void {
    if (axes.length > 0 && x.length > 0 && reduceContiguous(kernel, x, shape, axes, out)) return;
    const keptShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const outStrides = broadcastStrides(keptShape, shape);
    const inStrides = stridesOf(shape);
    out.fill(identityOf(kernel));
    const max = kernel === 'max';
    walkRows(shape, [inStrides, outStrides], (offsets, _io, n, inner) => {
      let ix = offsets[0], io = offsets[1];
      const so = inner[1];
      if (kernel === 'sum') {
        if (so === 0) {
          let acc = 0;
          for (let i = 0; i < n; i++, ix++) acc += x[ix];
          out[io] += acc;
        } else for (let i = 0; i < n; i++, ix++, io += so) out[io] += x[ix];
      } else {
        for (let i = 0; i < n; i++, ix++, io += so) {
          const v = x[ix];
          // NaN must win, as in NumPy: a max that hides a NaN hides a bug
          if ((max ? v > out[io] : v < out[io]) || v !== v) out[io] = v;
        }
      }
    });
  },

  transpose(x, shape, perm, out): void {
    const inStrides = stridesOf(shape);
    const outShape = perm.map((p) => shape[p]);
    const permuted = perm.map((p) => inStrides[p]);
    walkRows(outShape, [permuted], (offsets, io, n, inner) => {
      let ix = offsets[0];
      const s = inner[0];
      for (let end = io + n; io < end; io++, ix += s) out[io] = x[ix];
    });
  },

  broadcastTo(x, shape, out, outShape): void {
    // the patterns a sum's or mean's gradient takes (a scalar, a row, a column): no walk
    const v = view2D(shape, x.length, outShape, out.length);
    if (v && out.length > 0) {
      if (v === FULL_VIEW) out.set(x);
      else if (v === SCALAR_VIEW) out.fill(x[0]);
      else {
        const cols = out.length / v.rows;
        if (v.stride === 1) for (let r = 0; r < v.rows; r++) out.set(x, r * cols);
        else for (let r = 0; r < v.rows; r++) out.fill(x[r], r * cols, (r + 1) * cols);
      }
      return;
    }
    const strides = [broadcastStrides(shape, outShape)];
    walkRows(outShape, strides, (offsets, io, n, inner) => {
      let ix = offsets[0];
      const s = inner[0];
      for (let end = io + n; io < end; io++, ix += s) out[io] = x[ix];
    });
  },

  slice(x, shape, begin, out, outShape): void {
    const strides = stridesOf(shape);
    let start = 0;
    for (let i = 0; i < shape.length; i++) start += begin[i] * strides[i];
    walkRows(outShape, [strides], (offsets, io, n) => {
      let ix = start + offsets[0];
      for (let end = io + n; io < end; io++, ix++) out[io] = x[ix];
    });
  },

  subScaled(y, x, s, out): void {
    const n = out.length;
    if (out instanceof Float32Array) {
      // float32: round s, and s·x, as the mul kernel's float32 scalar and output would
      const a = Math.fround(s);
      for (let i = 0; i < n; i++) out[i] = y[i] - Math.fround(a * x[i]);
    } else for (let i = 0; i < n; i++) out[i] = y[i] - s * x[i];
  },

  pad(x, shape, begin, out, outShape): void {
    const strides = stridesOf(outShape);
    let start = 0;
    for (let i = 0; i < outShape.length; i++) start += begin[i] * strides[i];
    walkRows(shape, [strides], (offsets, ix, n) => {
      let io = start + offsets[0];
      for (let end = ix + n; ix < end; ix++, io++) out[io] = x[ix];
    });
  },

  gather,
  scatterAdd,
  cumsum,
  argReduce,
};
