import type { TypedArray } from '../dtype.js';

/**
 * The indexing kernels (take and its adjoint). x is seen as [outer, axisSize, inner]; each
 * index selects one [inner] run, which is contiguous, so an embedding lookup (x [vocab, dim],
 * axis 0: outer = 1, inner = dim) is one row copy per index.
 */

/**
 * Below this run length a plain loop beats `out.set(x.subarray(…))`, whose cost is the
 * subarray object rather than the copy.
 */
const COPY_WITH_SET_FROM = 32;

export function gather(x: TypedArray, outer: number, axisSize: number, inner: number, indices: Int32Array, out: TypedArray): void {
  const n = indices.length;
  let io = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * axisSize * inner;
    if (inner >= COPY_WITH_SET_FROM) {
      for (let j = 0; j < n; j++, io += inner) {
        const from = base + indices[j] * inner;
        out.set(x.subarray(from, from + inner), io);
      }
    } else if (inner === 1) {
      for (let j = 0; j < n; j++) out[io++] = x[base + indices[j]];
    } else {
      for (let j = 0; j < n; j++) {
        for (let ix = base + indices[j] * inner, end = ix + inner; ix < end; ix++) out[io++] = x[ix];
      }
    }
  }
}

export function scatterAdd(dy: TypedArray, outer: number, axisSize: number, inner: number, indices: Int32Array, out: TypedArray): void {
  const n = indices.length;
  let id = 0;
  for (let o = 0; o < outer; o++) {
    const base = o * axisSize * inner;
    if (inner === 1) {
      for (let j = 0; j < n; j++) out[base + indices[j]] += dy[id++];
    } else {
      for (let j = 0; j < n; j++) {
        for (let io = base + indices[j] * inner, end = io + inner; io < end; io++) out[io] += dy[id++];
      }
    }
  }
}
