import type { TypedArray } from '../dtype.js';
import { type Shape, sizeOf, stridesOf } from '../shape.js';
import type { Backend, BinaryKernel, ReduceKernel, UnaryKernel } from './backend.js';

/**
 * The reference backend: plain TypeScript loops over typed arrays. It is the oracle the
 * faster backends are tested against, so clarity wins over cleverness, but it avoids the
 * needless costs: no closure per element, matmul in cache-friendly i-k-j order, and
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
  }
}

function sigmoid(z: number): number {
  // two branches keep exp's argument ≤ 0, so neither overflows for large |z|
  if (z >= 0) return 1 / (1 + Math.exp(-z));
  const e = Math.exp(z);
  return e / (1 + e);
}

export const jsBackend: Backend = {
  name: 'js',

  unary(kernel: UnaryKernel, x: TypedArray, out: TypedArray, scalar: number): void {
    const n = x.length;
    switch (kernel) {
      case 'neg': for (let i = 0; i < n; i++) out[i] = -x[i]; return;
      case 'exp': for (let i = 0; i < n; i++) out[i] = Math.exp(x[i]); return;
      case 'log': for (let i = 0; i < n; i++) out[i] = Math.log(x[i]); return;
      case 'sigmoid': for (let i = 0; i < n; i++) out[i] = sigmoid(x[i]); return;
      case 'relu': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? x[i] : 0; return;
      case 'tanh': for (let i = 0; i < n; i++) out[i] = Math.tanh(x[i]); return;
      case 'sqrt': for (let i = 0; i < n; i++) out[i] = Math.sqrt(x[i]); return;
      case 'abs': for (let i = 0; i < n; i++) out[i] = Math.abs(x[i]); return;
      case 'sign': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : x[i] < 0 ? -1 : 0; return;
      case 'step': for (let i = 0; i < n; i++) out[i] = x[i] > 0 ? 1 : 0; return;
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
    out.fill(0);
    // Strides let one i-k-j loop serve all four variants: the innermost loop walks a row of
    // B and a row of C contiguously whenever B is not transposed (the common case).
    const aRow = transposeA ? 1 : k, aCol = transposeA ? m : 1;
    const bRow = transposeB ? 1 : n, bCol = transposeB ? k : 1;
    if (!transposeB) {
      for (let i = 0; i < m; i++) {
        const cOff = i * n;
        for (let p = 0; p < k; p++) {
          const aip = a[i * aRow + p * aCol];
          const bOff = p * bRow;
          for (let j = 0; j < n; j++) out[cOff + j] += aip * b[bOff + j];
        }
      }
      return;
    }
    // A·Bᵀ: rows of A against rows of B, both contiguous when A is not transposed
    for (let i = 0; i < m; i++) {
      for (let j = 0; j < n; j++) {
        let acc = 0;
        const bOff = j * bCol;
        for (let p = 0; p < k; p++) acc += a[i * aRow + p * aCol] * b[bOff + p * bRow];
        out[i * n + j] = acc;
      }
    }
  },

  reduce(kernel: ReduceKernel, x, shape, axes, out): void {
    const keptShape = shape.map((d, i) => (axes.includes(i) ? 1 : d));
    const outStrides = broadcastStrides(keptShape, shape);
    const inStrides = stridesOf(shape);
    out.fill(kernel === 'sum' ? 0 : -Infinity);
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
          if (v > out[io] || v !== v) out[io] = v;
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

  pad(x, shape, begin, out, outShape): void {
    const strides = stridesOf(outShape);
    let start = 0;
    for (let i = 0; i < outShape.length; i++) start += begin[i] * strides[i];
    walkRows(shape, [strides], (offsets, ix, n) => {
      let io = start + offsets[0];
      for (let end = ix + n; ix < end; ix++, io++) out[io] = x[ix];
    });
  },
};
